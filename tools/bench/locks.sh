#!/usr/bin/env bash
# Does anyone wait on someone else's slow work? Logins and status changes timed (p50, p99)
# against `medulla serve` on loopback: alone, while a client uploads an import at about
# 1 MB/s, and while two clients view a patient's roadmap over and over.
# Usage: tools/bench/locks.sh SERVER_BINARY CLIENT_BINARY [WORKDIR] [DONORS]
#   SERVER_BINARY: the medulla that serves (a build of any version);
#   CLIENT_BINARY: a medulla with `bench-locks` (this version or later).
set -euo pipefail
server=${1:?server binary}
client=${2:?client binary}
work=${3:-/tmp/medulla-bench-locks}
donors=${4:-200000}
port=${PORT:-18431}
export MEDULLA_QUIET=1
rm -rf "$work" && mkdir -p "$work" && cd "$work"
"$client" synth --donors "$donors" --seed 11 --out pool.csv >/dev/null
"$client" synth --donors 60000 --seed 12 --ion 8888 --registry UPLOAD --out upload.csv >/dev/null
"$server" donors import pool.csv --db reg.db >/dev/null
printf 'bench-password-2026\n' | "$server" users add admin --role admin --db reg.db >/dev/null
donor=$(sed -n 2p pool.csv | cut -d, -f1)
patient_typing="A*01:01+A*02:01^B*08:01+B*44:02^C*07:01+C*05:01^DRB1*03:01+DRB1*04:01^DQB1*02:01+DQB1*03:01"
"$server" patients add P1 --typing "$patient_typing" --db reg.db >/dev/null 2>&1
"$server" serve --db reg.db --listen "127.0.0.1:$port" >serve.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  if curl -fsS "http://127.0.0.1:$port/api/v1/health" >/dev/null 2>&1; then break; fi
  sleep 0.5
done
token=$(curl -fsS -X POST -H 'Content-Type: application/json' \
  -d '{"username":"admin","password":"bench-password-2026"}' \
  "http://127.0.0.1:$port/api/v1/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
common=(--url "http://127.0.0.1:$port" --token "$token" --user admin --password bench-password-2026 --donor "$donor" --seconds 20)
echo "== alone"
"$client" bench-locks "${common[@]}"
echo "== while a client uploads an import at 1 MB/s"
"$client" bench-locks "${common[@]}" --import upload.csv --upload-rate 1000000
echo "== while two clients view patient P1's roadmap"
"$client" bench-locks "${common[@]}" --patient P1 --viewers 2
