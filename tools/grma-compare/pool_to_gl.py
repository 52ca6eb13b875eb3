"""Donor CSV -> ID%GL%POPULATION lines (all donors, or the first N high-resolution)."""
import csv
import sys

LOCI = ["A", "C", "B", "DRB1", "DQB1"]


def high(t):
    return "*" in t and "XX" not in t and ":" in t and t.split(":")[1].isdigit()


def main(pool, out, n_high=None):
    n_high = int(n_high) if n_high else None
    written = 0
    with open(pool) as f, open(out, "w") as o:
        for row in csv.DictReader(f):
            pos = {l: [row[f"{l}_{p}"] for p in (1, 2) if row[f"{l}_{p}"]] for l in LOCI}
            if n_high is not None and not all(len(v) == 2 and all(map(high, v)) for v in pos.values()):
                continue
            gl = "^".join("+".join(v) for v in pos.values() if v)
            o.write(f"{row['id']}%{gl}%{row['population']}\n")
            written += 1
            if n_high is not None and written == n_high:
                break


if __name__ == "__main__":
    main(*sys.argv[1:])
