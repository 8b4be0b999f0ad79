/* kg_roofline.c - the machine's roofline references (kg_roofline.h): a read-bandwidth pass and
 * fp32 / int8 / bf16 dot-product peak blocks, each in AVX-512 where the CPU has it (function
 * target attributes and __builtin_cpu_supports: this file builds without -march). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kg_roofline.h"

#include "kg_machine.h" /* kg_usable_cpus */
#include "kg_timer.h"   /* kg_now_ns */

#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Per-thread iterations of a peak block: 2^17 x 16 vector instructions, about half a
 * millisecond a core. */
#define KG_PEAK_ITERS (1L << 17)
#define KG_PEAK_ACC 16
/* Below this many bytes a memory reference runs on one thread. */
#define KG_ROOFLINE_MT_BYTES (256 * 1024)

static const char *const kg_bound_names[] = {"none", "memory", "fp32_fma", "int8_dot", "bf16_dot"};

kg_status kg_roofline_parse(const char *name, kg_roofline_bound *out, kg_ctx *ctx) {
  for (int b = KG_BOUND_MEMORY; b <= KG_BOUND_BF16_DOT; b++)
    if (name && !strcmp(name, kg_bound_names[b])) {
      *out = (kg_roofline_bound)b;
      return KG_OK;
    }
  return kg_ctx_set(ctx, KG_EINVAL, "unknown bound '%s' (expected memory, fp32_fma, int8_dot or bf16_dot)",
                    name ? name : "(null)");
}

const char *kg_roofline_name(kg_roofline_bound b) {
  return b >= KG_BOUND_NONE && b <= KG_BOUND_BF16_DOT ? kg_bound_names[b] : "none";
}

const char *kg_roofline_unit(kg_roofline_bound b) {
  return b == KG_BOUND_MEMORY ? "GB/s" : b == KG_BOUND_INT8_DOT ? "GOP/s" : "GFLOP/s";
}

static bool kg_has_avx512(void) { return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"); }
static bool kg_has_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
static bool kg_has_vnni(void) { return kg_has_avx512() && __builtin_cpu_supports("avx512vnni"); }
static bool kg_has_bf16(void) { return kg_has_avx512() && __builtin_cpu_supports("avx512bf16"); }

bool kg_roofline_supported(kg_roofline_bound b, char *why, size_t cap) {
  const char *missing = NULL;
  if (b == KG_BOUND_INT8_DOT && !kg_has_vnni()) missing = "AVX-512 VNNI";
  if (b == KG_BOUND_BF16_DOT && !kg_has_bf16()) missing = "AVX-512 BF16";
  if (b == KG_BOUND_NONE) missing = "a bound";
  if (missing && why)
    snprintf(why, cap, "the %s reference needs %s, which this CPU lacks", kg_roofline_name(b), missing);
  return missing == NULL;
}

const char *kg_roofline_isa(kg_roofline_bound b) {
  if (b == KG_BOUND_INT8_DOT || b == KG_BOUND_BF16_DOT) return kg_roofline_supported(b, NULL, 0) ? "avx512" : "none";
  return kg_has_avx512() ? "avx512" : kg_has_avx2() ? "avx2" : "scalar";
}

static int kg_resolve_threads(kg_roofline_bound b, double bytes, int threads) {
  if (threads <= 0) threads = kg_usable_cpus();
  if (b == KG_BOUND_MEMORY && bytes < KG_ROOFLINE_MT_BYTES) threads = 1;
  return threads;
}

/* Operations of one peak instruction: lanes x 2 (a multiply and an add per lane pair). */
static double kg_ops_per_instr(kg_roofline_bound b) {
  switch (b) {
  case KG_BOUND_FP32_FMA: return kg_has_avx512() ? 32 : kg_has_avx2() ? 16 : 2;
  case KG_BOUND_INT8_DOT: return 128; /* vpdpbusd zmm: 64 u8 x s8 multiply-adds */
  case KG_BOUND_BF16_DOT: return 64;  /* vdpbf16ps zmm: 32 bf16 pairs, 2 products each, 16 lanes */
  default: return 0;
  }
}

/* Independent accumulators of a peak block (AVX2 has 16 ymm: 12 leave room for the operands). */
static int kg_peak_acc(kg_roofline_bound b) {
  return b == KG_BOUND_FP32_FMA && !kg_has_avx512() ? (kg_has_avx2() ? 12 : 8) : KG_PEAK_ACC;
}

double kg_roofline_work_of(kg_roofline_bound b, double bytes, int threads) {
  int t = kg_resolve_threads(b, bytes, threads);
  if (b == KG_BOUND_MEMORY) return (double)((int64_t)bytes / 64 * 64);
  return (double)t * (double)KG_PEAK_ITERS * kg_peak_acc(b) * kg_ops_per_instr(b);
}

void kg_roofline_problem(kg_roofline_bound b, double bytes, int threads, const char *names[3], int64_t dims[3],
                         kg_problem *p) {
  names[0] = "bound", names[1] = "bytes", names[2] = "threads"; /* strcmp order: bound < bytes < threads */
  dims[0] = b, dims[1] = bytes > 0 ? (int64_t)bytes : 0, dims[2] = threads;
  memset(p, 0, sizeof *p);
  p->ndims = 3;
  p->dim_names = names;
  p->dims = dims;
  p->seed = 1;
}

typedef struct kg_roofline_state {
  kg_roofline_bound bound;
  int threads;
  size_t bytes; /* multiple of 64 */
  int streams;  /* memory: interleaved streams per thread, the fastest of KG_READ_CHOICES */
  unsigned char *buf;
  double work;
  volatile double sink[256];
} kg_roofline_state;

static int64_t kg_dim(const kg_problem *p, const char *name, int64_t dflt) {
  for (int i = 0; i < p->ndims; i++)
    if (!strcmp(p->dim_names[i], name)) return p->dims[i];
  return dflt;
}

static void kg_read_probe(kg_roofline_state *s);

void *kg_roofline_create(const kg_problem *p) {
  if (!p) return NULL;
  kg_roofline_bound b = (kg_roofline_bound)kg_dim(p, "bound", 0);
  int64_t bytes = kg_dim(p, "bytes", 0);
  if (b <= KG_BOUND_NONE || b > KG_BOUND_BF16_DOT || !kg_roofline_supported(b, NULL, 0)) return NULL;
  if (b == KG_BOUND_MEMORY && bytes < 64) return NULL;
  kg_roofline_state *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->bound = b;
  s->threads = kg_resolve_threads(b, (double)bytes, (int)kg_dim(p, "threads", 0));
  s->work = kg_roofline_work_of(b, (double)bytes, s->threads);
  if (b == KG_BOUND_MEMORY) {
    /* The kernels' inputs come from kg_alloc (templates/kg_util.h): from 4 MB on, 2 MB-aligned
     * transparent huge pages.  The reference reads the same kind of memory: on 4 KB pages a cold
     * pass also pays a TLB miss (a nested page walk in a VM) every 64 lines; it read 21 GB/s where
     * qmatmul read the same bytes at 26 GB/s (an efficiency of 125%), and 25.7 GB/s on huge pages. */
    s->bytes = (size_t)bytes / 64 * 64;
    const size_t align = s->bytes >= ((size_t)4 << 20) ? ((size_t)2 << 20) : 64;
    const size_t alloc = (s->bytes + align - 1) / align * align;
    s->buf = aligned_alloc(align, alloc);
    if (!s->buf) {
      free(s);
      return NULL;
    }
#ifdef MADV_HUGEPAGE
    if (align > 64) madvise(s->buf, alloc, MADV_HUGEPAGE);
#endif
    /* Touch every page from the threads that will read it (first touch places it near them). */
#pragma omp parallel for num_threads(s->threads) schedule(static)
    for (size_t i = 0; i < s->bytes; i += 4096)
      memset(s->buf + i, (int)(i >> 12) | 1, s->bytes - i < 4096 ? s->bytes - i : 4096);
    kg_read_probe(s);
  }
  return s;
}

void kg_roofline_destroy(void *state) {
  kg_roofline_state *s = state;
  if (!s) return;
  free(s->buf);
  free(s);
}

double kg_roofline_work(const void *state) { return state ? ((const kg_roofline_state *)state)->work : 0; }

/* ---- read bandwidth: sum 64-bit words over [p, p + n), n a multiple of 64 ----
 *
 * A thread reads its range as `streams` interleaved sequential streams (its range cut in that
 * many contiguous chunks, 256 bytes of each in turn), then the tail.  Which count reads fastest
 * depends on the machine's prefetchers, so the state tries each of KG_READ_CHOICES at creation
 * and keeps the fastest (kg_read_probe).  On an AMX-capable Xeon VM (intel-6-167, 2 vCPUs, cold
 * 16 MB) one stream per core read 19 GB/s at best and 14 at the median, 4-8 streams 24-25 at best
 * and 19 at the median (qmatmul's decode kernels, 8 rows of weights at once, read 24-26 GB/s);
 * on a Zen5 VM (zen5-1c59d18a, cold 59 MB, 2 threads) 8 streams read 45 GB/s where int8 decode,
 * one row at a time, read the same bytes at 68 (an efficiency of 150%), and one or two streams
 * 1.2-1.5x the 8 streams' rate in a standalone loop of the same rounds. */
static const int KG_READ_CHOICES[] = {1, 2, 8};
#define KG_READ_STEP 256 /* bytes of one stream per step: 4 x 64 */

__attribute__((target("avx512f"))) static double kg_read_avx512(const unsigned char *p, size_t n, int streams) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  const size_t chunk = n / (size_t)streams / KG_READ_STEP * KG_READ_STEP;
  for (size_t i = 0; i < chunk; i += KG_READ_STEP)
    for (int k = 0; k < streams; k++) {
      const unsigned char *q = p + (size_t)k * chunk + i;
      a0 = _mm512_add_epi64(a0, _mm512_load_si512((const void *)q));
      a1 = _mm512_add_epi64(a1, _mm512_load_si512((const void *)(q + 64)));
      a2 = _mm512_add_epi64(a2, _mm512_load_si512((const void *)(q + 128)));
      a3 = _mm512_add_epi64(a3, _mm512_load_si512((const void *)(q + 192)));
    }
  for (size_t i = (size_t)streams * chunk; i < n; i += 64)
    a0 = _mm512_add_epi64(a0, _mm512_load_si512((const void *)(p + i)));
  /* reduced in unsigned arithmetic: the words are arbitrary, and a signed sum (gcc's
   * _mm512_reduce_add_epi64) may overflow, which is undefined behaviour */
  uint64_t v[8];
  _mm512_storeu_si512((void *)v, _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
  return (double)(v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]);
}

__attribute__((target("avx2"))) static double kg_read_avx2(const unsigned char *p, size_t n, int streams) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  const size_t chunk = n / (size_t)streams / KG_READ_STEP * KG_READ_STEP;
  for (size_t i = 0; i < chunk; i += KG_READ_STEP)
    for (int k = 0; k < streams; k++) {
      const unsigned char *q = p + (size_t)k * chunk + i;
      for (int j = 0; j < KG_READ_STEP; j += 128) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(q + j)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(q + j + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(q + j + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(q + j + 96)));
      }
    }
  for (size_t i = (size_t)streams * chunk; i < n; i += 64) { /* the tail, 64 bytes at a time */
    a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
    a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
  }
  __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
  uint64_t v[4]; /* unsigned: a signed sum of arbitrary words may overflow */
  _mm256_storeu_si256((__m256i *)v, s);
  return (double)(v[0] + v[1] + v[2] + v[3]);
}

static double kg_read_c(const unsigned char *p, size_t n) {
  const uint64_t *w = (const uint64_t *)(const void *)p;
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (size_t i = 0; i < n / 8; i += 4) a0 += w[i], a1 += w[i + 1], a2 += w[i + 2], a3 += w[i + 3];
  return (double)(a0 + a1 + a2 + a3);
}

static void kg_read_pass(kg_roofline_state *s) {
  const size_t lines = s->bytes / 64;
  const int avx = kg_has_avx512() ? 2 : kg_has_avx2() ? 1 : 0;
#pragma omp parallel num_threads(s->threads)
  {
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    size_t lo = lines * (size_t)t / (size_t)nt, hi = lines * (size_t)(t + 1) / (size_t)nt;
    const unsigned char *p = s->buf + lo * 64;
    size_t n = (hi - lo) * 64;
    double r = avx == 2 ? kg_read_avx512(p, n, s->streams) : avx == 1 ? kg_read_avx2(p, n, s->streams) : kg_read_c(p, n);
    s->sink[t & 255] = r;
  }
}

/* The stream count of KG_READ_CHOICES whose fastest of 3 passes (taken in turn) is the fastest.
 * A buffer beyond KG_READ_PROBE_COLD is flushed from the caches (clflush, every line) before each
 * pass: memory-bound problems that large stream their bytes from DRAM (decode weights), and the
 * order of the choices in the L3 need not be the same.  The portable C pass has one stream: no
 * probe.  A wrong choice only lowers the reference (an efficiency above 100% says so). */
#define KG_READ_PROBE_COLD ((size_t)1 << 20)
static void kg_read_probe(kg_roofline_state *s) {
  enum { N = sizeof KG_READ_CHOICES / sizeof KG_READ_CHOICES[0] };
  s->streams = 1;
  if (!kg_has_avx512() && !kg_has_avx2()) return;
  double best[N];
  for (int c = 0; c < N; c++) best[c] = INFINITY;
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < N; c++) {
      s->streams = KG_READ_CHOICES[c];
      if (s->bytes > KG_READ_PROBE_COLD) {
        for (size_t i = 0; i < s->bytes; i += 64) _mm_clflush(s->buf + i);
        _mm_mfence();
      }
      const uint64_t t0 = kg_now_ns();
      kg_read_pass(s);
      best[c] = fmin(best[c], (double)(kg_now_ns() - t0));
    }
  int k = 0;
  for (int c = 1; c < N; c++)
    if (best[c] < best[k]) k = c;
  s->streams = KG_READ_CHOICES[k];
}

/* ---- peak blocks: KG_PEAK_ACC independent chains, KG_PEAK_ITERS steps, per thread ---- */

#define KG_REP16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

__attribute__((target("avx512f"))) static double kg_peak_fp32_avx512(void) {
  const __m512 b = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
#define DECL(k) __m512 a##k = _mm512_set1_ps((float)(k + 1));
  KG_REP16(DECL)
#undef DECL
  for (long i = 0; i < KG_PEAK_ITERS; i++) {
#define STEP(k) a##k = _mm512_fmadd_ps(a##k, b, c);
    KG_REP16(STEP)
#undef STEP
    __asm__ volatile("" ::: "memory");
  }
  __m512 s = a0;
#define SUM(k) s = _mm512_add_ps(s, a##k);
  KG_REP16(SUM)
#undef SUM
  return (double)_mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static double kg_peak_fp32_avx2(void) {
  const __m256 b = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
  __m256 a[12];
  for (int k = 0; k < 12; k++) a[k] = _mm256_set1_ps((float)(k + 1));
  __m256 a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5], a6 = a[6], a7 = a[7], a8 = a[8], a9 = a[9],
         a10 = a[10], a11 = a[11];
  for (long i = 0; i < KG_PEAK_ITERS; i++) {
    a0 = _mm256_fmadd_ps(a0, b, c), a1 = _mm256_fmadd_ps(a1, b, c), a2 = _mm256_fmadd_ps(a2, b, c);
    a3 = _mm256_fmadd_ps(a3, b, c), a4 = _mm256_fmadd_ps(a4, b, c), a5 = _mm256_fmadd_ps(a5, b, c);
    a6 = _mm256_fmadd_ps(a6, b, c), a7 = _mm256_fmadd_ps(a7, b, c), a8 = _mm256_fmadd_ps(a8, b, c);
    a9 = _mm256_fmadd_ps(a9, b, c), a10 = _mm256_fmadd_ps(a10, b, c), a11 = _mm256_fmadd_ps(a11, b, c);
    __asm__ volatile("" ::: "memory");
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                           _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  float v[8];
  _mm256_storeu_ps(v, s);
  return (double)(v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]);
}

static double kg_peak_fp32_c(void) {
  float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  for (long i = 0; i < KG_PEAK_ITERS; i++) {
    for (int k = 0; k < 8; k++) a[k] = a[k] * 0.9999999f + 1e-7f;
    __asm__ volatile("" ::: "memory");
  }
  return (double)(a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7]);
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static double kg_peak_int8_vnni(void) {
  const __m512i u = _mm512_set1_epi8(3), v = _mm512_set1_epi8(-2);
#define DECL(k) __m512i a##k = _mm512_set1_epi32(k);
  KG_REP16(DECL)
#undef DECL
  for (long i = 0; i < KG_PEAK_ITERS; i++) {
#define STEP(k) a##k = _mm512_dpbusd_epi32(a##k, u, v);
    KG_REP16(STEP)
#undef STEP
    __asm__ volatile("" ::: "memory");
  }
  __m512i s = a0;
#define SUM(k) s = _mm512_add_epi32(s, a##k);
  KG_REP16(SUM)
#undef SUM
  return (double)_mm512_reduce_add_epi32(s);
}

__attribute__((target("avx512f,avx512bw,avx512bf16"))) static double kg_peak_bf16(void) {
  const __m512bh u = (__m512bh)_mm512_set1_epi16(0x3f80), v = (__m512bh)_mm512_set1_epi16((short)0xb380); /* 1, -6e-8 */
#define DECL(k) __m512 a##k = _mm512_set1_ps((float)(k + 1));
  KG_REP16(DECL)
#undef DECL
  for (long i = 0; i < KG_PEAK_ITERS; i++) {
#define STEP(k) a##k = _mm512_dpbf16_ps(a##k, u, v);
    KG_REP16(STEP)
#undef STEP
    __asm__ volatile("" ::: "memory");
  }
  __m512 s = a0;
#define SUM(k) s = _mm512_add_ps(s, a##k);
  KG_REP16(SUM)
#undef SUM
  return (double)_mm512_reduce_add_ps(s);
}

static double kg_peak_block(kg_roofline_bound b) {
  switch (b) {
  case KG_BOUND_FP32_FMA:
    return kg_has_avx512() ? kg_peak_fp32_avx512() : kg_has_avx2() ? kg_peak_fp32_avx2() : kg_peak_fp32_c();
  case KG_BOUND_INT8_DOT: return kg_peak_int8_vnni();
  case KG_BOUND_BF16_DOT: return kg_peak_bf16();
  default: return 0;
  }
}

void kg_roofline_run(void *state) {
  kg_roofline_state *s = state;
  if (s->bound == KG_BOUND_MEMORY) {
    kg_read_pass(s);
    return;
  }
  if (s->threads == 1) {
    s->sink[0] = kg_peak_block(s->bound);
    return;
  }
#pragma omp parallel num_threads(s->threads)
  s->sink[omp_get_thread_num() & 255] = kg_peak_block(s->bound);
}
