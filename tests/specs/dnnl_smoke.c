/* dnnl_smoke.c - kg_dnnl.h in a template (tests/test_dnnl.c): Y[m, n] = act(X[m, k] W[n, k]^T +
 * b[n]) by oneDNN's matmul with an eltwise post-op, checked against a double-precision loop. */
#include "../../templates/kg_dnnl.h"
#include "../../templates/kg_util.h"

typedef struct smoke {
  int64_t m, k, n;
  int act;
  float *x, *w, *b, *y;
  kg_dnnl dnnl;
  kg_dnnl_prim mm;
} smoke;

void *kg_create(const kg_problem *p) {
  int64_t m = kg_dim(p, "m", 0), k = kg_dim(p, "k", 0), n = kg_dim(p, "n", 0), act = kg_dim(p, "act", 0);
  if (m < 1 || k < 1 || n < 1 || !kg_act_name(act)) return NULL;
  smoke *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->m = m, s->k = k, s->n = n, s->act = (int)act;
  s->x = malloc((size_t)(m * k) * sizeof(float));
  s->w = malloc((size_t)(n * k) * sizeof(float));
  s->b = malloc((size_t)n * sizeof(float));
  s->y = malloc((size_t)(m * n) * sizeof(float));
  if (!s->x || !s->w || !s->b || !s->y) {
    free(s->x), free(s->w), free(s->b), free(s->y), free(s);
    return NULL;
  }
  uint64_t seed = p->seed;
  kg_fill_float(s->x, (size_t)(m * k), &seed);
  kg_fill_float(s->w, (size_t)(n * k), &seed);
  kg_fill_float(s->b, (size_t)n, &seed);
  return s;
}

void kg_run(void *state) {
  smoke *s = state;
  kg_dnnl *d = &s->dnnl;
  if (!s->mm.p) {
    kg_dnnl_init(d);
    dnnl_memory_desc_t x_md, w_md, b_md, y_md;
    KG_DNNL(d, memory_desc_init_by_tag, &x_md, 2, (dnnl_dims_t){s->m, s->k}, dnnl_f32, dnnl_ab);
    KG_DNNL(d, memory_desc_init_by_tag, &w_md, 2, (dnnl_dims_t){s->k, s->n}, dnnl_f32, dnnl_ba); /* W^T of W[n, k] */
    KG_DNNL(d, memory_desc_init_by_tag, &b_md, 2, (dnnl_dims_t){1, s->n}, dnnl_f32, dnnl_ab);
    KG_DNNL(d, memory_desc_init_by_tag, &y_md, 2, (dnnl_dims_t){s->m, s->n}, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t op;
    KG_DNNL(d, matmul_desc_init, &op, &x_md, &w_md, &b_md, &y_md);
    kg_dnnl_prim_make(d, &s->mm, &op, kg_dnnl_attr_act(d, s->act));
  }
  kg_dnnl_set_threads(1);
  kg_dnnl_prim_run(d, &s->mm, 4, (const int[]){DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST},
                   (void *const[]){s->x, s->w, s->b, s->y});
}

void kg_baseline_onednn(void *state) { kg_run(state); }

int kg_verify(void *state, char *msg, size_t cap) {
  smoke *s = state;
  memset(s->y, 0xff, (size_t)(s->m * s->n) * sizeof(float)); /* NaN: every element must be written */
  kg_run(s);
  for (int64_t i = 0; i < s->m; i++)
    for (int64_t j = 0; j < s->n; j++) {
      double acc = s->b[j], mag = fabs(s->b[j]);
      for (int64_t p = 0; p < s->k; p++) {
        acc += (double)s->x[i * s->k + p] * s->w[j * s->k + p];
        mag += fabs((double)s->x[i * s->k + p] * s->w[j * s->k + p]);
      }
      double ref = kg_act_ref(s->act, acc), got = s->y[i * s->n + j];
      double tol = 4 * (double)(s->k + 1) * 1.2e-7 * mag + 1e-5; /* k eps sum|x||w| + the activation's own */
      if (!(fabs(got - ref) <= tol)) {
        snprintf(msg, cap, "Y[%lld, %lld] = %.9g, expected %.9g (act %s)", (long long)i, (long long)j, got, ref,
                 kg_act_name(s->act));
        return 1;
      }
    }
  return 0;
}

void kg_destroy(void *state) {
  smoke *s = state;
  if (!s) return;
  if (s->mm.p) kg_dnnl_prim_free(&s->dnnl, &s->mm);
  kg_dnnl_fini(&s->dnnl);
  free(s->x), free(s->w), free(s->b), free(s->y), free(s);
}
