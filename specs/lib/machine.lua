-- machine.lua - helpers over the read-only `machine` table of the spec prelude.
--
-- `machine` (set by the loader, read-only) = { id = "...", cores = N (usable CPUs),
-- isa = { avx2 = true, avx512f = true, avx512_vnni = true, ... } (absent features are nil),
-- l1d = bytes, l2 = bytes, l3 = bytes (0 when unknown) }.

-- thread_counts(): {1, 2, 4, ..., cores}, the powers of two below the core count and the core
-- count itself (so a 6-core machine gets {1, 2, 4, 6}).
function thread_counts()
  local cores = machine.cores
  if math.type(cores) ~= "integer" or cores < 1 then cores = 1 end
  local out, t = {}, 1
  while t < cores do
    out[#out + 1] = t
    t = t * 2
  end
  out[#out + 1] = cores
  return out
end
