-- stream.lua - STREAM memory-bandwidth kernels (McCalpin): copy c = a, scale b = s*c,
-- add c = a + b, triad a = b + s*c, on float32 arrays.  Part of `kgen calibrate`.
--
-- Every operation is measured: `op` is a problem dimension (0 copy, 1 scale, 2 add, 3 triad),
-- never a tunable.  Sizes are the total bytes an operation touches, chosen to sit in one level
-- of the memory hierarchy: L1 (16 KB), L2 (512 KB), L3 (8 MB) and DRAM (128 MB = 4x the last-level
-- cache; assumes an LLC of at most 32 MB).  n is rounded down to a multiple of 128 floats.
--
-- `kgen calibrate` finds what it needs through `roles` (never by name): the vector width, unroll,
-- streaming-store and thread parameters, and the size, operation and passes dimensions; it
-- measures every operation the problems name (the part of a problem's name before '_', with the
-- bytes per element its `bytes` metric gives), at sizes of its own chosen from the caches.
--
-- An optional dimension `passes` (default 1) repeats the operation inside one call; `kgen
-- calibrate` sets it so that one call over a cache-sized array outlasts the OpenMP fork and join.
--
-- bytes counts what the kernel reads and writes (STREAM's convention: 8n for copy and scale,
-- 12n for add and triad), not the write-allocate traffic of ordinary stores; flops: copy 0,
-- scale n, add n, triad 2n.

-- Vector widths this machine has (floats): scalar, AVX2 (8), AVX-512 (16).
local VEC = { 1 }
if machine.isa.avx2 then VEC[#VEC + 1] = 8 end
if machine.isa.avx512f then VEC[#VEC + 1] = 16 end

local OPS = { "copy", "scale", "add", "triad" }       -- op code = position - 1
local ARRAYS = { copy = 2, scale = 2, add = 3, triad = 3 }
local FLOPS = { [0] = 0, 1, 1, 2 }
local LEVELS = { { "l1", 16 << 10 }, { "l2", 512 << 10 }, { "l3", 8 << 20 }, { "dram", 128 << 20 } }

-- One problem per (operation, level): a generator returning a list (flattened by the loader).
local function sizes(op)
  local list = {}
  for _, lv in ipairs(LEVELS) do
    local n = lv[2] // (4 * ARRAYS[OPS[op + 1]]) // 128 * 128
    list[#list + 1] = problem(OPS[op + 1] .. "_" .. lv[1]) { op = op, n = n }
  end
  return list
end

return kernel "stream" {
  description = "STREAM copy/scale/add/triad on float32 arrays (memory bandwidth)",
  template = "stream.c",
  params = {
    vec     = values(VEC),           -- floats per vector: scalar, AVX2 (8), AVX-512 (16)
    unroll  = pow2(1, 8),            -- vectors per loop iteration
    nt      = values { 0, 1 },       -- non-temporal (streaming) stores
    threads = values(thread_counts()),  -- OpenMP num_threads: 1, 2, 4, ..., cores
  },
  constraints = {
    -- streaming stores exist for whole vectors only
    function(p) return p.nt == 0 or p.vec >= 8 end,
  },
  problems = { sizes(0), sizes(1), sizes(2), sizes(3) },
  metrics = {
    bytes = function(d) return (d.op >= 2 and 12 or 8) * d.n * (d.passes or 1) end,
    flops = function(d) return FLOPS[d.op] * d.n * (d.passes or 1) end,
  },
  tolerance = { rtol = 1e-6, atol = 1e-6 },  -- triad may contract to an FMA
  reference = "scalar loops in templates/stream.c (stream_reference)",
  baselines = { "memcpy" },                   -- libc memcpy of n floats (c = a)
  baseline_threads = { memcpy = 1 },
  seed = 42,
  roles = { threads = "threads", vector = "vec", unroll = "unroll", streaming_stores = "nt",
            size = "n", op = "op", passes = "passes" },
}
