-- fusion_conv.lua - Conv2d + BatchNorm (+ ReLU) for inference, fused: BN folded into the
-- weights and bias at set-up, then one convolution with a fused bias (+ ReLU) epilogue; see
-- templates/fusion_conv.c.
--
-- Problem dimensions: b (batch), c -> k channels, h x w input, r x s filter, stride, pad,
-- relu (0: conv + BN, 1: conv + BN + ReLU).  Output ho x wo = (h + 2 pad - r) / stride + 1, ...
-- Problems: the seed's (B = 4, 128 -> 128, 28 x 28, 3 x 3, stride 1, pad 1, with and without
-- ReLU) and two ResNet-50 layers (a 1 x 1 256 -> 64 at 56 x 56, a 3 x 3 stride 2 128 -> 128 at
-- 56 x 56), batch 4.
--
-- Tunables:
--   layout  nhwc, the only one built (an NCHW variant is not: the harness converts the NCHW input
--           to NHWC at set-up, outside the timed region, as the onednn baseline reorders to its own).
--   algo    direct: register-blocked over output channels (NV vectors of 16 channels) and OWB
--           output pixels of one row, AVX-512 microkernels generated per width (AVX2: each vector
--           of 16 channels is two ymm halves);
--           im2col: a panel of ~96 output pixels' patches [pixels, r s c], then a GEMM with k
--           through gemm's microkernels (templates/gemm_ukr.h; MR = owb, NR = 16 nv) and the
--           fused epilogue.
--   nv, owb the register tile: owb pixels x 16 nv channels, nv * owb accumulators (at most 28 of
--           the 32 zmm registers; with AVX2 2 nv owb of the 16 ymm, at most 12).
--   cu      unroll of the input-channel loop.
--   kc      the reduction (r s c) in chunks of about kc elements, so that a chunk's weights (kc x 16 nv
--           floats) stay in L1 while every pixel block of a row group (direct) or panel (im2col)
--           uses them; partial sums accumulate in y, the epilogue runs with the last chunk.
--   threads OpenMP threads over (image, channel block, output row).
-- Baselines (same run): unfused (this variant's convolution on the raw weights, then a BN pass,
-- then a ReLU pass: the fusion's own effect), openblas_unfused (NCHW im2col + OpenBLAS sgemm,
-- then BN and ReLU passes), onednn (oneDNN 2.6 convolution forward, inference, on the folded
-- weights with bias and an eltwise ReLU post-op; its preferred blocked layouts, the input reordered
-- at set-up, outside the timed region, as ours); each with 1 and 2 threads.
local AVX512 = machine.isa.avx512f == true
local AVX2 = machine.isa.avx2 == true and machine.isa.fma == true
-- accumulator registers of an owb x 16 nv tile: one per 16 channels (zmm) or two (ymm halves)
local ACC_PER_VEC, MAX_ACC, MIN_ACC = 1, 28, 12   -- AVX-512: 28 of the 32 zmm, >= 12 hide the FMA latency
if not AVX512 then ACC_PER_VEC, MAX_ACC, MIN_ACC = 2, 12, 8 end   -- AVX2: 12 of the 16 ymm

-- pattern name of a problem: conv_bn or conv_bn_relu
local function pattern(d) return d.relu == 1 and "conv_bn_relu" or "conv_bn" end

local function out_hw(d)
  return (d.h + 2 * d.pad - d.r) // d.stride + 1, (d.w + 2 * d.pad - d.s) // d.stride + 1
end

local function conv_problem(name, b, c, k, h, w, r, stride, pad, relu)
  return problem(name) { b = b, c = c, k = k, h = h, w = w, r = r, s = r, stride = stride,
                         pad = pad, relu = relu }
end

-- the `fusion` table of the fusion contract (specs of issue 15): bytes_unfused counts what the
-- unfused sequence moves: the convolution (input, weights, output) then the BN pass (read and
-- write the output) and the ReLU pass (read and write it again).
local FUSION = {
  pattern = pattern,
  unfused = "unfused",
  bytes_unfused = function(d)
    local ho, wo = out_hw(d)
    local y = 4 * d.b * d.k * ho * wo
    local conv = 4 * (d.b * d.c * d.h * d.w + d.k * d.c * d.r * d.s) + y
    return conv + 2 * y + (d.relu == 1 and 2 * y or 0)
  end,
  quick = { "seed_b4_c128_k128_28x28_r3_relu" },
}

local BASELINES = { "unfused", "openblas_unfused", "onednn", "onednn_2t" }
local BASELINE_THREADS = { openblas_unfused = 1, onednn = 1, onednn_2t = 2 }

return kernel "fusion_conv" {
  description = "Conv2d + BatchNorm (+ ReLU), inference: BN folded into the weights and bias, "
    .. "one convolution with a fused bias/ReLU epilogue",
  template = "fusion_conv.c",
  params = {
    layout  = enum { "nhwc" },
    algo    = enum { "direct", "im2col" },
    nv      = values { 2, 4, 1 },               -- output-channel vectors of 16 per tile
    owb     = values { 14, 7, 6, 12, 4 },       -- output pixels per tile
    cu      = values { 4 },                     -- input-channel unroll
    kc      = values { 256, 0 },                -- reduction chunk (r s c elements; 0: all), L1-sized weights
    threads = values(thread_counts()),
  },
  constraints = {
    function(p) return AVX512 or AVX2 end,               -- the microkernels are AVX-512 or AVX2 + FMA
    function(p) return ACC_PER_VEC * p.nv * p.owb <= MAX_ACC end,   -- accumulators fit the registers
    function(p) return ACC_PER_VEC * p.nv * p.owb >= MIN_ACC end,   -- enough of them to hide FMA latency
  },
  problems = {
    conv_problem("seed_b4_c128_k128_28x28_r3_relu", 4, 128, 128, 28, 28, 3, 1, 1, 1),
    conv_problem("seed_b4_c128_k128_28x28_r3", 4, 128, 128, 28, 28, 3, 1, 1, 0),
    conv_problem("resnet_b4_c256_k64_56x56_r1_relu", 4, 256, 64, 56, 56, 1, 1, 0, 1),
    conv_problem("resnet_b4_c128_k128_56x56_r3_s2_relu", 4, 128, 128, 56, 56, 3, 2, 1, 1),
  },
  metrics = {
    flops = function(d)
      local ho, wo = out_hw(d)
      return 2 * d.b * d.k * ho * wo * d.c * d.r * d.s
    end,
    -- the fused kernel: input, folded weights and bias once, output once
    bytes = function(d)
      local ho, wo = out_hw(d)
      return 4 * (d.b * d.c * d.h * d.w + d.k * d.c * d.r * d.s + d.k + d.b * d.k * ho * wo)
    end,
  },
  tolerance = { rtol = 0, atol = 0 },   -- the template's own bound: (crs + 3) eps sum |x||w'| (kg_verify)
  reference = "double-precision unfused: convolution, then BN, then ReLU (templates/fusion_conv.c)",
  baselines = BASELINES,
  baseline_threads = BASELINE_THREADS,
  roles = { threads = "threads" },
  fusion = FUSION,
}
