#!/usr/bin/env python3
"""Reduce every input line with py-ard (strict mode) for every reduction type.

Run with the interpreter of the virtualenv made by shared/tools/pyard-offline.sh:
  PYARD_RC=no /tmp/pyard-venv/bin/python pyard_reference.py 3580 /tmp/pyard-data < inputs.txt > pyard.tsv
Output: TYPE<TAB>INPUT<TAB>RESULT, RESULT being `error: ...` when py-ard raises.
"""
import sys
import pyard

version, data_dir = sys.argv[1], sys.argv[2]
types = sys.argv[3].split(",") if len(sys.argv) > 3 else ["G", "P", "lg", "lgx", "W", "exon", "U2", "S"]
ard = pyard.init(version, data_dir=data_dir)
inputs = [l.strip() for l in sys.stdin if l.strip()]
out = sys.stdout
for t in types:
    for i, x in enumerate(inputs):
        try:
            r = ard.redux(x, t)
        except Exception as e:  # py-ard raises InvalidAlleleError and others
            r = "error: " + type(e).__name__
        out.write(f"{t}\t{x}\t{r}\n")
    print(f"done {t}", file=sys.stderr, flush=True)
