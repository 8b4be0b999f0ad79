/*
 * main.c - the kgen command line (DESIGN.md, "Command line"): usage text and dispatch; each
 * command is kg_cli_<name> in its own kg_cli_<name>.c (kg_cli.h).
 * Exit codes: 0 success, 1 the work failed (nothing valid found), 2 usage or input error.
 * Progress goes to stderr, results to stdout and files.  Only gen/cli/ turns a kg_status into
 * an exit code.
 */
#include <string.h>
#include <unistd.h>

#include "kg_calibrate.h"
#include "kg_cli.h"
#include "kg_replay.h"
#include "kg_ship.h"

#ifndef KG_VERSION
#define KG_VERSION "0"
#endif

const char kg_usage[] =
    "usage: kgen <command> [options]\n"
    "\n"
    "Code-generating autotuner: Lua specs describe a kernel and its tunable space; kgen expands\n"
    "C templates into variants, JIT-compiles them with Clang, verifies, measures and keeps the best.\n"
    "\n"
    "commands:\n"
    "  list [DIR]                      specs found in DIR (default specs/): parameters, space, problems\n"
    "  show SPEC                       tunable space, constraints, problems, reference and baselines\n"
    "  emit SPEC [--set a=1,b=2] [-o FILE]\n"
    "                                  C source of one variant (unset parameters take their default)\n"
    "  compile SPEC [--set ...] [--backend jit|cc]\n"
    "                                  compile one variant; print compile time and diagnostics\n"
    "  tune SPEC [options]             search, verify, measure, write OUT/<kernel>/...\n"
    "      --problem NAME              only this problem (repeatable)\n"
    "      --strategy exhaustive|random|knn|bandit|ga|anneal|ils   (default: exhaustive for spaces of\n"
    "                                  up to 256 points, else knn); the last five choose each next\n"
    "                                  variant from the measurements so far (gen/search/kg_search.h),\n"
    "                                  one search per problem\n"
    "      --budget N                  evaluate at most N variants (default all; guided strategies:\n"
    "                                  10% of the space, at least 32, per problem)\n"
    "      --propose B                 guided strategies: points proposed, compiled and measured together\n"
    "                                  (one worker, one kg_create and reference per batch; default 8)\n"
    "      --cutoff F                  stop a variant whose first samples are all >= F x slower than the\n"
    "                                  best of its problem so far; recorded as censored (default 2; 0 = off)\n"
    "      --screen-time S             a screening measurement: the search measures each variant for at\n"
    "                                  least S seconds and 5 samples (cold: a wall-time bound of 10 S);\n"
    "                                  the final rounds re-measure the finalists for --min-time and\n"
    "                                  decide (default 0.05; 0 = --min-time throughout)\n"
    "      --cache FILE                a Kernel Tuner cache file (.json[.gz], kgen export-cache writes one):\n"
    "                                  its configurations of the file's problem are already measured (not\n"
    "                                  measured again, free for the budget); the final rounds re-measure\n"
    "                                  the finalists\n"
    "      --warm-start, --no-warm-start  measure first the winners, ties and finalists of the other\n"
    "                                  compatible machines in OUT/<kernel>/, nearest first, and before\n"
    "                                  them this machine's own when its report is stale (tuned under\n"
    "                                  another spec or template hash) (default: on when there are\n"
    "                                  any); the report's \"warm_start\" and a winner's\n"
    "                                  \"warm_from\" name the machines.  Guided strategies measure a batch\n"
    "                                  of seeds first for each problem: the winners of the nearest earlier\n"
    "                                  problems, then these points; and after the last search, within its\n"
    "                                  budget, each problem measures the later problems' winners\n"
    "      --seed N                    seed of the shuffled measuring order and of the random strategy\n"
    "                                  (default 1)\n"
    "      --backend jit|cc            compiler backend (default jit)\n"
    "      --jobs N                    variants compiled at once, between measurements (default: the\n"
    "                                  CPUs kgen may run on; 1 = one after another)\n"
    "      --out DIR                   output root (default tuned)\n"
    "      --db FILE                   tuning database (default OUT/<kernel>/<machine-id>.db)\n"
    "      --resume                    skip what the database already holds (failures are measured\n"
    "                                  again: a timeout may have been a loaded machine)\n"
    "      --keep-failures             with --resume: keep stored failures too\n"
    "      --shard I/N                 measure only part I (0..N-1, a Slurm array index) of N disjoint,\n"
    "                                  balanced parts of problems x variants; database and partial report\n"
    "                                  in OUT/<kernel>/shards/; no final rounds (kgen merge runs them)\n"
    "      --csv FILE                  one row per measured variant\n"
    "      --min-time S                minimum measured time per variant (default 0.2)\n"
    "      --timeout S                 a variant running longer is killed (default 60)\n"
    "      --cold                      flush caches before each sample (default warm)\n"
    "      --cpu N                     pin the measuring worker to core N (default -1: all cores,\n"
    "                                  so OpenMP variants get their threads)\n"
    "      --quiet                     no progress on stderr\n"
    "      --events LIST               counter events per run, comma-separated (cycles,instructions,\n"
    "                                  cache-misses, task-clock, or PMU-specific libpfm4 names);\n"
    "                                  unavailable ones are reported as such, never as 0\n"
    "      --profile FILE              machine profile for efficiency (default tuned/machines/<id>.json)\n"
    "      --finalists N               candidates per problem measured again in the final rounds (default 8)\n"
    "      --rounds N                  final rounds: the finalists and the baselines measured side by side,\n"
    "                                  interleaved; each keeps its median round (default 3; 0 = none)\n"
    "      --mem-limit SIZE            memory a measuring worker may allocate (e.g. 8G; default half of\n"
    "                                  the RAM; none = no limit); past it an allocation fails\n"
    "\n"
    "  bench SPEC [options]            re-measure the shipped winners of this machine (or --set) and\n"
    "                                  the baselines in one run; a machine absent from tuned/ measures\n"
    "                                  the nearest compatible machine's winners (the library's rule;\n"
    "                                  report \"source\": \"nearest\", \"from\": id); exit 1 when none\n"
    "      --tuned DIR                 where the winners are (default tuned): DIR/<kernel>/<id>.json\n"
    "      --strict                    only this machine's own results: exit 1 when tuned/ has none\n"
    "      --set a=1,b=2               measure this variant on every problem instead; repeated, the\n"
    "                                  variants are measured side by side and the fastest is named\n"
    "      --problem NAME              only this problem (repeatable)\n"
    "      --csv F, --json F, --md F   per-measurement CSV; JSON with the autotune JSON's problems\n"
    "                                  keys; Markdown report (environment, tables, findings)\n"
    "      --rounds N                  rounds measuring the variants and baselines side by side; each\n"
    "                                  keeps its median round (default 3)\n"
    "      --events LIST, --cold, --min-time S, --timeout S, --cpu N, --backend B, --jobs N,\n"
    "      --profile F, --quiet        as for tune\n"
    "\n"
    "  verify [SPEC...] [options]      drift of the shipped winners here: re-verify each against its\n"
    "                                  reference, re-measure it beside its baselines, compare with the\n"
    "                                  shipped figures; exit 1 on drift (p50 slower beyond noise and by\n"
    "                                  more than --threshold percent, a winner no longer beating its baseline,\n"
    "                                  accuracy drift beyond 1e-3, a failed verification).  SPECs default\n"
    "                                  to every spec with results in --tuned\n"
    "      --tuned DIR, --strict       as for bench (absent here: the nearest machine's winners, whose\n"
    "                                  figures are not compared)\n"
    "      --site FILE                 the winners of a site file (or any tuned report; one SPEC)\n"
    "      --threshold PCT             slowdown beyond noise that is drift (default 10)\n"
    "      --json F, --md F            the report; measuring options as for bench\n"
    "\n"
    "  compare BASE.json NEW.json [--threshold PCT]\n"
    "                                  regressions of NEW against BASE (autotune or bench JSON): NEW\n"
    "                                  slower beyond noise (CIs apart) and beyond PCT (default 5);\n"
    "                                  exit 1 when any regression, 2 on bad input\n"
    "\n"
    "  plot REPORT.json [-o DIR]       pictures of a report (SVG and PNG, gnuplot): roofline, speedup per\n"
    "                                  problem and baseline, p50 against each swept dimension (log-log),\n"
    "                                  speedup heatmap over two dimensions; default DIR: REPORT's folder\n"
    "                                  + /plots; each chart's .gp and .dat stay beside it\n"
    "\n"
    "  calibrate [-o FILE] [--quick]   the machine profile: peak FLOP/s (FMA microkernel, fp32/fp64, 1..all\n"
    "                                  cores), STREAM bandwidth L1..DRAM, OpenBLAS sgemm (default and\n"
    "                                  SkylakeX dispatch); default FILE tuned/machines/<machine-id>.json\n"
    "      --quick                     a few seconds, fewer sizes, one round (tests)\n"
    "      --rounds N                  peak and bandwidth: at least N rounds (default 4), then more, up\n"
    "                                  to 3N, for the figures no second round came within 2% of\n"
    "      --fusion                    the fusion profile: the fusion specs' problems (fusion.quick, else\n"
    "                                  the first of each pattern) fused (this machine's winner, else the\n"
    "                                  default variant) against unfused in the same rounds, as\n"
    "                                  \"fusion_profiles\" (an existing FILE keeps its other keys; else the\n"
    "                                  whole calibration runs first); prints pattern, CPU speedup, verdict\n"
    "                                  (fuse / avoid: 95% CIs of the medians apart; else neutral)\n"
    "      --full                      with --fusion: every problem of the fusion specs\n"
    "      --spec FILE                 with --fusion: this spec only (repeatable; default: every spec of\n"
    "                                  specs/ with a `fusion` key); the profile's other patterns stay\n"
    "\n"
    "  replay FILE [--strategy S] [--budget N] [--runs R] [--seed S] [--json OUT] [--noise resample|F]\n"
    "              [--batch B]\n"
    "                                  a search strategy's quality on a fully measured space (Kernel Tuner\n"
    "                                  cache file): share of runs within 3% of the optimum per budget\n"
    "  export-cache SPEC --problem P [--db FILE] -o FILE.json[.gz]\n"
    "                                  one problem's measurements as a Kernel Tuner cache file (replayable)\n"
    "\n"
    "  ship [SPEC...] [--tuned DIR] --out DIR\n"
    "                                  the tuned kernels as a C library: a CMake project with kgen/kgen.h,\n"
    "                                  dispatch by machine and shape, find_package(kgen), kgen.pc\n"
    "\n"
    "  merge DB... [--out DIR] [--spec SPEC] [--allow-partial] [--db FILE]\n"
    "                                  combine the shard databases of one run (same spec, template and\n"
    "                                  machine class), run the final rounds on this machine, write\n"
    "                                  OUT/<kernel>/<machine-id>.json as a single run would; a missing\n"
    "                                  or unfinished shard is refused unless --allow-partial\n"
    "      --rounds N, --finalists N, --min-time S, --timeout S, --cpu N, --quiet   as for tune\n"
    "\n"
    "  fleet status [SPEC...] [--tuned DIR]\n"
    "                                  per spec (default specs/*.lua): the machine ids with results in\n"
    "                                  DIR/<kernel>/, their age, kgen version, and whether they are\n"
    "                                  stale against the current spec or template hash\n"
    "\n"
    "  kgen COMMAND --help, kgen --version\n";

/* ---- main ---------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(kg_usage, stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
#ifdef KG_XSMM_MODULE /* LIBXSMM for the templates' baselines (templates/kg_xsmm.h) */
  if (!getenv("KGEN_LIBXSMM") && access(KG_XSMM_MODULE, R_OK) == 0) setenv("KGEN_LIBXSMM", KG_XSMM_MODULE, 0);
#endif
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    fputs(kg_usage, stdout);
    return 0;
  }
  if (!strcmp(cmd, "__sgemm")) /* internal: kgen calibrate's OpenBLAS child (kg_calibrate.h) */
    return kg_calibrate_sgemm_main(argc - 1, argv + 1);
  if (!strcmp(cmd, "--version")) {
    printf("kgen %s\n", KG_VERSION);
    return 0;
  }
  static const struct {
    const char *name;
    int (*fn)(int, char **);
  } cmds[] = {{"list", kg_cli_list},
              {"show", kg_cli_show},
              {"emit", kg_cli_emit},
              {"compile", kg_cli_compile},
              {"tune", kg_cli_tune},
              {"calibrate", kg_cli_calibrate},
              {"bench", kg_cli_bench},
              {"compare", kg_cli_compare},
              {"plot", kg_cli_plot},
              {"verify", kg_cli_verify},
              {"ship", kg_cli_ship},
              {"replay", kg_cli_replay},
              {"export-cache", kg_cli_export_cache},
              {"merge", kg_cli_merge},
              {"fleet", kg_cli_fleet}};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    if (!strcmp(cmd, cmds[i].name)) {
      optind = 1;
      return cmds[i].fn(argc - 1, argv + 1);
    }
  return kg_usage_error("unknown command '%s'", cmd);
}
