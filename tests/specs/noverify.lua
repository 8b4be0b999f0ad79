-- Test spec: a template without kg_verify is refused (tests/test_contract.c).
return kernel "noverify" {
  template = "noverify.c",
  params = { old_abi = values { 0 } },
  problems = { problem "p" { n = 4096 } },
}
