/*
 * kg_dnnl.h - oneDNN (Debian's libdnnl 2.6, C API, v2 op-descriptor interface) as a baseline for
 * templates, header-only (inlined by the expander), in the manner of kg_blas.h.
 *
 * Nothing links against oneDNN: the library is dlopen'ed ("libdnnl.so.2") on a baseline's first
 * (warm-up) call and every entry point is a function pointer of the header's own type
 * (__typeof__(dnnl_xxx) *), so the JIT needs no symbol at link time and a machine without oneDNN
 * fails only the oneDNN baselines.  A failure (library missing, a call not dnnl_success) aborts
 * with a message on stderr: a baseline cannot return an error, and the harness records the abort
 * as that baseline's failure.
 *
 * Use (one kg_dnnl per template state, zeroed; kg_dnnl_fini in kg_destroy):
 *
 *   kg_dnnl *d = &s->dnnl;
 *   kg_dnnl_init(d);                           // load, resolve, CPU engine and stream (once)
 *   dnnl_memory_desc_t a_md;
 *   KG_DNNL(d, memory_desc_init_by_tag, &a_md, 2, (dnnl_dims_t){m, k}, dnnl_f32, dnnl_ab);
 *   ... dnnl_matmul_desc_t op; KG_DNNL(d, matmul_desc_init, &op, &a_md, &w_md, &b_md, &y_md);
 *   dnnl_primitive_attr_t attr = kg_dnnl_attr_act(d, KG_ACT_RELU);   // eltwise post-op (or NULL)
 *   kg_dnnl_prim_make(d, &s->mm, &op, attr);   // primitive descriptor + primitive
 *   kg_dnnl_prim_run(d, &s->mm, 4, (int[]){DNNL_ARG_SRC, ...}, (void *[]){a, ...});
 *
 * Threads: oneDNN's OpenMP runtime reads the calling thread's omp_get_max_threads();
 * kg_dnnl_set_threads sets it in every OpenMP runtime the process has (LLVM's and GNU's).
 * Activations: kg_act.h's codes; kg_dnnl_append_act maps them to eltwise post-ops.
 */
#ifndef KG_DNNL_H
#define KG_DNNL_H

#include "kg_act.h"

#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RTLD_DEFAULT
#define RTLD_DEFAULT ((void *)0)
#endif
#ifndef RTLD_NOLOAD
#define RTLD_NOLOAD 0x00004
#endif

/* The entry points the templates use (X-macro: declared, resolved and named from one list). */
#define KG_DNNL_FUNCS(X)                                                                                             \
  X(engine_create)                                                                                                   \
  X(engine_destroy)                                                                                                  \
  X(stream_create)                                                                                                   \
  X(stream_wait)                                                                                                     \
  X(stream_destroy)                                                                                                  \
  X(memory_desc_init_by_tag)                                                                                         \
  X(memory_desc_init_by_strides)                                                                                     \
  X(memory_desc_get_size)                                                                                            \
  X(memory_create)                                                                                                   \
  X(memory_set_data_handle)                                                                                          \
  X(memory_destroy)                                                                                                  \
  X(primitive_attr_create)                                                                                           \
  X(primitive_attr_destroy)                                                                                          \
  X(primitive_attr_set_post_ops)                                                                                     \
  X(post_ops_create)                                                                                                 \
  X(post_ops_destroy)                                                                                                \
  X(post_ops_append_eltwise)                                                                                         \
  X(post_ops_append_binary)                                                                                          \
  X(primitive_desc_create)                                                                                           \
  X(primitive_desc_query_md)                                                                                         \
  X(primitive_desc_destroy)                                                                                          \
  X(primitive_create)                                                                                                \
  X(primitive_execute)                                                                                               \
  X(primitive_destroy)                                                                                               \
  X(matmul_desc_init)                                                                                                \
  X(inner_product_forward_desc_init)                                                                                 \
  X(convolution_forward_desc_init)                                                                                   \
  X(eltwise_forward_desc_init)                                                                                       \
  X(softmax_forward_desc_init)                                                                                       \
  X(layer_normalization_forward_desc_init)                                                                           \
  X(batch_normalization_forward_desc_init)                                                                           \
  X(binary_desc_init)                                                                                                \
  X(reorder_primitive_desc_create)

/** The loaded library: entry points (all NULL until kg_dnnl_init), the CPU engine and stream. */
typedef struct kg_dnnl {
#define KG_DNNL_FIELD(f) __typeof__(dnnl_##f) *f;
  KG_DNNL_FUNCS(KG_DNNL_FIELD)
#undef KG_DNNL_FIELD
  void *lib;
  dnnl_engine_t engine;
  dnnl_stream_t stream;
} kg_dnnl;

/** Abort with a message naming the call when st is not dnnl_success. */
static inline void kg_dnnl_check(dnnl_status_t st, const char *what) {
  if (st == dnnl_success) return;
  fprintf(stderr, "kg_dnnl: %s failed: dnnl status %d\n", what, (int)st);
  abort();
}

/** Call dnnl_<f>(...) through d and abort (naming it) unless it succeeds. */
#define KG_DNNL(d, f, ...) kg_dnnl_check((d)->f(__VA_ARGS__), "dnnl_" #f)

/** Load libdnnl.so.2, resolve every entry point, create a CPU engine and an in-order stream.
 *  Idempotent (the first call does the work); aborts with a message on any failure. */
static inline void kg_dnnl_init(kg_dnnl *d) {
  if (d->stream) return;
  if (!d->lib) {
    d->lib = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!d->lib) {
      fprintf(stderr, "kg_dnnl: dlopen libdnnl.so.2: %s (install libdnnl-dev)\n", dlerror());
      abort();
    }
  }
#define KG_DNNL_RESOLVE(f)                                                                                           \
  if (!(d->f = (__typeof__(dnnl_##f) *)dlsym(d->lib, "dnnl_" #f))) {                                                 \
    fprintf(stderr, "kg_dnnl: libdnnl.so.2 lacks dnnl_" #f "\n");                                                    \
    abort();                                                                                                         \
  }
  KG_DNNL_FUNCS(KG_DNNL_RESOLVE)
#undef KG_DNNL_RESOLVE
  KG_DNNL(d, engine_create, &d->engine, dnnl_cpu, 0);
  KG_DNNL(d, stream_create, &d->stream, d->engine, dnnl_stream_default_flags);
}

/** Threads of the next oneDNN calls from this thread: omp_set_num_threads of every OpenMP
 *  runtime loaded (the process's and oneDNN's libgomp). */
static inline void kg_dnnl_set_threads(int n) {
  void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
  if (set) set(n);
  void *gomp = dlopen("libgomp.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (gomp) {
    void (*gset)(int) = (void (*)(int))dlsym(gomp, "omp_set_num_threads");
    if (gset && gset != set) gset(n);
    dlclose(gomp);
  }
}

/** Append activation `act` (kg_act.h) to post-ops po as an eltwise post-op (none: nothing). */
static inline void kg_dnnl_append_act(kg_dnnl *d, dnnl_post_ops_t po, int act) {
  dnnl_alg_kind_t alg;
  float alpha = 0.0f, beta = 0.0f;
  switch (act) {
  case KG_ACT_NONE: return;
  case KG_ACT_RELU: alg = dnnl_eltwise_relu; break;
  case KG_ACT_GELU_TANH: alg = dnnl_eltwise_gelu_tanh; break;
  case KG_ACT_GELU_ERF: alg = dnnl_eltwise_gelu_erf; break;
  case KG_ACT_SILU: alg = dnnl_eltwise_swish, alpha = 1.0f; break;
  case KG_ACT_SIGMOID: alg = dnnl_eltwise_logistic; break;
  case KG_ACT_LEAKYRELU: alg = dnnl_eltwise_relu, alpha = KG_ACT_LEAKY_SLOPE; break;
  case KG_ACT_RELU6: alg = dnnl_eltwise_clip, alpha = 0.0f, beta = 6.0f; break;
  case KG_ACT_HARDSWISH: alg = dnnl_eltwise_hardswish; break;
  default: fprintf(stderr, "kg_dnnl: unknown activation code %d\n", act); abort();
  }
  KG_DNNL(d, post_ops_append_eltwise, po, 1.0f, alg, alpha, beta);
}

/** A new attribute carrying activation `act` as its one post-op (caller destroys it with
 *  d->primitive_attr_destroy; kg_dnnl_prim_make does). */
static inline dnnl_primitive_attr_t kg_dnnl_attr_act(kg_dnnl *d, int act) {
  dnnl_primitive_attr_t attr;
  dnnl_post_ops_t po;
  KG_DNNL(d, primitive_attr_create, &attr);
  KG_DNNL(d, post_ops_create, &po);
  kg_dnnl_append_act(d, po, act);
  KG_DNNL(d, primitive_attr_set_post_ops, attr, po);
  KG_DNNL(d, post_ops_destroy, po);
  return attr;
}

/** A primitive, its descriptor, and the memory objects of its last run (reused while the
 *  buffers stay the same). */
typedef struct kg_dnnl_prim {
  dnnl_primitive_desc_t pd;
  dnnl_primitive_t p;
  int nargs;
  dnnl_exec_arg_t args[16];
  void *ptrs[16];
} kg_dnnl_prim;

/** Create pr's descriptor from op_desc (a dnnl_*_desc_t) and attr (may be NULL; destroyed
 *  here), then the primitive. */
static inline void kg_dnnl_prim_make(kg_dnnl *d, kg_dnnl_prim *pr, const void *op_desc, dnnl_primitive_attr_t attr) {
  KG_DNNL(d, primitive_desc_create, &pr->pd, op_desc, attr, d->engine, NULL);
  if (attr) KG_DNNL(d, primitive_attr_destroy, attr);
  KG_DNNL(d, primitive_create, &pr->p, pr->pd);
}

static inline void kg_dnnl_prim_drop_args(kg_dnnl *d, kg_dnnl_prim *pr) {
  for (int i = 0; i < pr->nargs; i++) d->memory_destroy(pr->args[i].memory);
  pr->nargs = 0;
}

/** Run pr on n (<= 16) arguments: ids[i] (DNNL_ARG_*) over plain buffers ptrs[i] laid out as
 *  the descriptor's md for that argument (queried), then wait for the stream.  The memory
 *  objects (handles over the caller's data) are made on the first run and kept while ids and
 *  ptrs stay the same. */
static inline void kg_dnnl_prim_run(kg_dnnl *d, kg_dnnl_prim *pr, int n, const int *ids, void *const *ptrs) {
  if (n > 16) {
    fprintf(stderr, "kg_dnnl: more than 16 arguments\n");
    abort();
  }
  int same = pr->nargs == n;
  for (int i = 0; same && i < n; i++) same = pr->args[i].arg == ids[i] && pr->ptrs[i] == ptrs[i];
  if (!same) {
    kg_dnnl_prim_drop_args(d, pr);
    for (int i = 0; i < n; i++) {
      const dnnl_memory_desc_t *md = d->primitive_desc_query_md(pr->pd, dnnl_query_exec_arg_md, ids[i]);
      if (!md || md->ndims == 0) {
        fprintf(stderr, "kg_dnnl: the primitive takes no argument %d\n", ids[i]);
        abort();
      }
      pr->args[i].arg = ids[i];
      pr->ptrs[i] = ptrs[i];
      KG_DNNL(d, memory_create, &pr->args[i].memory, md, d->engine, ptrs[i]);
      pr->nargs = i + 1;
    }
  }
  KG_DNNL(d, primitive_execute, pr->p, d->stream, n, pr->args);
  KG_DNNL(d, stream_wait, d->stream);
}

/** Destroy pr and its memory objects (NULL members are skipped). */
static inline void kg_dnnl_prim_free(kg_dnnl *d, kg_dnnl_prim *pr) {
  kg_dnnl_prim_drop_args(d, pr);
  if (pr->p) d->primitive_destroy(pr->p);
  if (pr->pd) d->primitive_desc_destroy(pr->pd);
  pr->p = NULL, pr->pd = NULL;
}

/** Release the stream and engine (the library stays loaded: its threads may be parked).
 *  A kg_dnnl never initialised is left alone. */
static inline void kg_dnnl_fini(kg_dnnl *d) {
  if (d->stream) d->stream_destroy(d->stream);
  if (d->engine) d->engine_destroy(d->engine);
  d->stream = NULL, d->engine = NULL;
}

#endif
