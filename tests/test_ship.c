/*
 * test_ship.c - `kgen ship` end to end (env KGEN_BIN, KGEN_ROOT): the project is written
 * byte-identically to the one the build shipped (BUILD/ship), which the build compiled with CMake
 * alone (no Lua or LLVM) and installed under BUILD/ship-install (CMakeLists.txt's kgen_library:
 * the library is compiled once per build, not again here, since it takes minutes); the
 * installed library links no LLVM or Lua; tests/ship/check_lib.c, built through pkg-config,
 * checks every shipped variant and the public API (gemm, qmatmul and the semi-Markov CRF scans
 * against references on untuned shapes, the paired cache bit-exact against the contract, bad
 * input) on this machine, with KGEN_MAX_ISA=avx2, and as a machine absent from tuned/
 * (KGEN_MACHINE=some-other-id with KGEN_MAX_ISA=avx2, then =portable), whose kgen_explain must say it fell
 * back; the shipped sources: semiring_scan's variants namespaced too; the examples build and run
 * through find_package(kgen) and through pkg-config; every tuned winner is shipped, whatever this
 * machine's ISA.
 * Slow (a minute: it builds the examples and runs every shipped variant): listed in tests/slow.txt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

static char root[2048], bin[2048], tmp[256], shipped[2100], prefix[2100];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
  char cmd[16384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* The output of a shell command (at most cap - 1 bytes). */
static void capture(char *out, size_t cap, const char *cmd) {
  FILE *p = popen(cmd, "r");
  size_t n = p ? fread(out, 1, cap - 1, p) : 0;
  out[n] = 0;
  if (p) pclose(p);
}

static int setup(void **state) {
  const char *r = getenv("KGEN_ROOT"), *b = getenv("KGEN_BIN");
  snprintf(root, sizeof root, "%s", r ? r : ".");
  snprintf(bin, sizeof bin, "%s", b ? b : "build/kgen");
  /* The build's shipped project and its install (next to the kgen binary). */
  char build[2048];
  snprintf(build, sizeof build, "%s", bin);
  if (strrchr(build, '/')) *strrchr(build, '/') = 0;
  else snprintf(build, sizeof build, ".");
  snprintf(shipped, sizeof shipped, "%s/ship", build);
  snprintf(prefix, sizeof prefix, "%s/ship-install", build);
  if (sh("test -f '%s/CMakeLists.txt' && test -f '%s/lib/libkgen.so'", shipped, prefix)) {
    fprintf(stderr, "test_ship: %s or %s is missing: build with -DKG_BUILD_LIBRARY=ON\n", shipped, prefix);
    return -1;
  }
  snprintf(tmp, sizeof tmp, "/tmp/kgen-test-ship-XXXXXX");
  if (!mkdtemp(tmp)) return -1;
  /* Ship again from the repository's tuned/ (what test_ship_reproducible compares). */
  if (sh("cd '%s' && '%s' ship --out '%s/dist' 2>'%s/ship.err'", root, bin, tmp, tmp)) return -1;
  if (sh("cc -O1 '%s/tests/ship/check_lib.c' $(PKG_CONFIG_PATH='%s/lib/pkgconfig' pkg-config --cflags --libs "
         "kgen) "
         "-pthread -ldl -lm -Wl,-rpath,'%s/lib' -o '%s/check_lib'",
         root, prefix, prefix, tmp))
    return -1;
  return 0;
}

static int teardown(void **state) {
  sh("rm -rf '%s'", tmp);
  return 0;
}

static void test_ship_reproducible(void **state) {
  assert_int_equal(sh("cd '%s' && '%s' ship --out '%s/dist2' 2>/dev/null", root, bin, tmp), 0);
  assert_int_equal(sh("diff -r '%s/dist' '%s/dist2' >/dev/null", tmp, tmp), 0);
  assert_int_equal(sh("diff -r '%s/dist' '%s' >/dev/null", tmp, shipped), 0); /* what the build compiled */
  /* the shipped sources: one per variant, each namespaced, the dispatch tables, the package */
  assert_int_equal(sh("grep -q 'define KG_NAME(x) kgv_gemm_0_##x' '%s/dist/src/v_gemm_000.c'", tmp), 0);
  assert_int_equal(sh("grep -q 'define KG_NAME(x) kgv_semiring_scan_0_##x' '%s/dist/src/v_semiring_scan_000.c' && "
                      "grep -q 'kgen_semimarkov_logpartition' '%s/include/kgen/kgen_semiring_scan.h'",
                      tmp, prefix),
                   0);
  assert_int_equal(
      sh("test -f '%s/lib/cmake/kgen/kgenConfig.cmake' && test -f '%s/lib/pkgconfig/kgen.pc' "
         "&& test -f '%s/include/kgen/kgen.h'",
         prefix, prefix, prefix),
      0);
}

/* Every winner in tuned/ is shipped, whatever this machine's ISA: each report's winners are read in
 * the spec's space as the machine that tuned it saw it (an AVX2 host once dropped every AVX-512
 * tile of gemm and qmatmul's VNNI path as "not in the spec's space"). */
static void test_ship_every_winner(void **state) {
  if (sh("grep \"not in the spec's space\" '%s/ship.err'", tmp) == 0) fail_msg("kgen ship skipped winners");
  assert_int_equal(sh("grep -q 'kernels, [0-9]* variants, [0-9]* machines' '%s/ship.err'", tmp), 0);
}

static void test_ship_bad_usage(void **state) {
  assert_int_equal(sh("'%s' ship 2>/dev/null", bin), 2);                                               /* no --out */
  assert_int_equal(sh("'%s' ship '%s/specs/stream.lua' --out '%s/x' 2>/dev/null", bin, root, tmp), 2); /* no front */
}

static void test_ship_no_llvm_lua(void **state) {
  char out[8192];
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "ldd '%s/lib/libkgen.so'", prefix);
  capture(out, sizeof out, cmd);
  assert_non_null(strstr(out, "libc.so"));
  assert_null(strstr(out, "LLVM"));
  assert_null(strstr(out, "llvm"));
  assert_null(strstr(out, "lua"));
  assert_null(strstr(out, "clang"));
}

/* check_lib under env: no failures; its explain output returned in out. */
static void run_check(const char *env, char *out, size_t cap) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "%s '%s/check_lib' '%s/lib/libkgen.so' 2>&1; echo \"exit=$?\"", env, tmp, prefix);
  capture(out, cap, cmd);
  if (!strstr(out, "exit=0")) printf("%s\n", out);
  assert_non_null(strstr(out, "exit=0"));
  assert_non_null(strstr(out, "; 0 failures"));
}

static void test_ship_this_machine(void **state) {
  static char out[1 << 16];
  run_check("", out, sizeof out);
  assert_non_null(strstr(out, "machine entry: "));
}

static void test_ship_avx2_tier(void **state) {
  static char out[1 << 16];
  run_check("KGEN_MAX_ISA=avx2", out, sizeof out);
  assert_non_null(strstr(out, "avx512 ones skipped"));
  assert_null(strstr(out, "usable isa avx2,fma,f16c,bmi2,avx512f"));
}

static void test_ship_absent_machine(void **state) {
  static char out[1 << 16];
  /* AVX2: tuned/ holds an AVX2 machine (zen3) for every kernel, so the nearest compatible entry */
  run_check("KGEN_MACHINE=some-other-id KGEN_MAX_ISA=avx2", out, sizeof out);
  assert_non_null(strstr(out, "KGEN_MACHINE names no shipped entry"));
  /* no vector ISA: no machine entry is compatible, every kernel falls back to its portable build */
  run_check("KGEN_MACHINE=some-other-id KGEN_MAX_ISA=portable", out, sizeof out);
  assert_non_null(strstr(out, "KGEN_MACHINE names no shipped entry"));
  assert_non_null(strstr(out, "choice: no compatible machine entry"));
}

static void test_ship_examples(void **state) {
  assert_int_equal(sh("cmake -S '%s/examples' -B '%s/ex' -DCMAKE_PREFIX_PATH='%s' >/dev/null && "
                      "cmake --build '%s/ex' >/dev/null 2>&1",
                      root, tmp, prefix, tmp),
                   0);
  assert_int_equal(sh("'%s/ex/moe_paired_cache' >/dev/null && '%s/ex/quantized_linear' >/dev/null", tmp, tmp), 0);
  const char *ex[] = {"moe_paired_cache", "quantized_linear"};
  for (int i = 0; i < 2; i++) {
    assert_int_equal(sh("cc '%s/examples/%s.c' -o '%s/pc_%s' $(PKG_CONFIG_PATH='%s/lib/pkgconfig' pkg-config "
                        "--cflags --libs kgen) -lm -Wl,-rpath,'%s/lib'",
                        root, ex[i], tmp, ex[i], prefix, prefix),
                     0);
    assert_int_equal(sh("'%s/pc_%s' >/dev/null", tmp, ex[i]), 0);
    assert_int_equal(sh("KGEN_MACHINE=some-other-id KGEN_MAX_ISA=avx2 '%s/pc_%s' >/dev/null", tmp, ex[i]), 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ship_reproducible), cmocka_unit_test(test_ship_bad_usage),
      cmocka_unit_test(test_ship_no_llvm_lua),  cmocka_unit_test(test_ship_this_machine),
      cmocka_unit_test(test_ship_avx2_tier),    cmocka_unit_test(test_ship_absent_machine),
      cmocka_unit_test(test_ship_examples),     cmocka_unit_test(test_ship_every_winner),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
