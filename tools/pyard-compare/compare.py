#!/usr/bin/env python3
"""Compare `medulla hla reduce` with py-ard's reference output, reduction by reduction.

  compare.py --medulla target/release/medulla --inputs inputs.txt --pyard pyard.tsv \
             [--imgt DIR] [--summary summary.md] [--diffs diffs.tsv]

Results are compared as sets of names (order inside `/` lists ignored). An input is
counted in one category: allele names, XX codes, serology names (as make_inputs.py writes
them: alleles first, then `*:XX`, then serology).
"""
import argparse, collections, os, subprocess, sys

ap = argparse.ArgumentParser()
ap.add_argument("--medulla", required=True)
ap.add_argument("--inputs", required=True)
ap.add_argument("--pyard", required=True)
ap.add_argument("--imgt")
ap.add_argument("--summary")
ap.add_argument("--diffs")
args = ap.parse_args()

inputs = [l.strip() for l in open(args.inputs) if l.strip()]
ref = collections.defaultdict(dict)
for line in open(args.pyard):
    t, i, r = line.rstrip("\n").split("\t")
    ref[t][i] = r

def category(x):
    if x.endswith(":XX"):
        return "XX code"
    if "*" in x:
        return "allele"
    return "serology"

def norm(r):
    if r.startswith("error"):
        return ("error",)
    return frozenset(p for p in r.split("/") if p)

env = dict(os.environ, MEDULLA_QUIET="1")
rows = []
diffs = []
for t in ["G", "P", "lg", "lgx", "W", "exon", "U2", "S"]:
    cmd = [args.medulla, "hla", "reduce", "--to", t]
    if args.imgt:
        cmd += ["--imgt", args.imgt]
    out = subprocess.run(cmd, input="\n".join(inputs) + "\n", capture_output=True, text=True, env=env, check=True).stdout
    ours = {}
    for line in out.splitlines():
        i, _, r = line.partition("\t")
        ours[i] = r
    count = collections.Counter(); same = collections.Counter()
    for x in inputs:
        c = category(x)
        count[c] += 1
        a, b = norm(ours.get(x, "error: missing")), norm(ref[t][x])
        if a == b:
            same[c] += 1
        else:
            only_ours = "/".join(sorted(set(a) - set(b))) or "-"
            only_ref = "/".join(sorted(set(b) - set(a))) or "-"
            diffs.append((t, c, x, only_ours, only_ref))
    total, agree = sum(count.values()), sum(same.values())
    rows.append((t, total, agree, count, same))
    print(f"{t:5} {agree}/{total} = {100*agree/total:.3f}%  " +
          "  ".join(f"{c}: {same[c]}/{count[c]}" for c in ("allele", "XX code", "serology")), flush=True)

if args.summary:
    with open(args.summary, "w") as f:
        f.write("| reduction | inputs | identical | agreement | alleles | XX codes | serology |\n")
        f.write("|---|---:|---:|---:|---:|---:|---:|\n")
        for t, total, agree, count, same in rows:
            f.write(f"| {t} | {total} | {agree} | {100*agree/total:.3f}% | " +
                    " | ".join(f"{same[c]}/{count[c]}" for c in ("allele", "XX code", "serology")) + " |\n")
if args.diffs:
    with open(args.diffs, "w") as f:
        f.write("reduction\tcategory\tinput\tonly_medulla\tonly_pyard\n")
        for d in diffs:
            f.write("\t".join(d) + "\n")
print(f"{len(diffs)} differences", file=sys.stderr)
