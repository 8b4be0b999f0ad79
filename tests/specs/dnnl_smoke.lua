-- dnnl_smoke.lua: templates/kg_dnnl.h in a JIT-compiled template (tests/test_dnnl.c): kg_run is
-- oneDNN's matmul Y = act(X W^T + b) with the activation as an eltwise post-op; kg_verify checks
-- it against a double-precision reference.  No tunables.
return kernel "dnnl_smoke" {
  template = "dnnl_smoke.c",
  params = { v = values { 0 } },
  problems = { problem "relu" { m = 7, k = 33, n = 19, act = 1 } },
  baselines = { "onednn" },
}
