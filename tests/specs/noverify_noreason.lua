-- Test spec: verify = false without a reason is a spec error.
return kernel "noverify_noreason" {
  template = "noverify.c",
  params = { old_abi = values { 0 } },
  problems = { problem "p" { n = 4096 } },
  verify = false,
}
