#!/usr/bin/env bash
# Medulla vs GRIMM on 10,000 synthetic EUR donors at intermediate resolution.
# Usage: tools/grimm-compare/run.sh [WORKDIR]   (installs GRIMM into /tmp/peers-venv when missing)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${1:-/tmp/grimm-compare}
py=${PEERS_PYTHON:-/tmp/peers-venv/bin/python}
[ -n "${PEERS_PYTHON:-}" ] || "$root/tools/peers/setup.sh" /tmp/peers-venv
mkdir -p "$work"
cd "$root" && cargo build --release -q
medulla="$root/target/release/medulla"
"$medulla" synth --donors 30000 --seed 2027 --mix EUR=1 --cords 0 --out "$work/pool.csv"
python3 "$here/make_inputs.py" "$work/pool.csv" 10000 "$work/donors.txt"
start=$(date +%s.%N)
"$medulla" impute --population EUR --input "$work/donors.txt" > "$work/medulla.csv"
end=$(date +%s.%N)
medulla_s=$(python3 -c "print($end - $start)")
"$medulla" impute --population EUR --input "$work/donors.txt" --convert > "$work/donors-g.txt"
for planb in 0 1; do
  (cd "$work" && GRIMM_PLANB=$planb "$py" "$here/grimm_run.py" "$work/grimm-planb$planb" "$root/data/haplotypes/nmdp-2007/NMDP_2007_FiveLocus_Freqs.csv" "$work/donors-g.txt") | tail -1 > "$work/grimm-times-$planb.json"
  python3 - "$work" "$medulla_s" "$planb" <<'PY'
import json, sys
work, m, b = sys.argv[1], float(sys.argv[2]), sys.argv[3]
g = json.load(open(f"{work}/grimm-times-{b}.json"))
json.dump({"medulla_s": m, "grimm_graph_s": g["graph_s"], "grimm_impute_s": g["impute_s"]}, open(f"{work}/times-{b}.json", "w"))
PY
  echo "GRIMM plan B $([ $planb = 1 ] && echo on || echo off):"
  python3 "$here/compare.py" "$work/medulla.csv" "$work/grimm-planb$planb/out/hap_freqs.csv" "$work/donors.txt" "$work/times-$planb.json" | tee "$work/report-planb$planb.json"
done
