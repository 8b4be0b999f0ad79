-- Test spec: the same template, with verification declared off and why: measured, reported
-- unverified; the variant of another harness ABI is still refused (tests/test_contract.c).
return kernel "noverify_optout" {
  template = "noverify.c",
  params = { old_abi = values { 0, 1 } },
  problems = { problem "p" { n = 4096 } },
  verify = false,
  verify_reason = "a test template that computes nothing checkable",
}
