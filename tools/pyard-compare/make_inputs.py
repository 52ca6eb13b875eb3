#!/usr/bin/env python3
"""Write the comparison inputs for one IPD-IMGT/HLA release folder.

Every allele name of Allelelist.txt, every XX code (locus and first field of an
allele), and every serology name that rel_dna_ser.txt or rel_ser_ser.txt mentions.
Usage: make_inputs.py IMGT_DIR > inputs.txt
"""
import sys, os

d = sys.argv[1]
alleles = []
for line in open(os.path.join(d, "Allelelist.txt")):
    if line.startswith("#") or line.startswith("AlleleID"):
        continue
    alleles.append(line.strip().split(",")[1])

xx = []
seen = set()
for a in alleles:
    locus, fields = a.split("*")
    code = f"{locus}*{fields.split(':')[0]}:XX"
    if code not in seen:
        seen.add(code)
        xx.append(code)

# serology: locus prefix as written by WMDA (A, B, Cw, DR, DQ, DP)
sero_prefix = {"A*": "A", "B*": "B", "C*": "Cw", "DRB1*": "DR", "DRB3*": "DR", "DRB4*": "DR",
               "DRB5*": "DR", "DQB1*": "DQ", "DPB1*": "DP"}
sero = []
seen = set()
def add(s):
    if s not in seen:
        seen.add(s); sero.append(s)
for line in open(os.path.join(d, "wmda", "rel_dna_ser.txt")):
    if line.startswith("#"):
        continue
    f = line.rstrip("\n").split(";")
    p = sero_prefix.get(f[0])
    if not p:
        continue
    for col in f[2:6]:
        for s in col.split("/"):
            if s and s not in ("0", "?"):
                add(p + s)
rs_prefix = {"A": "A", "B": "B", "Cw": "Cw", "DR": "DR", "DQ": "DQ"}
for line in open(os.path.join(d, "wmda", "rel_ser_ser.txt")):
    if line.startswith("#"):
        continue
    f = line.rstrip("\n").split(";")
    p = rs_prefix.get(f[0])
    if not p:
        continue
    add(p + f[1])
    for col in f[2:4]:
        for s in col.split("/"):
            if s:
                add(p + s)

# the WHO public and cellular specificities (valid names without alleles)
for w in ["Bw4", "Bw6"] + [f"Dw{i}" for i in range(1, 27)] + [f"DPw{i}" for i in range(1, 7)]:
    add(w)

for x in alleles + xx + sero:
    print(x)
print(f"{len(alleles)} alleles, {len(xx)} XX codes, {len(sero)} serology names", file=sys.stderr)
