-- A template outside the spec's folder and the templates folders is refused.
return kernel "template_escape" {
  template = "../../../../../../../../etc/passwd",
  params = { a = values { 1 } },
  problems = { problem "p" { n = 1 } },
}
