-- Test spec: variants that try to fool the harness (tests/test_isolation.c).  ok computes
-- y = 2x + y; shrink is right once, then shrinks the problem in the shared state; loosen is right
-- but widens the tolerance kept in the state; sloppy is wrong by 0.5 (within a widened
-- tolerance); forkcrash forks a child that sleeps (holding every pipe) and then crashes;
-- heap damages the heap metadata of a block the state owns, then computes right.  (hog, in
-- hostile_hog.lua, allocates and touches 1 GB on each call.)
return kernel "hostile" {
  template = "hostile.c",
  params = { mode = enum { "ok", "shrink", "loosen", "sloppy", "forkcrash", "heap" } },
  problems = { problem "p" { n = 65536 } },
  metrics = { bytes = function(d) return 12 * d.n end },
  tolerance = { rtol = 1e-6, atol = 1e-6 },
  baselines = { "plain" },
}
