#!/usr/bin/env bash
# Install the peer tools Medulla is compared with (GRIMM, GRMA, py-graph-em) into a
# virtual environment, from the package index, when they are run: the repository holds
# only what the project wrote. Usage: tools/peers/setup.sh [VENV]  (default /tmp/peers-venv)
set -euo pipefail
venv=${1:-${PEERS_VENV:-/tmp/peers-venv}}
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import grim" 2>/dev/null; then
  echo "peers already installed in $venv"; exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip setuptools wheel
# GRIMM builds Cython extensions against numpy < 2 (the versions it was released with)
"$venv/bin/pip" install -q "Cython<3" "numpy<2" "networkx<3" toml decorator
"$venv/bin/pip" install -q --no-build-isolation py-graph-imputation py-graph-em
"$venv/bin/pip" install -q pandas py-graph-match || echo "py-graph-match not installed (GRMA comparison only)"
echo "peers installed in $venv"
