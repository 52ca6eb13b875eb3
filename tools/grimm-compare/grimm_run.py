"""Run GRIMM on the NMDP 2007 EUR set: build the graph, impute, report the times."""
import json
import os
import sys
import time

work, freqs_csv, inputs = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(work, exist_ok=True)
freq_file = os.path.join(work, "freqs.csv")
with open(freqs_csv) as f, open(freq_file, "w") as o:
    for line in f:
        pop, hap, freq = line.strip().split(",")[:3]
        if pop == "EUR":
            o.write(f"{hap.replace('HLA-', '')},{pop},{freq}\n")

conf = {
    "populations": ["EUR"],
    "priority": {"alpha": 0.4999999, "eta": 0, "beta": 1e-7, "gamma": 1e-7, "delta": 0.4999999},
    "freq_trim_threshold": 1e-7,
    "freq_file": freq_file,
    "graph_files_path": os.path.join(work, "graph") + "/",
    "node_csv_file": "nodes.csv",
    "edges_csv_file": "edges.csv",
    "info_node_csv_file": "info_node.csv",
    "top_links_csv_file": "top_links.csv",
    "imputation_in_file": inputs,
    "imputation_out_path": os.path.join(work, "out") + "/",
    "imputation_out_umug_freq_filename": "umug_freqs.csv",
    "imputation_out_umug_pops_filename": "umug_pops.csv",
    "imputation_out_hap_freq_filename": "hap_freqs.csv",
    "imputation_out_hap_pops_filename": "hap_pops.csv",
    "imputation_out_miss_filename": "miss.csv",
    "imputation_out_problem_filename": "problem.csv",
    "number_of_results": 1000,
    "number_of_pop_results": 100,
    "output_MUUG": False,
    "output_haplotypes": True,
    "planb": os.environ.get("GRIMM_PLANB", "1") == "1",
    "epsilon": 1e-15,
    "max_haplotypes_number_in_phase": 100,
    "number_of_options_threshold": 100000,
    "loci_map": {"A": 1, "B": 3, "C": 2, "DQB1": 4, "DRB1": 5},
}
conf_file = os.path.join(work, "conf.json")
with open(conf_file, "w") as f:
    json.dump(conf, f, indent=1)

from graph_generation import generate_neo4j_multi_hpf  # noqa: E402
from grim.run_impute_def import run_impute  # noqa: E402

sys.argv = ["grimm", "-c", conf_file]
t = time.perf_counter()
generate_neo4j_multi_hpf.generate_graph(config_file=conf_file)
graph = time.perf_counter() - t
t = time.perf_counter()
devnull = open(os.devnull, "w")
stdout, sys.stdout = sys.stdout, devnull
try:
    run_impute(conf_file)
finally:
    sys.stdout = stdout
impute = time.perf_counter() - t
n = sum(1 for _ in open(inputs))
print(json.dumps({"graph_s": graph, "impute_s": impute, "typings": n}))
