-- include_slot.lua: a template whose included header has a Lua slot (tests/test_template.c):
-- the header's slot sees the variant's parameters and the globals an earlier slot of the
-- including file set (as templates/gemm_ukr.h's microkernels slot reads GEMM_UKR_EPILOGUE).
return kernel "include_slot" {
  template = "include_slot.c",
  params = { w = values { 2, 3 }, flag = values { 0, 1 } },
  problems = { problem "one" { n = 1 } },
}
