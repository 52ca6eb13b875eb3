#!/usr/bin/env python3
"""Time py-ard 2.4.2 on the reduction benchmark inputs, one pass per reduction type.

  PYARD_RC=no /tmp/pyard-venv/bin/python tools/bench/pyard_bench.py 3580 /tmp/pyard-data \
      bench/reduce-inputs.txt [G,lgx,...]

Prints inputs/second per reduction for the single typings, the GL Strings and all inputs
(one thread; py-ard's lru caches start cold for each reduction type, as their keys include
the type), and the number of errors. Also writes nothing: it only measures.
"""
import sys, time
import pyard

version, data_dir, path = sys.argv[1:4]
types = sys.argv[4].split(",") if len(sys.argv) > 4 else ["G", "P", "lg", "lgx", "W", "exon", "U2", "S"]
ard = pyard.init(version, data_dir=data_dir)
inputs = [l.strip() for l in open(path) if l.strip()]
is_gl = lambda s: any(c in s for c in "/~+|^")
singles = [x for x in inputs if not is_gl(x)]
gls = [x for x in inputs if is_gl(x)]
print(f"{len(inputs)} inputs: {len(singles)} single typings, {len(gls)} GL strings")
print(f"{'redux':6} {'singles/s':>10} {'GL/s':>10} {'all/s':>10} {'errors':>7}")
for t in types:
    ard = pyard.init(version, data_dir=data_dir)  # cold caches for every type
    errors = 0
    times = []
    for group in (singles, gls):
        start = time.perf_counter()
        for x in group:
            try:
                ard.redux(x, t)
            except Exception:
                errors += 1
        times.append(time.perf_counter() - start)
    print(f"{t:6} {len(singles)/times[0]:10.0f} {len(gls)/times[1]:10.0f} {len(inputs)/sum(times):10.0f} {errors:7d}", flush=True)
