#!/bin/sh
# reproducibility.sh - how much kgen's figures move between runs on this machine.
#
#   bench/reproducibility.sh [KGEN]        (KGEN defaults to build/kgen)
#
# 1. `kgen calibrate` three times: spread (max - min) / median of each peak FLOP/s and of the
#    L1, L2, L3 and DRAM copy and triad bandwidths (target: within 5%); a figure that a run's
#    calibrate could not confirm (the machine too noisy to settle it) is named.
# 2. `kgen tune specs/paired_cache.lua` twice into temporary output directories, limited to the
#    problems k16 and k1024 (the smallest and largest active set; the full spec takes too long
#    for a check), then one `kgen bench` per problem re-measures the two runs' winners side by
#    side (`--set W1 --set W2`, interleaved rounds) (target: within 3%).  Two runs may pick
#    different winners that are a statistical tie; that is reported as a tie, not a failure.
# Nothing under tuned/ is touched: every output goes to a temporary directory, removed at the end
# unless KGEN_REPRO_KEEP=1 (then its path is printed).
set -eu
KGEN=${1:-build/kgen}
[ -x "$KGEN" ] || { echo "reproducibility.sh: $KGEN not found (build first)" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/kgen-repro-XXXXXX)
if [ "${KGEN_REPRO_KEEP:-0}" = 1 ]; then echo "outputs kept in $T" >&2; else trap 'rm -rf "$T"' EXIT; fi
export KGEN_ROOT="$ROOT"

echo "== calibrate x3" >&2
for i in 1 2 3; do
  "$KGEN" calibrate --quiet -o "$T/profile$i.json" > "$T/calibrate$i.txt"
done

echo "== tune paired_cache x2 (k16, k1024)" >&2
for i in 1 2; do
  "$KGEN" tune "$ROOT/specs/paired_cache.lua" --problem k16 --problem k1024 --out "$T/tune$i" \
      --db "$T/tune$i.db" --quiet > "$T/tune$i.txt"
done

echo "== bench both runs' winners side by side" >&2
python3 - "$T" > "$T/sets.txt" <<'PY'
import json, sys, glob
t = sys.argv[1]
runs = [json.load(open(glob.glob(f"{t}/tune{i}/paired_cache/*.json")[0])) for i in (1, 2)]
for p1, p2 in zip(runs[0]["problems"], runs[1]["problems"]):
    fmt = lambda p: ",".join(f"{k}={v}" for k, v in p["winner"]["params"].items())
    print(p1["name"], fmt(p1), fmt(p2))
PY
while read -r prob w1 w2; do
  "$KGEN" bench "$ROOT/specs/paired_cache.lua" --problem "$prob" --set "$w1" --set "$w2" --rounds 5 \
      --json "$T/bench_$prob.json" --csv "$T/bench_$prob.csv" --quiet > "$T/bench_$prob.txt"
done < "$T/sets.txt"

python3 - "$T" <<'PY'
import json, sys, glob, statistics
t = sys.argv[1]
profs = [json.load(open(f"{t}/profile{i}.json")) for i in (1, 2, 3)]

def spread(xs):
    xs = [x for x in xs if x is not None]
    m = statistics.median(xs)
    return (max(xs) - min(xs)) / m * 100 if m else float("nan"), xs

def unsettled(entries):
    runs = [str(i + 1) for i, e in enumerate(entries) if e is not None and e.get("confirmed") is False]
    return f"  (not confirmed in run {', '.join(runs)})" if runs else ""

print("calibrate, 3 runs: value per run, spread = (max - min) / median   [target <= 5%]")
print("  rounds per run: " + ", ".join(str(p["bandwidth"].get("rounds")) for p in profs))
worst = 0.0
for prec in ("fp32", "fp64"):
    for k, e in enumerate(profs[0]["peak"][prec]):
        th = e["threads"]
        vals = [next(x.get("gflops") for x in p["peak"][prec] if x["threads"] == th) for p in profs]
        s, v = spread(vals)
        worst = max(worst, s)
        ents = [next(x for x in p["peak"][prec] if x["threads"] == th) for p in profs]
        print(f"  peak {prec} {th} thr       " + "  ".join(f"{x:8.1f}" for x in v) + f"  GF/s  spread {s:5.2f}%"
              + unsettled(ents))

def bw_entry(p, op, level, th):
    xs = [r for r in p["bandwidth"]["results"]
          if r["op"] == op and r["level"] == level and r["threads"] == th and "gbps" in r]
    return max(xs, key=lambda r: r["gbps"]) if xs else None

def bw(p, op, level, th):
    e = bw_entry(p, op, level, th)
    return e["gbps"] if e else None


cores = profs[0]["machine"]["cores"]
for level in ("l1", "l2", "l3", "dram"):
    for op in ("copy", "triad"):
        for th in sorted({1, cores}):
            vals = [bw(p, op, level, th) for p in profs]
            if None in vals:
                continue
            s, v = spread(vals)
            worst = max(worst, s)
            print(f"  {op:5s} {level:4s} {th} thr   " + "  ".join(f"{x:8.1f}" for x in v) + f"  GB/s  spread {s:5.2f}%"
                  + unsettled([bw_entry(p, op, level, th) for p in profs]))
print(f"  worst spread {worst:.2f}% -> {'OK' if worst <= 5 else 'ABOVE 5%'}")

def sg(p, ct, n, th):
    for r in p["sgemm"]["results"]:
        if r.get("coretype") == ct and r.get("n") == n and r.get("threads") == th:
            return r.get("gflops")
print("  sgemm n=1024 (GF/s):", ", ".join(
    f"{ct} {th} thr {sg(profs[0], ct, 1024, th) or float('nan'):.0f}"
    for ct in ("default", "SkylakeX") for th in sorted({1, cores})))

tunes = [json.load(open(glob.glob(f"{t}/tune{i}/paired_cache/*.json")[0])) for i in (1, 2)]
print("\ntune x2; the two winners re-measured side by side by one kgen bench per problem (5 rounds)")
print("   [target: within 3%; different winners that tie are fine]")
print(f"  {'problem':8s} {'run1 winner':34s} {'run2 winner':34s} {'bench1':>10s} {'bench2':>10s} {'diff':>7s}  verdict")
worst = 0.0
fmt = lambda p: ",".join(f"{k}={v}" for k, v in p.items())
for t1, t2 in zip(tunes[0]["problems"], tunes[1]["problems"]):
    name = t1["name"]
    b = json.load(open(f"{t}/bench_{name}.json"))["problems"][0]
    w1, w2 = t1["winner"]["params"], t2["winner"]["params"]
    meas = {json.dumps(x["params"], sort_keys=True): x for x in b["top"]}
    m1, m2 = meas[json.dumps(w1, sort_keys=True)], meas[json.dumps(w2, sort_keys=True)]
    d = (m2["p50_ns"] / m1["p50_ns"] - 1) * 100
    tie = not (m1["ci95_ns"][1] < m2["ci95_ns"][0] or m2["ci95_ns"][1] < m1["ci95_ns"][0])
    same = w1 == w2
    verdict = "same winner" if same else "different winners" + ("; statistical tie" if tie else "")
    if abs(d) <= 3:
        verdict += "; within 3%"
    elif not tie:
        verdict += "; ABOVE 3%"
    if not same:
        worst = max(worst, abs(d))
    print(f"  {name:8s} {fmt(w1):34s} {fmt(w2):34s} {m1['p50_ns']/1e3:8.2f}us {m2['p50_ns']/1e3:8.2f}us {d:+6.2f}%  {verdict}")
    noisy = [i + 1 for i, x in enumerate((t1, t2)) if x.get("noisy")]
    print(f"  {'':8s} tune-time p50 {t1['winner']['p50_ns']/1e3:.2f}us / {t2['winner']['p50_ns']/1e3:.2f}us"
          f" (tune-to-tune {abs(t2['winner']['p50_ns'] / t1['winner']['p50_ns'] - 1) * 100:.1f}%);"
          f" speedup vs baseline in the bench {b['speedup']:.2f}x;"
          f" {'run ' + ' and '.join(map(str, noisy)) + ' flagged the winner noisy' if noisy else 'neither run flagged noise'}")
    print(f"  {'':8s} bench: " + "; ".join(f"{fmt(x['params']) if not same else 'winner'} {x['p50_ns']/1e3:.2f}us"
          f" (CI {x['ci95_ns'][0]/1e3:.2f}-{x['ci95_ns'][1]/1e3:.2f}, {x['rounds']} rounds)" for x in b["top"][:2]))
print(f"  worst difference between the two runs' winners {worst:.2f}% -> {'OK' if worst <= 3 else 'ABOVE 3% (see verdicts)'}")
PY
