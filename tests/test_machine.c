/* test_machine.c - the fingerprint is complete, its id stable and well-formed, its JSON keyed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "kg_machine.h"

static void test_fields(void **state) {
  kg_machine m;
  kg_ctx ctx = {0};
  assert_int_equal(kg_machine_detect(&m, &ctx), KG_OK);
  assert_true(strlen(m.id) > 0);
  assert_true(strlen(m.vendor) > 0);
  assert_true(strlen(m.cpu) > 0);
  assert_true(strlen(m.microarch) > 0);
  assert_true(strlen(m.os) > 0);
  assert_true(strlen(m.kernel) > 0);
  assert_true(strlen(m.governor) > 0);
  assert_true(m.cores >= 1);
  assert_true(m.threads >= m.cores);
  assert_true(m.memory > 0);
  assert_true(m.l1d > 0); /* hwloc reports caches on every machine we target */
  assert_true(m.l2 >= m.l1d);
#if defined(__x86_64__)
  assert_true(m.family > 0);
  assert_true(kg_machine_has(&m, "sse4_2")); /* x86-64-v2 at least */
  /* Flags come in the documented order. */
  static const char *order[] = {"sse4_2",   "avx",         "avx2",        "fma",         "f16c",
                                "bmi2",     "avx512f",     "avx512dq",    "avx512cd",    "avx512bw",
                                "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx512_vbmi",
                                "avx_vnni", "amx_tile",    "amx_bf16",    "amx_int8"};
  int at = 0;
  for (int i = 0; i < m.nisa; i++) {
    while (at < (int)(sizeof order / sizeof order[0]) && strcmp(order[at], m.isa[i]) != 0) at++;
    assert_true(at < (int)(sizeof order / sizeof order[0]));
  }
  if (kg_machine_has(&m, "avx512f")) assert_true(kg_machine_has(&m, "avx2"));
#endif
  assert_false(kg_machine_has(&m, "no_such_flag"));
  printf("# machine %s: %s (%s), %d cores, l1d %llu l2 %llu l3 %llu, governor %s\n", m.id, m.cpu, m.microarch, m.cores,
         (unsigned long long)m.l1d, (unsigned long long)m.l2, (unsigned long long)m.l3, m.governor);
}

static void test_id_stable_and_shaped(void **state) {
  kg_machine a, b;
  assert_int_equal(kg_machine_detect(&a, NULL), KG_OK);
  assert_int_equal(kg_machine_detect(&b, NULL), KG_OK);
  assert_string_equal(a.id, b.id);
  /* <microarch>-<avx512|avx2|sse>-<cores>c-<8 hex> */
  char want[96];
  const char *cls = kg_machine_has(&a, "avx512f") ? "avx512" : kg_machine_has(&a, "avx2") ? "avx2" : "sse";
  snprintf(want, sizeof want, "%s-%s-%dc-", a.microarch, cls, a.cores);
  size_t n = strlen(want);
  assert_int_equal(strncmp(a.id, want, n), 0);
  assert_int_equal(strlen(a.id), n + 8);
  for (size_t i = n; i < n + 8; i++) assert_true(isxdigit((unsigned char)a.id[i]) && !isupper((unsigned char)a.id[i]));
}

static void test_json(void **state) {
  kg_machine m;
  assert_int_equal(kg_machine_detect(&m, NULL), KG_OK);
  json_t *j = kg_machine_to_json(&m);
  assert_non_null(j);
  static const char *keys[] = {"id",    "cpu",     "vendor", "microarch", "family", "model",  "stepping", "isa",
                               "cores", "threads", "caches", "memory",    "os",     "kernel", "governor"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) assert_non_null(json_object_get(j, keys[i]));
  assert_string_equal(json_string_value(json_object_get(j, "id")), m.id);
  assert_int_equal(json_integer_value(json_object_get(j, "cores")), m.cores);
  json_t *isa = json_object_get(j, "isa");
  assert_true(json_is_array(isa));
  assert_int_equal(json_array_size(isa), (size_t)m.nisa);
  json_t *caches = json_object_get(j, "caches");
  assert_true(json_is_object(caches));
  assert_int_equal(json_integer_value(json_object_get(caches, "l1d")), (json_int_t)m.l1d);
  assert_non_null(json_object_get(caches, "l2"));
  assert_non_null(json_object_get(caches, "l3"));
  json_decref(j);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fields),
      cmocka_unit_test(test_id_stable_and_shaped),
      cmocka_unit_test(test_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
