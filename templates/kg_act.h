/*
 * kg_act.h - the activations of the fusion templates: codes (a problem dimension `act`), names,
 * a double-precision reference and a scalar float form.  Header-only (inlined by the expander).
 *
 * Definitions (PyTorch's, torch.nn.functional):
 *   none x;  relu max(x, 0);  gelu_tanh 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)));
 *   gelu_erf 0.5 x (1 + erf(x / sqrt 2));  silu x / (1 + e^-x);  sigmoid 1 / (1 + e^-x);
 *   leakyrelu x >= 0 ? x : 0.01 x (negative_slope 0.01);  relu6 min(max(x, 0), 6);
 *   hardswish x * relu6(x + 3) / 6.
 * oneDNN's eltwise post-ops for the same (kg_dnnl.h, kg_dnnl_append_act): relu, gelu_tanh,
 * gelu_erf, swish (alpha 1), logistic, relu (alpha 0.01), clip (0, 6), hardswish.
 */
#ifndef KG_ACT_H
#define KG_ACT_H

#include <math.h>
#include <stdint.h>

enum {
  KG_ACT_NONE = 0,
  KG_ACT_RELU = 1,
  KG_ACT_GELU_TANH = 2,
  KG_ACT_GELU_ERF = 3,
  KG_ACT_SILU = 4,
  KG_ACT_SIGMOID = 5,
  KG_ACT_LEAKYRELU = 6,
  KG_ACT_RELU6 = 7,
  KG_ACT_HARDSWISH = 8,
  KG_ACT_COUNT = 9
};

#define KG_ACT_LEAKY_SLOPE 0.01f

/** Name of activation code a ("relu"), or NULL when a is not a code. */
static inline const char *kg_act_name(int64_t a) {
  static const char *const names[KG_ACT_COUNT] = {"none", "relu",    "gelu_tanh", "gelu_erf", "silu",
                                                  "sigmoid", "leakyrelu", "relu6", "hardswish"};
  return a >= 0 && a < KG_ACT_COUNT ? names[a] : (const char *)0;
}

/** The activation in double precision (the references' oracle). */
static inline double kg_act_ref(int act, double x) {
  switch (act) {
  case KG_ACT_RELU: return x > 0 ? x : 0.0;
  case KG_ACT_GELU_TANH: return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
  case KG_ACT_GELU_ERF: return 0.5 * x * (1.0 + erf(x * 0.7071067811865476));
  case KG_ACT_SILU: return x / (1.0 + exp(-x));
  case KG_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
  case KG_ACT_LEAKYRELU: return x >= 0 ? x : (double)KG_ACT_LEAKY_SLOPE * x;
  case KG_ACT_RELU6: return x < 0 ? 0.0 : x > 6 ? 6.0 : x;
  case KG_ACT_HARDSWISH: {
    double r = x + 3.0;
    r = r < 0 ? 0.0 : r > 6 ? 6.0 : r;
    return x * r / 6.0;
  }
  default: return x;
  }
}

/** The activation in float with libm (the separate passes of the unfused baselines). */
static inline float kg_act_f(int act, float x) {
  switch (act) {
  case KG_ACT_RELU: return x > 0 ? x : 0.0f;
  case KG_ACT_GELU_TANH: return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
  case KG_ACT_GELU_ERF: return 0.5f * x * (1.0f + erff(x * 0.7071067812f));
  case KG_ACT_SILU: return x / (1.0f + expf(-x));
  case KG_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
  case KG_ACT_LEAKYRELU: return x >= 0 ? x : KG_ACT_LEAKY_SLOPE * x;
  case KG_ACT_RELU6: return x < 0 ? 0.0f : x > 6 ? 6.0f : x;
  case KG_ACT_HARDSWISH: {
    float r = x + 3.0f;
    r = r < 0 ? 0.0f : r > 6 ? 6.0f : r;
    return x * r / 6.0f;
  }
  default: return x;
  }
}

/** Largest |d act / dx| over the reals (error propagation in the verifiers' tolerances). */
static inline double kg_act_lipschitz(int act) {
  switch (act) {
  case KG_ACT_GELU_TANH:
  case KG_ACT_GELU_ERF: return 1.13;
  case KG_ACT_SILU: return 1.1;
  case KG_ACT_SIGMOID: return 0.25;
  case KG_ACT_HARDSWISH: return 1.5;
  default: return 1.0;
  }
}

#endif
