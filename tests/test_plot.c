/*
 * test_plot.c - `kgen plot` draws every shipped report (the .json files of tuned/<kernel>/) as valid SVG and
 * PNG files (the SVG a complete document, the PNG with its signature and end chunk; a roofline draws
 * the same-run references its report holds), keeps each
 * chart's gnuplot script and data, and refuses a corrupt report with exit 2 naming it.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define KG_TEST_NAME "plot"
#include "kg_cli_test.h"

/* The whole file at path (static buffer); its length in *n, or -1 when it cannot be read. */
static const unsigned char *slurp(const char *path, long *n) {
  static unsigned char buf[8 << 20];
  FILE *f = fopen(path, "rb");
  *n = -1;
  if (!f) return buf;
  *n = (long)fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[*n] = 0;
  return buf;
}

static void check_svg(const char *path) {
  long n;
  const char *s = (const char *)slurp(path, &n);
  if (n <= 0) fail_msg("%s: missing or empty", path);
  if (!strstr(s, "<svg") || !strstr(s, "</svg>")) fail_msg("%s: not a complete SVG document", path);
  /* a chart has drawn paths, not only a frame */
  assert_non_null(strstr(s, "<path"));
}

static void check_png(const char *path) {
  long n;
  const unsigned char *b = slurp(path, &n);
  if (n < 100) fail_msg("%s: missing or too short (%ld bytes)", path, n);
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (memcmp(b, sig, 8)) fail_msg("%s: no PNG signature", path);
  if (memcmp(b + n - 8, "IEND", 4)) fail_msg("%s: no IEND chunk at its end (truncated)", path);
}

static void test_plots_of_shipped_reports(void **state) {
  (void)state;
  char cmd[4096], line[8192];
  snprintf(cmd, sizeof cmd, "ls '%s'/tuned/*/*.json | grep -v /machines/", root);
  FILE *ls = popen(cmd, "r");
  assert_non_null(ls);
  int reports = 0, charts = 0;
  while (fgets(line, sizeof line, ls)) {
    line[strcspn(line, "\n")] = 0;
    char out[600], list[700];
    snprintf(out, sizeof out, "%s/plots%d", tmp, reports);
    snprintf(list, sizeof list, "%s/list%d", tmp, reports);
    int rc = run("'%s' plot '%s' -o '%s' > '%s' 2> '%s.err'", bin, line, out, list, list);
    if (rc != 0) {
      run("cat '%s.err'", list);
      fail_msg("kgen plot %s: exit %d", line, rc);
    }
    FILE *f = fopen(list, "r");
    assert_non_null(f);
    char svg[4400], png[4400], gp[4400] = "";
    int here = 0;
    while (fscanf(f, "%4399s %4399s", svg, png) == 2) {
      check_svg(svg);
      check_png(png);
      /* the script and data stay beside the pictures */
      size_t n = strlen(svg) - 4;
      snprintf(png, sizeof png, "%.*s.gp", (int)n, svg);
      assert_int_equal(access(png, R_OK), 0);
      if (strstr(svg, "-roofline.svg")) snprintf(gp, sizeof gp, "%s", png);
      snprintf(png, sizeof png, "%.*s.dat", (int)n, svg);
      assert_int_equal(access(png, R_OK), 0);
      here++;
    }
    fclose(f);
    /* A report whose problems carry same-run references (efficiency_ref) has a roofline that
     * draws them beside the profile's roofs: a memory reference as a bandwidth roof, the FMA peak
     * as a ceiling (the pictures then show what this run's efficiencies are held against). */
    if (gp[0]) {
      long n;
      const char *script = (const char *)slurp(gp, &n);
      assert_true(n > 0);
      assert_non_null(strstr(script, "roof(x, ")); /* the profile's roof */
      if (run("grep -q '\"unit\": *\"GB/s\"' '%s'", line) == 0 && !strstr(script, "this run: read reference"))
        fail_msg("%s: the report has a read reference, its roofline (%s) does not draw it", line, gp);
      if (run("grep -q '\"bound\": *\"fp32_fma\"' '%s'", line) == 0 && !strstr(script, "this run: fp32 FMA reference"))
        fail_msg("%s: the report has an fp32 FMA reference, its roofline (%s) does not draw it", line, gp);
    }
    /* every report gets at least the speedup chart (each spec has baselines) */
    if (here < 1) fail_msg("%s: no chart drawn", line);
    charts += here;
    reports++;
  }
  pclose(ls);
  assert_true(reports >= 1);
  print_message("%d reports, %d charts\n", reports, charts);
}

static void test_corrupt_report(void **state) {
  (void)state;
  assert_int_equal(run("printf '{\"kernel\": \"x\", \"problems\": [' > '%s/bad.json'", tmp), 0);
  assert_int_equal(run("'%s' plot '%s/bad.json' -o '%s/p' > /dev/null 2> '%s/err'", bin, tmp, tmp, tmp), 2);
  assert_int_equal(run("grep -q 'bad.json:1:' '%s/err'", tmp), 0);
  assert_int_equal(run("printf '{\"kernel\": \"x\", \"problems\": []}' > '%s/empty.json'", tmp), 0);
  assert_int_equal(run("'%s' plot '%s/empty.json' -o '%s/p' > /dev/null 2> '%s/err'", bin, tmp, tmp, tmp), 2);
  assert_int_equal(run("grep -q 'not an autotune report' '%s/err'", tmp), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plots_of_shipped_reports),
      cmocka_unit_test(test_corrupt_report),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
