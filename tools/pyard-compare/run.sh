#!/usr/bin/env bash
# Compare Medulla's reductions with py-ard 2.4.2 on one IPD-IMGT/HLA release.
#
#   tools/pyard-compare/run.sh [RELEASE_DIR]      (default: data/imgt/3.58.0)
#
# Sets py-ard up offline with ../shared/tools/pyard-offline.sh, writes every allele name,
# XX code and serology name of the release, reduces them with both engines at every level,
# and writes tools/pyard-compare/summary.md and differences.tsv (for the shipped release).
# A dev tool: py-ard is not a dependency of Medulla or of its tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rel_dir=${1:-$root/data/imgt/3.58.0}
version=$(sed -n 's/^# version: IPD-IMGT\/HLA //p' "$rel_dir/release_version.txt")
v=${version//./}
work=${WORK:-/tmp/medulla-pyard-compare-$v}
mkdir -p "$work"
shared=${SHARED:-$root/../shared}
if [ ! -x /tmp/pyard-venv/bin/python ] || [ ! -s /tmp/pyard-data/pyard-$v.sqlite3 ]; then
  bash "$shared/tools/pyard-offline.sh" "$version" /tmp/pyard-venv /tmp/pyard-data
fi
python3 "$here/make_inputs.py" "$rel_dir" > "$work/inputs.txt"
if [ ! -s "$work/pyard.tsv" ]; then
  PYARD_RC=no /tmp/pyard-venv/bin/python "$here/pyard_reference.py" "$v" /tmp/pyard-data \
    < "$work/inputs.txt" > "$work/pyard.tsv"
fi
(cd "$root" && cargo build --release --quiet)
out=$here
[ "$version" = "3.58.0" ] || out=$work
python3 "$here/compare.py" --medulla "$root/target/release/medulla" --imgt "$rel_dir" \
  --inputs "$work/inputs.txt" --pyard "$work/pyard.tsv" \
  --summary "$out/summary-$version.md" --diffs "$out/differences.tsv"
echo "wrote $out/summary-$version.md and $out/differences.tsv"
