-- Test spec: a small space with variants that pass, fail to compile, crash or compute wrong
-- results, and a constraint that leaves configurations out (tests/test_replay.c: tune ->
-- export-cache -> replay round trip).
return kernel "replay_rt" {
  template = "variants.c",
  params = {
    mode = enum { "ok", "unrolled", "broken", "segv", "wrong" },
    pad = values { 0, 1, 2 },
  },
  constraints = { function(p) return not (p.mode == "unrolled" and p.pad == 2) end },
  problems = { problem "small" { n = 1024 } },
  tolerance = { rtol = 1e-6, atol = 1e-6 },
}
