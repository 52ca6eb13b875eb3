#!/usr/bin/env python3
"""Write the 10,000 reduction benchmark inputs (deterministic, seed 2026).

  make_reduce_inputs.py IMGT_DIR MAC_FILE > bench/reduce-inputs.txt

6,000 single typings (4,000 allele names of A, B, C, DRB1, DQB1, DPB1 at 2 to 4 fields,
1,000 MACs, 500 XX codes, 500 serology names) and 4,000 GL Strings (five-locus genotypes,
a quarter of the copies written as MACs). Only inputs valid on the release are kept, so
both engines do the same work.
"""
import os, random, sys

imgt, mac_file = sys.argv[1], sys.argv[2]
rng = random.Random(2026)
loci = ["A", "B", "C", "DRB1", "DQB1", "DPB1"]
alleles = [l.strip().split(",")[1] for l in open(os.path.join(imgt, "Allelelist.txt"))
           if l.startswith("HLA")]
by_locus = {l: [a for a in alleles if a.split("*")[0] == l] for l in loci}
def shorten(a):
    f = a.split(":")
    n = rng.choice([2, 2, 3, 4])
    return ":".join(f[:n]) if n < len(f) else a
two_field = {l: sorted({":".join(a.split(":")[:2]) for a in by_locus[l] if not a.endswith("N")}) for l in loci}

macs = {}
for line in open(mac_file).read().splitlines()[3:]:
    if "\t" in line:
        code, exp = line.split("\t")
        macs[code] = exp.split("/")
generic = [(c, e) for c, e in macs.items() if not any(":" in x for x in e)]
valid2 = {l: set(two_field[l]) for l in loci}
def mac_for(locus):
    for _ in range(1000):
        code, exp = rng.choice(generic)
        ff = rng.choice(sorted({x.split(":")[0].split("*")[1] for x in two_field[locus]}))
        if all(f"{locus}*{ff}:{x}" in valid2[locus] for x in exp):
            return f"{locus}*{ff}:{code}"
    return None

sero = ["A1", "A2", "A3", "A9", "A24", "A11", "A68", "B7", "B8", "B44", "B51", "B35", "B15",
        "B62", "Cw1", "Cw3", "Cw4", "Cw7", "Cw10", "DR1", "DR4", "DR7", "DR15", "DR11", "DR13",
        "DR17", "DQ2", "DQ5", "DQ6", "DQ7", "DQ8"]

out = []
for _ in range(4000):
    out.append(shorten(rng.choice(by_locus[rng.choice(loci)])))
n = 0
while n < 1000:
    m = mac_for(rng.choice(["A", "B", "C", "DRB1", "DQB1"]))
    if m:
        out.append(m); n += 1
ff = {l: sorted({a.split(":")[0] for a in by_locus[l]}) for l in loci}
for _ in range(500):
    out.append(rng.choice(ff[rng.choice(loci)]) + ":XX")
for _ in range(500):
    out.append(rng.choice(sero))
for _ in range(4000):
    parts = []
    for l in ["A", "C", "B", "DRB1", "DQB1"]:
        pair = []
        for _ in range(2):
            if rng.random() < 0.25:
                pair.append(mac_for(l) or rng.choice(two_field[l]))
            else:
                pair.append(rng.choice(two_field[l]))
        parts.append("+".join(pair))
    out.append("^".join(parts))
print("\n".join(out))
