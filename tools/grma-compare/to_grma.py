"""`medulla impute` output -> GRMA's imputation file layout.

GRMA reads `ID,GENOTYPE,PROBABILITY,INDEX` lines (integer ids, INDEX counting from 0 per
subject, GENOTYPE a GL String `A*x+A*y^C*..^B*..^DRB1*..^DQB1*..`). Medulla writes
`id,rank,haplotype1,haplotype2,probability` with haplotypes in the set's names; NMDP's `g`
suffix is dropped (GRMA reads the first four digits of each allele).
Usage: to_grma.py MEDULLA_CSV OUT_FILE IDMAP_OUT [CHUNK_DIR_LINES]
"""
import sys

LOCI = ["A", "C", "B", "DRB1", "DQB1"]


def main(src, out, idmap):
    ids = {}
    with open(src) as f, open(out, "w") as o:
        for line in f:
            sid, rank, h1, h2, p = line.strip().split(",")
            n = ids.setdefault(sid, len(ids) + 1)
            a = [x.rstrip("g") for x in h1.split("~")]
            b = [x.rstrip("g") for x in h2.split("~")]
            geno = "^".join(f"{x}+{y}" for x, y in zip(a, b))
            o.write(f"{n},{geno},{p},{int(rank) - 1}\n")
    with open(idmap, "w") as m:
        for sid, n in ids.items():
            m.write(f"{n},{sid}\n")
    print(f"{len(ids)} subjects", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:4])
