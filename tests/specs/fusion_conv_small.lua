-- fusion_conv_small.lua - templates/fusion_conv.c on small, awkward shapes for
-- tests/test_fusion_conv.c: channel counts off the 16-lane vectors and the unroll (k 20, 33, 17;
-- c 3, 5), widths off the pixel tile, rectangular filters, stride 2, pad 2, 1 x 1; both
-- algorithms, every channel-vector count, a pixel tile with remainders, one and two threads.
return kernel "fusion_conv_small" {
  template = "../../templates/fusion_conv.c",
  params = {
    layout  = enum { "nhwc" },
    algo    = enum { "direct", "im2col" },
    nv      = values { 2, 1, 4 },
    owb     = values { 4, 7 },
    cu      = values { 4, 3 },
    kc      = values { 0, 16 },
    threads = values { 1, 2 },
  },
  constraints = {
    -- a covering set (8 variants keep the test short): each algorithm with every channel-vector
    -- count, both pixel tiles, chunked and whole reductions, the unroll remainder, two threads
    function(p)
      local key = string.format("%s/%d/%d/%d/%d/%d", p.algo, p.nv, p.owb, p.cu, p.kc, p.threads)
      return ({ ["direct/2/4/4/0/1"] = true, ["direct/2/4/3/16/2"] = true, ["direct/1/7/4/16/1"] = true,
                ["direct/4/7/4/0/1"] = true, ["im2col/2/4/4/16/2"] = true, ["im2col/1/7/4/0/1"] = true,
                ["im2col/4/7/4/16/1"] = true, ["im2col/2/4/4/0/1"] = true })[key] == true
    end,
  },
  problems = {
    problem "b2_c5_k20_7x9_r3_relu" { b = 2, c = 5, k = 20, h = 7, w = 9, r = 3, s = 3, stride = 1, pad = 1, relu = 1 },
    problem "b1_c3_k33_8x6_r1" { b = 1, c = 3, k = 33, h = 8, w = 6, r = 1, s = 1, stride = 1, pad = 0, relu = 0 },
    problem "b2_c8_k16_9x9_r3_s2_relu" { b = 2, c = 8, k = 16, h = 9, w = 9, r = 3, s = 3, stride = 2, pad = 1, relu = 1 },
    problem "b1_c4_k17_5x7_r2x3" { b = 1, c = 4, k = 17, h = 5, w = 7, r = 2, s = 3, stride = 1, pad = 0, relu = 0 },
    problem "b1_c6_k64_6x11_r3_p2_relu" { b = 1, c = 6, k = 64, h = 6, w = 11, r = 3, s = 3, stride = 1, pad = 2, relu = 1 },
  },
  metrics = { flops = function(d) return 2 * d.b * d.k * d.c * d.r * d.s * d.h * d.w end },
  reference = "double-precision unfused: convolution, then BN, then ReLU",
  baselines = { "unfused", "openblas_unfused", "onednn", "onednn_2t" },
}
