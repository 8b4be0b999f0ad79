/* kg_plot.c - charts of an autotune report through gnuplot (kg_plot.h). */
#define _GNU_SOURCE /* asprintf */
#include "kg_plot.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kg_file.h"
#include "kg_proc.h"

enum { KG_PLOT_MAX_SERIES = 12 };

/* One measured thing of a problem: the winner or a baseline. */
typedef struct plot_point {
  const char *kind; /* "winner" or the baseline's name */
  double p50_ns, gflops, intensity;
} plot_point;

typedef struct plotter {
  const char *dir, *kernel;
  json_t *problems;
  kg_plot_result *out;
  kg_ctx *ctx;
} plotter;

static void skip(plotter *pl, const char *why) {
  if (pl->out->nskipped < (int)(sizeof pl->out->skipped / sizeof *pl->out->skipped))
    snprintf(pl->out->skipped[pl->out->nskipped++], sizeof pl->out->skipped[0], "%s", why);
}

/* gnuplot reads strings in double quotes: keep labels free of quotes and backslashes. */
static void clean_label(char *s) {
  for (; *s; s++)
    if (*s == '"' || *s == '\\' || *s == '\n') *s = '_';
}

/* Run gnuplot on DIR/<name>.gp: it writes <name>.svg and <name>.png.  Records the chart. */
static kg_status draw(plotter *pl, const char *name, const char *script) {
  char base[4400], gp[4500];
  snprintf(base, sizeof base, "%.4000s/%.300s", pl->dir, name);
  snprintf(gp, sizeof gp, "%s.gp", base);
  char *full = NULL;
  if (asprintf(&full,
               "# %s: drawn by kgen plot; `gnuplot %s.gp` draws it again\n"
               "cd '%s'\n"
               "set terminal svg size 900,600 dynamic noenhanced font 'sans,12' background rgb 'white'\n"
               "set output '%s.svg'\n%s"
               "set terminal pngcairo size 900,600 noenhanced font 'sans,10'\nset output '%s.png'\nreplot\nunset output\n",
               name, name, pl->dir, name, script, name) < 0)
    return kg_ctx_set(pl->ctx, KG_ENOMEM, "out of memory");
  kg_status st = kg_file_write_atomic(gp, full, strlen(full), pl->ctx);
  free(full);
  if (st) return st;
  char *argv[] = {"gnuplot", gp, NULL}, *log = NULL;
  int rc = kg_proc_capture(argv, NULL, true, &log);
  if (rc == -1 && errno == ENOENT)
    st = kg_ctx_set(pl->ctx, KG_EUNSUPPORTED, "gnuplot is not installed (Debian: apt-get install gnuplot-nox)");
  else if (rc != 0)
    st = kg_ctx_set(pl->ctx, KG_EIO, "%s: gnuplot failed (exit %d): %.2000s", gp, rc, log ? log : "");
  free(log);
  if (!st && pl->out->ncharts < (int)(sizeof pl->out->charts / sizeof *pl->out->charts))
    snprintf(pl->out->charts[pl->out->ncharts++], sizeof pl->out->charts[0], "%s", base);
  return st;
}

static FILE *open_data(plotter *pl, const char *name, char *path, size_t size) {
  snprintf(path, size, "%.4000s/%.300s.dat", pl->dir, name);
  FILE *f = fopen(path, "w");
  if (!f) kg_ctx_set(pl->ctx, KG_EIO, "%s: %s", path, strerror(errno));
  return f;
}

static kg_status close_data(plotter *pl, FILE *f, const char *path) {
  int bad = ferror(f);
  if (fclose(f) != 0 || bad) return kg_ctx_set(pl->ctx, KG_EIO, "%s: write failed", path);
  return KG_OK;
}

/* The calibrate-profile efficiency object of a winner or baseline: "efficiency_profile" (since
 * the roofline references took "efficiency"), else an older report's "efficiency" object. */
static json_t *eff_profile(json_t *o) {
  json_t *e = json_object_get(o, "efficiency_profile");
  return json_is_object(e) ? e : json_object_get(o, "efficiency");
}

/* The winner and the measured baselines of problem p into pts; their count. */
static int points_of(json_t *p, plot_point *pts, int max) {
  int n = 0;
  json_t *w = json_object_get(p, "winner");
  if (json_is_object(w) && n < max) {
    json_t *e = eff_profile(w);
    pts[n++] = (plot_point){"winner", json_number_value(json_object_get(w, "p50_ns")),
                            json_number_value(json_object_get(w, "gflops")),
                            json_number_value(json_object_get(e, "intensity"))};
  }
  size_t i;
  json_t *b;
  json_array_foreach(json_object_get(p, "baselines"), i, b) {
    const char *name = json_string_value(json_object_get(b, "name"));
    double p50 = json_number_value(json_object_get(b, "p50_ns"));
    if (!name || !(p50 > 0) || n >= max) continue;
    json_t *e = eff_profile(b);
    pts[n++] = (plot_point){name, p50, json_number_value(json_object_get(b, "gflops")),
                            json_number_value(json_object_get(e, "intensity"))};
  }
  return n;
}

/* ---- roofline ---- */

/* The ceilings: from the calibrate profile, the compute peak and the bandwidth of the cache level
 * (or DRAM) nearest each point's working set (kg_profile_efficiency: ceiling and balance), of
 * which the roofline draws the highest (the innermost cache a problem of the report fits) and the
 * lowest (the outermost level: DRAM where a problem outgrows the caches); and the references the
 * final rounds measured beside the winners (efficiency_ref: a read pass over a problem's bytes,
 * cold or warm, and the fp32 FMA peak microkernel), the rates this run's figures are held against. */
typedef struct {
  double peak, bw_hi, bw_lo;   /* profile: GFLOP/s, GB/s */
  double ref_peak, ref_bw;     /* same-run references (0: none): fp32 GFLOP/s, read GB/s */
  int ref_cold;                /* the read reference ran cold (caches flushed: DRAM) */
} roof_ceilings;

static void roof_collect(json_t *problems, roof_ceilings *c) {
  *c = (roof_ceilings){0, 0, INFINITY, 0, 0, 0};
  size_t i;
  json_t *p;
  json_array_foreach(problems, i, p) {
    json_t *objs[64];
    int n = 0;
    if (json_is_object(json_object_get(p, "winner"))) objs[n++] = json_object_get(p, "winner");
    size_t j;
    json_t *b;
    json_array_foreach(json_object_get(p, "baselines"), j, b) if (n < 64) objs[n++] = b;
    for (int k = 0; k < n; k++) {
      json_t *e = eff_profile(objs[k]);
      const char *bound = json_string_value(json_object_get(e, "bound"));
      double ceil = json_number_value(json_object_get(e, "ceiling")),
             bal = json_number_value(json_object_get(e, "balance"));
      if (bound && ceil > 0 && bal > 0) {
        double pk = !strcmp(bound, "compute") ? ceil : ceil * bal, b2 = pk / bal;
        if (pk > c->peak) c->peak = pk;
        if (b2 > c->bw_hi) c->bw_hi = b2;
        if (b2 < c->bw_lo) c->bw_lo = b2;
      }
      json_t *r = json_object_get(objs[k], "efficiency_ref");
      const char *unit = json_string_value(json_object_get(r, "unit")), *rb = json_string_value(json_object_get(r, "bound"));
      double rate = json_number_value(json_object_get(r, "rate"));
      if (!unit || !rb || !(rate > 0)) continue;
      if (!strcmp(unit, "GB/s") && rate > c->ref_bw) c->ref_bw = rate, c->ref_cold = json_is_true(json_object_get(r, "cold"));
      if (!strcmp(rb, "fp32_fma") && rate > c->ref_peak) c->ref_peak = rate;
    }
  }
  if (!isfinite(c->bw_lo)) c->bw_lo = 0;
}

static kg_status roofline(plotter *pl) {
  double xmin = INFINITY, xmax = 0;
  size_t i;
  json_t *p;
  roof_ceilings c;
  roof_collect(pl->problems, &c);
  if (!(c.peak > 0) || !(c.bw_hi > 0)) {
    skip(pl, "roofline: the report has no efficiency figures (no machine profile: run kgen calibrate)");
    return KG_OK;
  }
  char name[400], path[4400];
  snprintf(name, sizeof name, "%s-roofline", pl->kernel);
  FILE *f = open_data(pl, name, path, sizeof path);
  if (!f) return KG_EIO;
  int rows = 0;
  json_array_foreach(pl->problems, i, p) {
    plot_point pts[KG_PLOT_MAX_SERIES];
    int n = points_of(p, pts, KG_PLOT_MAX_SERIES);
    for (int k = 0; k < n; k++) {
      if (!(pts[k].intensity > 0) || !(pts[k].gflops > 0)) continue;
      char label[256];
      snprintf(label, sizeof label, "%s", json_string_value(json_object_get(p, "name")));
      clean_label(label);
      fprintf(f, "%g %g %d \"%s\"\n", pts[k].intensity, pts[k].gflops, strcmp(pts[k].kind, "winner") != 0, label);
      if (pts[k].intensity < xmin) xmin = pts[k].intensity;
      if (pts[k].intensity > xmax) xmax = pts[k].intensity;
      rows++;
    }
  }
  kg_status st = close_data(pl, f, path);
  if (st) return st;
  if (!rows) {
    skip(pl, "roofline: no problem has a flops metric (arithmetic intensity unknown)");
    return KG_OK;
  }
  const double bw_min = c.ref_bw > 0 && c.ref_bw < c.bw_lo ? c.ref_bw : c.bw_lo > 0 ? c.bw_lo : c.bw_hi;
  double lo = fmin(xmin, c.peak / c.bw_hi) / 4, hi = fmax(xmax, c.peak / bw_min) * 4;
  /* the profile's roofs (solid), then this run's references (dashed), each only when it says more */
  char plots[2048];
  int len = snprintf(plots, sizeof plots,
                     "plot roof(x, %g) title 'profile: %.0f GFLOP/s, %.0f GB/s (nearest cache level)' lw 2 lc rgb 'black'",
                     c.bw_hi, c.peak, c.bw_hi);
  if (c.bw_lo > 0 && c.bw_lo < 0.8 * c.bw_hi)
    len += snprintf(plots + len, sizeof plots - (size_t)len,
                    ", \\\n  roof(x, %g) title 'profile: %.0f GB/s (largest working set)' lw 2 lc rgb 'gray40'", c.bw_lo,
                    c.bw_lo);
  if (c.ref_peak > 0)
    len += snprintf(plots + len, sizeof plots - (size_t)len,
                    ", \\\n  %g title 'this run: fp32 FMA reference %.0f GFLOP/s' dt 2 lw 2 lc rgb '#d55e00'", c.ref_peak,
                    c.ref_peak);
  if (c.ref_bw > 0)
    len += snprintf(plots + len, sizeof plots - (size_t)len,
                    ", \\\n  (x * %g < %g ? x * %g : 1/0) title 'this run: read reference %.1f GB/s%s' dt 2 lw 2 lc rgb '#0072b2'",
                    c.ref_bw, c.ref_peak > 0 ? c.ref_peak : c.peak, c.ref_bw, c.ref_bw, c.ref_cold ? ", cold" : "");
  char script[6144];
  snprintf(script, sizeof script,
           "set title '%s: roofline'\n"
           "set logscale xy\nset xrange [%g:%g]\nset grid\n"
           "set xlabel 'arithmetic intensity (flop/byte)'\nset ylabel 'GFLOP/s'\nset key top left font ',9'\n"
           "roof(x, bw) = x * bw < %g ? x * bw : %g\n"
           "%s, \\\n"
           "  '%s.dat' using ($3 == 0 ? $1 : 1/0):2 with points pt 7 ps 1.2 lc rgb '#009e73' title 'winners', \\\n"
           "  '' using ($3 == 1 ? $1 : 1/0):2 with points pt 6 ps 1.0 lc rgb '#56b4e9' title 'baselines', \\\n"
           "  '' using ($3 == 0 ? $1 : 1/0):2:4 with labels offset 1,0.6 left font ',8' notitle\n",
           pl->kernel, lo, hi, c.peak, c.peak, plots, name);
  return draw(pl, name, script);
}

/* ---- speedup per problem against each baseline ---- */

static kg_status speedup(plotter *pl) {
  const char *bases[KG_PLOT_MAX_SERIES];
  int nb = 0;
  size_t i;
  json_t *p;
  json_array_foreach(pl->problems, i, p) {
    plot_point pts[KG_PLOT_MAX_SERIES];
    int n = points_of(p, pts, KG_PLOT_MAX_SERIES);
    for (int k = 1; k < n; k++) {
      int known = 0;
      for (int b = 0; b < nb; b++) known |= !strcmp(bases[b], pts[k].kind);
      if (!known && nb < KG_PLOT_MAX_SERIES) bases[nb++] = pts[k].kind;
    }
  }
  if (!nb) {
    skip(pl, "speedup: no baseline was measured");
    return KG_OK;
  }
  char name[400], path[4400];
  snprintf(name, sizeof name, "%s-speedup", pl->kernel);
  FILE *f = open_data(pl, name, path, sizeof path);
  if (!f) return KG_EIO;
  fprintf(f, "problem");
  for (int b = 0; b < nb; b++) fprintf(f, " \"%s\"", bases[b]);
  fprintf(f, "\n");
  json_array_foreach(pl->problems, i, p) {
    plot_point pts[KG_PLOT_MAX_SERIES];
    int n = points_of(p, pts, KG_PLOT_MAX_SERIES);
    if (n == 0 || strcmp(pts[0].kind, "winner")) continue;
    char label[256];
    snprintf(label, sizeof label, "%s", json_string_value(json_object_get(p, "name")));
    clean_label(label);
    fprintf(f, "\"%s\"", label);
    for (int b = 0; b < nb; b++) {
      double v = NAN;
      for (int k = 1; k < n; k++)
        if (!strcmp(pts[k].kind, bases[b])) v = pts[k].p50_ns / pts[0].p50_ns;
      if (isnan(v)) fprintf(f, " NaN");
      else fprintf(f, " %g", v);
    }
    fprintf(f, "\n");
  }
  kg_status st = close_data(pl, f, path);
  if (st) return st;
  char script[4096];
  snprintf(script, sizeof script,
           "set title '%s: speedup of the winner over each baseline (baseline p50 / winner p50)'\n"
           "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
           "set boxwidth 0.9\nset logscale y\nset grid ytics\nset ylabel 'speedup (log scale; 1 = as fast)'\n"
           "set xtics rotate by -45 font ',8'\nset key outside right top\nset datafile missing 'NaN'\n"
           "set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb 'black'\n"
           "plot for [c=2:%d] '%s.dat' using c:xtic(1) title columnheader(c)\n",
           pl->kernel, nb + 1, name);
  return draw(pl, name, script);
}

/* ---- p50 against a swept dimension, and the heatmap ---- */

/* The distinct values dimension dim takes across problems (sorted, at most max); their count. */
static int values_of(json_t *problems, const char *dim, double *v, int max) {
  int n = 0;
  size_t i;
  json_t *p;
  json_array_foreach(problems, i, p) {
    json_t *d = json_object_get(json_object_get(p, "dims"), dim);
    if (!json_is_number(d)) return 0;
    double x = json_number_value(d);
    int k = 0;
    while (k < n && v[k] < x) k++;
    if (k < n && v[k] == x) continue;
    if (n == max) return max + 1;
    memmove(v + k + 1, v + k, sizeof *v * (size_t)(n - k));
    v[k] = x;
    n++;
  }
  return n;
}

/* A group label: the values of the varying dimensions other than x and y ("" when none; y may
 * be NULL). */
static void group_of(json_t *p, const char *x, const char *y, const char *const *varying, int nvar, char *g,
                     size_t size) {
  size_t n = 0;
  g[0] = 0;
  for (int k = 0; k < nvar && n < size; k++) {
    if (!strcmp(varying[k], x) || (y && !strcmp(varying[k], y))) continue;
    json_t *d = json_object_get(json_object_get(p, "dims"), varying[k]);
    n += (size_t)snprintf(g + n, size - n, "%s%s=%g", n ? " " : "", varying[k], json_number_value(d));
  }
  clean_label(g);
}

/* The series of a sweep against dim: (kind, group) pairs with 2 or more problems (a line), in
 * order of appearance, winners only when winners_only; their count, or -1 when more than
 * KG_PLOT_MAX_SERIES. */
static int sweep_keys(plotter *pl, const char *dim, const char *const *varying, int nvar, bool winners_only,
                      char keys[][256]) {
  enum { MAX = 256 };
  static char all[MAX][256];
  int count[MAX], nall = 0;
  size_t i;
  json_t *p;
  json_array_foreach(pl->problems, i, p) {
    plot_point pts[KG_PLOT_MAX_SERIES];
    int n = points_of(p, pts, KG_PLOT_MAX_SERIES);
    char g[200], key[256];
    group_of(p, dim, NULL, varying, nvar, g, sizeof g);
    for (int k = 0; k < n; k++) {
      if (winners_only && strcmp(pts[k].kind, "winner")) continue;
      snprintf(key, sizeof key, "%s%s%s", pts[k].kind, g[0] ? " " : "", g);
      int s = 0;
      while (s < nall && strcmp(all[s], key)) s++;
      if (s == nall) {
        if (nall == MAX) return -1;
        snprintf(all[nall], 256, "%s", key);
        count[nall++] = 0;
      }
      count[s]++;
    }
  }
  int nkeys = 0;
  for (int s = 0; s < nall; s++) {
    if (count[s] < 2) continue;
    if (nkeys == KG_PLOT_MAX_SERIES) return -1;
    memcpy(keys[nkeys++], all[s], 256);
  }
  return nkeys;
}

static kg_status sweep(plotter *pl, const char *dim, const char *const *varying, int nvar) {
  /* winner and baselines per group; when that is too many lines, the winners alone */
  char keys[KG_PLOT_MAX_SERIES][256];
  size_t i;
  json_t *p;
  int nkeys = sweep_keys(pl, dim, varying, nvar, false, keys);
  if (nkeys < 0) nkeys = sweep_keys(pl, dim, varying, nvar, true, keys);
  if (nkeys <= 0) {
    char why[256];
    snprintf(why, sizeof why, "vs-%s: %s", dim,
             nkeys ? "more lines than fit (the other dimensions vary too much)"
                   : "no two problems differ in it alone (the other dimensions vary with it)");
    skip(pl, why);
    return KG_OK;
  }
  char name[400], path[4400];
  snprintf(name, sizeof name, "%s-vs-%s", pl->kernel, dim);
  FILE *f = open_data(pl, name, path, sizeof path);
  if (!f) return KG_EIO;
  /* one gnuplot data block per series (two blank lines apart), sorted by the dimension */
  double v[256];
  int nv = values_of(pl->problems, dim, v, 256);
  for (int s = 0; s < nkeys; s++) {
    fprintf(f, "# %s\n", keys[s]);
    for (int x = 0; x < nv && x < 256; x++)
      json_array_foreach(pl->problems, i, p) {
        if (json_number_value(json_object_get(json_object_get(p, "dims"), dim)) != v[x]) continue;
        plot_point pts[KG_PLOT_MAX_SERIES];
        int n = points_of(p, pts, KG_PLOT_MAX_SERIES);
        char g[200], key[256];
        group_of(p, dim, NULL, varying, nvar, g, sizeof g);
        for (int k = 0; k < n; k++) {
          snprintf(key, sizeof key, "%s%s%s", pts[k].kind, g[0] ? " " : "", g);
          if (!strcmp(key, keys[s])) fprintf(f, "%g %g\n", v[x], pts[k].p50_ns / 1e3);
        }
      }
    fprintf(f, "\n\n");
  }
  kg_status st = close_data(pl, f, path);
  if (st) return st;
  char script[8192];
  int n = snprintf(script, sizeof script,
                   "set title '%s: p50 against %s'\nset logscale xy\nset grid\nset xlabel '%s'\n"
                   "set ylabel 'p50 (us, log scale)'\nset key outside right top font ',9'\nplot ",
                   pl->kernel, dim, dim);
  for (int s = 0; s < nkeys && n < (int)sizeof script - 400; s++)
    n += snprintf(script + n, sizeof script - (size_t)n, "%s'%s.dat' index %d with linespoints %s title \"%s\"",
                  s ? ", \\\n  " : "", name, s, !strncmp(keys[s], "winner", 6) ? "lw 2 pt 7" : "dt 2 pt 6", keys[s]);
  snprintf(script + n, sizeof script - (size_t)n, "\n");
  return draw(pl, name, script);
}

static kg_status heatmap(plotter *pl, const char *dx, const char *dy, const char *const *varying, int nvar) {
  double vx[64], vy[64];
  int nx = values_of(pl->problems, dx, vx, 64), ny = values_of(pl->problems, dy, vy, 64);
  if (nx > 64 || ny > 64) return KG_OK;
  /* When other dimensions vary too, the slice (their values) that holds the most problems. */
  char best[200] = "", g[200];
  int most = 0;
  size_t i, j;
  json_t *p, *q;
  json_array_foreach(pl->problems, i, p) {
    group_of(p, dx, dy, varying, nvar, g, sizeof g);
    int n = 0;
    json_array_foreach(pl->problems, j, q) {
      char h[200];
      group_of(q, dx, dy, varying, nvar, h, sizeof h);
      n += !strcmp(g, h);
    }
    if (n > most) most = n, snprintf(best, sizeof best, "%s", g);
  }
  char name[400], path[4400];
  snprintf(name, sizeof name, "%s-heatmap-%s-%s", pl->kernel, dx, dy);
  FILE *f = open_data(pl, name, path, sizeof path);
  if (!f) return KG_EIO;
  int cells = 0;
  double lo = 1, hi = 1;
  /* x index, y index, speedup over the best baseline (the report's "speedup") */
  json_array_foreach(pl->problems, i, p) {
    double s = json_number_value(json_object_get(p, "speedup"));
    group_of(p, dx, dy, varying, nvar, g, sizeof g);
    if (!(s > 0) || strcmp(g, best)) continue;
    json_t *d = json_object_get(p, "dims");
    int ix = 0, iy = 0;
    while (vx[ix] != json_number_value(json_object_get(d, dx))) ix++;
    while (vy[iy] != json_number_value(json_object_get(d, dy))) iy++;
    fprintf(f, "%d %d %g\n", ix, iy, s);
    lo = fmin(lo, s), hi = fmax(hi, s);
    cells++;
  }
  kg_status st = close_data(pl, f, path);
  if (st) return st;
  if (cells < 3) {
    skip(pl, "heatmap: fewer than 3 problems share the values of the other dimensions");
    return KG_OK;
  }
  double span = fmax(hi, 1 / lo) * 1.05; /* a log colour scale centred on 1x: red slower, blue faster */
  char script[8192], xt[2048] = "", yt[2048] = "";
  size_t n = 0;
  for (int k = 0; k < nx && n < sizeof xt - 40; k++) n += (size_t)snprintf(xt + n, sizeof xt - n, "%s'%g' %d", k ? ", " : "", vx[k], k);
  n = 0;
  for (int k = 0; k < ny && n < sizeof yt - 40; k++) n += (size_t)snprintf(yt + n, sizeof yt - n, "%s'%g' %d", k ? ", " : "", vy[k], k);
  snprintf(script, sizeof script,
           "set title '%s: speedup over the best baseline across %s and %s%s%s'\n"
           "set xlabel '%s'\nset ylabel '%s'\nset xtics (%s)\nset ytics (%s)\n"
           "set xrange [-0.5:%d.5]\nset yrange [-0.5:%d.5]\nset cblabel 'speedup'\nset cbrange [%g:%g]\n"
           "set palette defined (0 '#b2182b', 1 '#f7f7f7', 2 '#2166ac')\nset logscale cb\n"
           "plot '%s.dat' using 1:2:(0.5):(0.5):3 with boxxyerror notitle fs solid lc palette, \\\n"
           "  '' using 1:2:(sprintf('%%.2fx', $3)) with labels font ',9' notitle\n",
           pl->kernel, dx, dy, best[0] ? ", " : "", best, dx, dy, xt, yt, nx - 1, ny - 1, 1 / span, span, name);
  return draw(pl, name, script);
}

kg_status kg_plot_report(const char *report_path, const char *dir, kg_plot_result *out, kg_ctx *ctx) {
  memset(out, 0, sizeof *out);
  json_error_t err;
  json_t *root = json_load_file(report_path, 0, &err);
  if (!root) return kg_ctx_set(ctx, KG_EINVAL, "%s:%d: %s", report_path, err.line, err.text);
  kg_status st = KG_OK;
  plotter pl = {dir, json_string_value(json_object_get(root, "kernel")), json_object_get(root, "problems"), out, ctx};
  if (!pl.kernel || !json_array_size(pl.problems)) {
    st = kg_ctx_set(ctx, KG_EINVAL, "%s: not an autotune report with problems (no \"kernel\" or \"problems\")",
                    report_path);
    goto done;
  }
  if (strchr(dir, '\'') || strchr(dir, '\n')) {
    st = kg_ctx_set(ctx, KG_EINVAL, "%s: a folder for plots may not contain quotes or newlines", dir);
    goto done;
  }
  if ((st = kg_file_mkdirs(dir, ctx))) goto done;
  if ((st = roofline(&pl)) || (st = speedup(&pl))) goto done;
  /* the dimensions that vary across problems */
  const char *varying[16];
  int nvar = 0, nvals[16];
  const char *dim;
  json_t *v;
  json_object_foreach(json_object_get(json_array_get(pl.problems, 0), "dims"), dim, v) {
    double vals[256];
    int n = values_of(pl.problems, dim, vals, 255);
    if (n >= 2 && nvar < 16) nvals[nvar] = n, varying[nvar++] = dim;
  }
  /* sweeps: dimensions with 3 or more positive values spanning a factor 4 or more (sizes, not
   * codes such as a phase 0, 1, 2) */
  for (int k = 0; k < nvar && !st; k++) {
    double vals[256];
    int n = values_of(pl.problems, varying[k], vals, 255);
    if (n >= 3 && n <= 255 && vals[0] > 0 && vals[n - 1] >= 4 * vals[0]) st = sweep(&pl, varying[k], varying, nvar);
  }
  /* the heatmap over the two dimensions with the most values */
  if (!st && nvar >= 2) {
    int a = 0, b = 1;
    for (int k = 0; k < nvar; k++)
      if (nvals[k] > nvals[a]) a = k;
    b = a == 0 ? 1 : 0;
    for (int k = 0; k < nvar; k++)
      if (k != a && nvals[k] > nvals[b]) b = k;
    st = heatmap(&pl, varying[a], varying[b], varying, nvar);
  }
done:
  json_decref(root);
  return st;
}
