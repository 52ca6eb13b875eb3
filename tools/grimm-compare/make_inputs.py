"""Donor CSV (medulla synth) -> ID%GL lines of the donors not typed at high resolution."""
import csv
import sys

LOCI = ["A", "C", "B", "DRB1", "DQB1"]


def high_resolution(t):
    if "*" not in t or "XX" in t or "/" in t:
        return False
    second = t.split("*")[1].split(":")[1] if ":" in t else ""
    return second.isdigit()


def main(pool, n, out):
    written = 0
    with open(pool) as f, open(out, "w") as o:
        for row in csv.DictReader(f):
            typings = [row[f"{l}_{p}"] for l in LOCI for p in (1, 2)]
            if all(high_resolution(t) for t in typings if t):
                continue
            blocks = []
            for l in LOCI:
                pos = [row[f"{l}_{p}"] for p in (1, 2) if row[f"{l}_{p}"]]
                if pos:
                    blocks.append("+".join(pos))
            o.write(f"{row['id']}%{'^'.join(blocks)}\n")
            written += 1
            if written == n:
                break
    print(f"{written} donors written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
