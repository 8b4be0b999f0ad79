-- Test spec: a template that does not declare its harness ABI is refused (tests/test_contract.c).
return kernel "noabi" {
  template = "noabi.c",
  params = { old_abi = values { 0 } },
  problems = { problem "p" { n = 4096 } },
  verify = false,
  verify_reason = "a test template that computes nothing checkable",
}
