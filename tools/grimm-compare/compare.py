"""Compare Medulla's and GRIMM's imputations of the same donors."""
import collections
import json
import sys


def norm(h):
    """A haplotype as sorted (locus, allele) with NMDP's g suffix dropped (GRIMM drops it
    and writes its loci in another order)."""
    return tuple(sorted(a.rstrip("g") for a in h.split("~")))


def key(h1, h2):
    a, b = norm(h1), norm(h2)
    return frozenset((a, b)) if a != b else frozenset((a,))


def read_medulla(path):
    out = collections.defaultdict(dict)
    for line in open(path):
        i, _rank, h1, h2, p = line.strip().split(",")
        k = key(h1, h2)
        out[i][k] = out[i].get(k, 0.0) + float(p)
    return out


def read_grimm(path):
    out = collections.defaultdict(dict)
    for line in open(path):
        f = line.strip().split(",")
        i, pair, p = f[0], f[1], float(f[2])
        h1, h2 = pair.split("+")
        k = key(h1, h2)
        out[i][k] = out[i].get(k, 0.0) + p
    for i, d in out.items():
        s = sum(d.values())
        for k in d:
            d[k] /= s
    return out


def main(medulla, grimm, inputs, times):
    m, g = read_medulla(medulla), read_grimm(grimm)
    ids = [l.split("%")[0] for l in open(inputs) if l.strip()]
    both = [i for i in ids if i in m and i in g]
    same_top, diffs, tvds = 0, [], []
    for i in both:
        tm = max(m[i], key=m[i].get)
        tg = max(g[i], key=g[i].get)
        # a tie (equal probabilities up to GRIMM's rounding) counts as the same top
        if tm == tg or abs(m[i][tm] - g[i].get(tm, 0.0)) < 1e-6:
            same_top += 1
        diffs.append(abs(m[i][tm] - g[i].get(tm, 0.0)))
        keys = set(m[i]) | set(g[i])
        tvds.append(0.5 * sum(abs(m[i].get(k, 0.0) - g[i].get(k, 0.0)) for k in keys))
    diffs.sort()
    tvds.sort()
    q = lambda v, p: v[min(len(v) - 1, int(p * (len(v) - 1)))] if v else float("nan")
    t = json.load(open(times))
    report = {
        "typings": len(ids),
        "imputed_by_medulla": sum(1 for i in ids if i in m),
        "imputed_by_grimm": sum(1 for i in ids if i in g),
        "compared": len(both),
        "same_top_genotype": same_top,
        "same_top_share": same_top / max(1, len(both)),
        "top_probability_abs_diff_median": q(diffs, 0.5),
        "top_probability_abs_diff_p95": q(diffs, 0.95),
        "top_probability_abs_diff_max": q(diffs, 1.0),
        "tvd_median": q(tvds, 0.5),
        "tvd_p95": q(tvds, 0.95),
        **t,
    }
    report["speedup_impute"] = t["grimm_impute_s"] / t["medulla_s"]
    report["speedup_with_graph"] = (t["grimm_graph_s"] + t["grimm_impute_s"]) / t["medulla_s"]
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:5])
