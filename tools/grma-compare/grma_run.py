"""Build GRMA's donor graph and search patients; print the timings as JSON.
Usage: grma_run.py DONOR_DIR PATIENTS_FILE [CUTOFF]
"""
import json
import os
import sys
import time

donor_dir, patients = sys.argv[1], sys.argv[2]
cutoff = int(sys.argv[3]) if len(sys.argv) > 3 else 100
from grma.donorsgraph.build_donors_graph import BuildMatchingGraph  # noqa: E402
from grma.match import find_matches  # noqa: E402

t = time.perf_counter()
graph = BuildMatchingGraph(donor_dir).graph
build = time.perf_counter() - t
t = time.perf_counter()
results = find_matches(patients, graph, threshold=0.1, cutoff=cutoff, calculate_time=True)
search = time.perf_counter() - t
times = sorted(v[1] * 1000 for v in results.values())
found = [len(v[0]) for v in results.values()]
q = lambda p: times[min(len(times) - 1, int(p * (len(times) - 1)))]
print(json.dumps({
    "donor_graph_build_s": build,
    "patients": len(times),
    "search_total_s": search,
    "per_patient_ms_p50": q(0.5),
    "per_patient_ms_p95": q(0.95),
    "per_patient_ms_max": times[-1],
    "mean_results": sum(found) / max(1, len(found)),
}))
