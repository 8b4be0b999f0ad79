-- A template path that names a folder is refused (not read, not exit 1).
return kernel "template_dir" {
  template = ".",
  params = { a = values { 1 } },
  problems = { problem "p" { n = 1 } },
}
