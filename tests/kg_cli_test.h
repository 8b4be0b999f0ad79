/*
 * kg_cli_test.h - what the tests that drive the `kgen` binary share (test_tune, test_bench,
 * test_contract, test_isolation): the repository root and binary (KGEN_ROOT, KGEN_BIN, set by
 * ctest), a private temporary folder per test program, shell commands, and queries on a tuning
 * database.  Define KG_TEST_NAME ("tune") before including; one test program per file.
 */
#ifndef KG_CLI_TEST_H
#define KG_CLI_TEST_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#ifndef KG_TEST_NAME
#error "define KG_TEST_NAME before including kg_cli_test.h"
#endif

/* KG_TEST_ASAN: built with AddressSanitizer (gcc or clang), whose allocator and shadow memory
 * change what some checks can see. */
#if defined(__SANITIZE_ADDRESS__)
#define KG_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KG_TEST_ASAN 1
#endif
#endif

static char root[2048], bin[2048], tmp[256];

/* Run a shell command built like printf; its exit code, or -1 when it did not exit. */
static inline int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int run(const char *fmt, ...) {
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* CMocka group set-up and tear-down: root, bin and a fresh /tmp/kgen-test-<name>-XXXXXX. */
static inline int setup(void **state) {
  (void)state;
  const char *r = getenv("KGEN_ROOT"), *b = getenv("KGEN_BIN");
  snprintf(root, sizeof root, "%s", r ? r : ".");
  snprintf(bin, sizeof bin, "%s", b ? b : "build/kgen");
  snprintf(tmp, sizeof tmp, "/tmp/kgen-test-" KG_TEST_NAME "-XXXXXX");
  return mkdtemp(tmp) ? 0 : -1;
}

static inline int teardown(void **state) {
  (void)state;
  run("rm -rf '%s'", tmp);
  return 0;
}

/* The single value of a query on database db (a count or a number); -1 when there is none. */
static inline double db_value(const char *db, const char *sql) {
  sqlite3 *h;
  sqlite3_stmt *s = NULL;
  double v = -1;
  if (sqlite3_open(db, &h) != SQLITE_OK) return -1;
  if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
      sqlite3_column_type(s, 0) != SQLITE_NULL)
    v = sqlite3_column_double(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(h);
  return v;
}

/* Rows of the measurements table matching a WHERE clause. */
static inline long db_count(const char *db, const char *where) {
  char sql[1024];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM measurements WHERE %s", where);
  return (long)db_value(db, sql);
}

/* The first autotune JSON under dir/kernel/, parsed; NULL when there is none. */
static inline json_t *load_report(const char *dir, const char *kernel) {
  char cmd[4096], path[4096] = "";
  snprintf(cmd, sizeof cmd, "ls %s/%s/*.json 2>/dev/null | head -n1", dir, kernel);
  FILE *f = popen(cmd, "r");
  if (f && fgets(path, sizeof path, f)) path[strcspn(path, "\n")] = 0;
  if (f) pclose(f);
  json_error_t err;
  return path[0] ? json_load_file(path, 0, &err) : NULL;
}

#endif
