#!/usr/bin/env bash
# Medulla vs GRIMM on 10,000 synthetic EUR donors at intermediate resolution.
# Usage: tools/grimm-compare/run.sh [WORKDIR]   (needs /tmp/peers-venv with GRIMM)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${1:-/tmp/grimm-compare}
py=${PEERS_PYTHON:-/tmp/peers-venv/bin/python}
mkdir -p "$work"
cd "$root" && cargo build --release -q
medulla="$root/target/release/medulla"
"$medulla" synth --donors 30000 --seed 2027 --mix EUR=1 --cords 0 --out "$work/pool.csv"
python3 "$here/make_inputs.py" "$work/pool.csv" 10000 "$work/donors.txt"
start=$(date +%s.%N)
"$medulla" impute --population EUR --input "$work/donors.txt" > "$work/medulla.csv"
end=$(date +%s.%N)
medulla_s=$(echo "$end - $start" | bc)
"$medulla" impute --population EUR --input "$work/donors.txt" --convert > "$work/donors-g.txt"
(cd "$work" && "$py" "$here/grimm_run.py" "$work/grimm" "$root/data/haplotypes/nmdp-2007/NMDP_2007_FiveLocus_Freqs.csv" "$work/donors-g.txt") | tail -1 > "$work/grimm-times.json"
python3 - "$work" "$medulla_s" <<'PY'
import json, sys
work, m = sys.argv[1], float(sys.argv[2])
g = json.load(open(f"{work}/grimm-times.json"))
json.dump({"medulla_s": m, "grimm_graph_s": g["graph_s"], "grimm_impute_s": g["impute_s"]}, open(f"{work}/times.json", "w"))
PY
python3 "$here/compare.py" "$work/medulla.csv" "$work/grimm/out/hap_freqs.csv" "$work/donors.txt" "$work/times.json" | tee "$work/report.json"
