//! The assignment: feasible inheritance vectors per locus, the fewest recombinations over
//! the loci, and what every optimal answer agrees on.

use crate::read::{FamilyTyping, Interner, FAMILY_LOCI};
use crate::{FamilyAssignment, FamilyError, Member, MemberAssignment, Relation, Status};

/// Patient and full siblings assigned together at most.
pub const MAX_KIDS: usize = 8;
/// Optimal assignments examined at most.
const MAX_PATHS: usize = 4096;
const INF: u8 = u8::MAX;

/// Haplotype frequencies of a population, to weigh assignments the typings leave open.
pub trait FrequencyModel {
    /// The frequency of a haplotype known at some loci (allele-id sets by the index of
    /// [`FAMILY_LOCI`]; `None`: unknown there).
    fn frequency(&self, haplotype: &[Option<&[u32]>; 11]) -> f64;
}

/// What a parental haplotype holds at a locus.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Val {
    /// No typing constrains it.
    Free,
    Set(Vec<u32>),
}

/// The common elements of two sorted sets (linear merge: typings at low resolution hold
/// hundreds of alleles).
fn sorted_intersection(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn intersect(v: &Val, s: &[u32]) -> Option<Val> {
    match v {
        Val::Free => Some(Val::Set(s.to_vec())),
        Val::Set(t) => {
            let i = sorted_intersection(t, s);
            (!i.is_empty()).then_some(Val::Set(i))
        }
    }
}

fn merge(into: &mut Val, from: &Val) {
    match (&mut *into, from) {
        (Val::Free, _) => {}
        (_, Val::Free) => *into = Val::Free,
        (Val::Set(a), Val::Set(b)) => {
            if a != b {
                let mut u = Vec::with_capacity(a.len() + b.len());
                let (mut i, mut j) = (0, 0);
                while i < a.len() || j < b.len() {
                    if j == b.len() || (i < a.len() && a[i] < b[j]) {
                        u.push(a[i]);
                        i += 1;
                    } else if i == a.len() || b[j] < a[i] {
                        u.push(b[j]);
                        j += 1;
                    } else {
                        u.push(a[i]);
                        i += 1;
                        j += 1;
                    }
                }
                *a = u;
            }
        }
    }
}

type Vars = [Val; 4];
type Constraint<'a> = (usize, usize, &'a [u32], &'a [u32]);

/// The core of a family: parents and the patient with full siblings.
struct Core<'a> {
    father: Option<&'a FamilyTyping>,
    mother: Option<&'a FamilyTyping>,
    /// Patient first, then the full siblings typed somewhere.
    kids: Vec<&'a Member>,
}

impl<'a> Core<'a> {
    fn constraints(&self, l: usize, v: u32) -> Vec<Constraint<'a>> {
        let mut out = Vec::new();
        if let Some([s1, s2]) = self.father.and_then(|t| t.loci[l].as_ref()) {
            out.push((0, 1, s1.as_slice(), s2.as_slice()));
        }
        if let Some([s1, s2]) = self.mother.and_then(|t| t.loci[l].as_ref()) {
            out.push((2, 3, s1.as_slice(), s2.as_slice()));
        }
        for (k, kid) in self.kids.iter().enumerate() {
            if let Some([s1, s2]) = kid.typing.loci[l].as_ref() {
                let p = ((v >> (2 * k)) & 1) as usize;
                let m = 2 + ((v >> (2 * k + 1)) & 1) as usize;
                out.push((p, m, s1.as_slice(), s2.as_slice()));
            }
        }
        out
    }

    /// The allele sets every solution allows (merged), or `None` when the vector is
    /// infeasible at the locus; with `first`, stop at the first solution.
    fn solve(&self, l: usize, v: u32, first: bool) -> Option<Vars> {
        let cons = self.constraints(l, v);
        let mut state: Vars = [Val::Free, Val::Free, Val::Free, Val::Free];
        let mut out: Option<Vars> = None;
        dfs(&cons, 0, &mut state, &mut out, first);
        out
    }
}

impl Core<'_> {
    /// Every distinct solution at a locus (not merged), at most `cap`.
    fn solve_all(&self, l: usize, v: u32, cap: usize) -> Vec<Vars> {
        let cons = self.constraints(l, v);
        let mut state: Vars = [Val::Free, Val::Free, Val::Free, Val::Free];
        let mut out = Vec::new();
        all(&cons, 0, &mut state, &mut out, cap);
        out
    }
}

fn all(cons: &[Constraint<'_>], i: usize, state: &mut Vars, out: &mut Vec<Vars>, cap: usize) {
    if out.len() >= cap {
        return;
    }
    if i == cons.len() {
        if !out.contains(state) {
            out.push(state.clone());
        }
        return;
    }
    let (x, y, s1, s2) = cons[i];
    let orders: &[(&[u32], &[u32])] = if s1 == s2 {
        &[(s1, s2)]
    } else {
        &[(s1, s2), (s2, s1)]
    };
    for &(p, q) in orders {
        let (Some(nx), Some(ny)) = (intersect(&state[x], p), intersect(&state[y], q)) else {
            continue;
        };
        let ox = std::mem::replace(&mut state[x], nx);
        let oy = std::mem::replace(&mut state[y], ny);
        all(cons, i + 1, state, out, cap);
        state[x] = ox;
        state[y] = oy;
    }
}

fn dfs(
    cons: &[Constraint<'_>],
    i: usize,
    state: &mut Vars,
    out: &mut Option<Vars>,
    first: bool,
) -> bool {
    if i == cons.len() {
        match out {
            None => *out = Some(state.clone()),
            Some(o) => {
                for (a, b) in o.iter_mut().zip(state.iter()) {
                    merge(a, b);
                }
            }
        }
        return first;
    }
    let (x, y, s1, s2) = cons[i];
    let orders: &[(&[u32], &[u32])] = if s1 == s2 {
        &[(s1, s2)]
    } else {
        &[(s1, s2), (s2, s1)]
    };
    for &(p, q) in orders {
        let (Some(nx), Some(ny)) = (intersect(&state[x], p), intersect(&state[y], q)) else {
            continue;
        };
        let ox = std::mem::replace(&mut state[x], nx);
        let oy = std::mem::replace(&mut state[y], ny);
        let stop = dfs(cons, i + 1, state, out, first);
        state[x] = ox;
        state[y] = oy;
        if stop {
            return true;
        }
    }
    false
}

fn bits(v: u32, k: usize) -> u32 {
    (v >> (2 * k)) & 3
}

/// Names of a set, in the nomenclature's natural order, as an allele list.
fn names(interner: &Interner, s: &[u32]) -> String {
    let mut n: Vec<&str> = s.iter().map(|&i| interner.name(i)).collect();
    n.sort_by(|a, b| medulla_nomenclature::name::natural_cmp(a, b));
    n.join("/")
}

fn haplotype_text(interner: &Interner, loci: &[usize], vals: &[&Val]) -> String {
    loci.iter()
        .zip(vals)
        .filter_map(|(_, v)| match v {
            Val::Set(s) => Some(names(interner, s)),
            Val::Free => None,
        })
        .collect::<Vec<_>>()
        .join("~")
}

/// Positions of a member compatible with a haplotype (every typed locus shares an allele
/// with one of the member's positions).
fn carries(t: &FamilyTyping, loci: &[usize], hap: &[&Val]) -> bool {
    loci.iter().zip(hap).all(|(&l, v)| match (v, &t.loci[l]) {
        (Val::Set(h), Some([s1, s2])) => h.iter().any(|x| s1.contains(x) || s2.contains(x)),
        _ => true,
    })
}

fn same_typing(a: &FamilyTyping, b: &FamilyTyping) -> bool {
    let mut shared = 0;
    for (x, y) in a.loci.iter().zip(&b.loci) {
        if let (Some([a1, a2]), Some([b1, b2])) = (x, y) {
            shared += 1;
            let fits = |p: &Vec<u32>, q: &Vec<u32>| p.iter().any(|z| q.contains(z));
            if !((fits(a1, b1) && fits(a2, b2)) || (fits(a1, b2) && fits(a2, b1))) {
                return false;
            }
        }
    }
    shared > 0
}

/// Assign one family's haplotypes. `model` weighs what the typings leave open.
pub fn assign(
    family: &str,
    members: &[Member],
    interner: &Interner,
    model: Option<&dyn FrequencyModel>,
) -> Result<FamilyAssignment, FamilyError> {
    let of = |r: Relation| members.iter().filter(move |m| m.relation == r);
    let patients: Vec<&Member> = of(Relation::Patient).collect();
    let patient = match patients.as_slice() {
        [] => {
            return Err(FamilyError::NoPatient {
                family: family.into(),
            })
        }
        [p] => *p,
        many => {
            return Err(FamilyError::ManyPatients {
                family: family.into(),
                count: many.len(),
            })
        }
    };
    let one = |r: Relation, name: &'static str| -> Result<Option<&Member>, FamilyError> {
        let v: Vec<&Member> = of(r).collect();
        if v.len() > 1 {
            return Err(FamilyError::ManyParents {
                family: family.into(),
                relation: name,
            });
        }
        Ok(v.first().copied())
    };
    let father = one(Relation::Father, "father")?;
    let mother = one(Relation::Mother, "mother")?;
    let mut notes: Vec<String> = Vec::new();
    let mut kids: Vec<&Member> = vec![patient];
    for s in of(Relation::Sibling) {
        if s.typing.is_empty() {
            notes.push(format!("sibling {} is not typed: worth typing", s.id));
        } else {
            kids.push(s);
        }
    }
    if kids.len() > MAX_KIDS {
        return Err(FamilyError::TooManySiblings {
            family: family.into(),
            count: kids.len() - 1,
            max: MAX_KIDS - 1,
        });
    }
    let ftyp = father.map(|m| &m.typing).filter(|t| !t.is_empty());
    let mtyp = mother.map(|m| &m.typing).filter(|t| !t.is_empty());
    for (who, t) in [("father", ftyp), ("mother", mtyp)] {
        if t.is_none() {
            notes.push(format!(
                "the {who} is not typed: {} haplotypes are inferred from the children",
                if who == "father" { "his" } else { "her" }
            ));
        }
    }
    let loci: Vec<usize> = (0..FAMILY_LOCI.len())
        .filter(|&l| {
            ftyp.is_some_and(|t| t.loci[l].is_some())
                || mtyp.is_some_and(|t| t.loci[l].is_some())
                || kids.iter().any(|k| k.typing.loci[l].is_some())
        })
        .collect();
    let core = Core {
        father: ftyp,
        mother: mtyp,
        kids: kids.clone(),
    };
    let mut result = FamilyAssignment {
        family: family.into(),
        status: Status::Ok,
        identical_siblings: Vec::new(),
        haploidentical: Vec::new(),
        members: Vec::new(),
        notes: Vec::new(),
        identical_by_typing: Vec::new(),
        probability: None,
    };
    if patient.typing.is_empty() || loci.is_empty() {
        notes.push("the patient is not typed: nothing to assign".into());
        result.status = Status::Inconsistent;
        result.notes = notes;
        return Ok(result);
    }

    // feasible vectors and the fewest recombinations, locus by locus
    let nb = 2 * kids.len();
    let size = 1usize << nb;
    let mut cost: Vec<Vec<u8>> = Vec::with_capacity(loci.len());
    for (li, &l) in loci.iter().enumerate() {
        let mut c = vec![INF; size];
        let prev = li.checked_sub(1).map(|p| {
            let mut d = cost[p].clone();
            for b in 0..nb {
                for w in 0..size {
                    let alt = d[w ^ (1 << b)].saturating_add(1);
                    if alt < d[w] {
                        d[w] = alt;
                    }
                }
            }
            d
        });
        let mut any = false;
        for w in 0..size {
            if li == 0 && w & 3 != 0 {
                continue; // `a` and `c` are what the patient carries at the first locus
            }
            let base = match &prev {
                Some(d) => d[w],
                None => 0,
            };
            if base == INF {
                continue;
            }
            if core.solve(l, w as u32, true).is_some() {
                c[w] = base;
                any = true;
            }
        }
        if !any {
            let (why, culprits) = explain_locus(&core, l, interner, father, mother);
            if !culprits.is_empty() && !culprits.contains(&patient.id) {
                // assign the rest of the family without the members who cannot belong
                let rest: Vec<Member> = members
                    .iter()
                    .filter(|m| !culprits.contains(&m.id))
                    .cloned()
                    .collect();
                let mut r = assign(family, &rest, interner, model)?;
                r.status = Status::Inconsistent;
                let mut n = why;
                n.push(format!("assigned without {}", culprits.join(", ")));
                n.append(&mut r.notes);
                r.notes = n;
                r.identical_by_typing.clear();
                let mut all = unassigned(members);
                for m in &mut all {
                    if let Some(done) = r.members.iter().find(|x| x.member == m.member) {
                        *m = done.clone();
                    }
                }
                r.members = all;
                return Ok(r);
            }
            result.status = Status::Inconsistent;
            notes.extend(why);
            result.notes = notes;
            result.members = unassigned(members);
            return Ok(result);
        }
        cost.push(c);
    }
    let last = cost.last().expect("at least one locus");
    let best = *last.iter().min().expect("non-empty");
    // with both parents typed a second crossover is believable (a swapped sample shows
    // as an allele neither parent has); from the children alone it is not
    let max_recombinations = if ftyp.is_some() && mtyp.is_some() {
        2
    } else {
        1
    };
    if best > max_recombinations {
        result.status = Status::Inconsistent;
        notes.push(format!(
            "the typings need {best} recombinations: more likely a sample swap, non-paternity \
             or a typing error"
        ));
        result.notes = notes;
        result.members = unassigned(members);
        return Ok(result);
    }

    // every optimal sequence of vectors
    let mut paths: Vec<Vec<u32>> = Vec::new();
    for (w, &c) in last.iter().enumerate() {
        if c == best {
            back(
                &cost,
                loci.len() - 1,
                w,
                &mut vec![w as u32],
                &mut paths,
                nb,
            );
            if paths.len() >= MAX_PATHS {
                break;
            }
        }
    }
    // the parental haplotypes of each path
    let solved: Vec<Vec<Vars>> = paths
        .iter()
        .map(|p| {
            loci.iter()
                .zip(p.iter().rev())
                .map(|(&l, &v)| core.solve(l, v, false).expect("feasible"))
                .collect()
        })
        .collect();
    // paths in locus order
    let paths: Vec<Vec<u32>> = paths
        .into_iter()
        .map(|mut p| {
            p.reverse();
            p
        })
        .collect();

    // weigh the paths by haplotype frequencies when they disagree
    let mut chosen = 0;
    let mut weights: Vec<f64> = Vec::new();
    // what an answer says: each sibling identical / sharing one haplotype / none, and the
    // parental haplotypes; with both parents untyped, father and mother cannot be told
    // apart, so the two parents' pairs are compared unordered
    let parents_untyped = ftyp.is_none() && mtyp.is_none();
    let signature = |pi: usize| -> (Vec<u8>, Vec<Vec<String>>) {
        let sig = (1..kids.len())
            .map(|k| {
                let same_p = paths[pi].iter().all(|&v| bits(v, k) & 1 == bits(v, 0) & 1);
                let same_m = paths[pi].iter().all(|&v| bits(v, k) & 2 == bits(v, 0) & 2);
                match (same_p, same_m) {
                    (true, true) => 2,
                    (false, false) => 0,
                    _ if parents_untyped => 1,
                    (true, false) => 3,
                    (false, true) => 4,
                }
            })
            .collect();
        let text = |h: usize| {
            let vals: Vec<&Val> = solved[pi].iter().map(|vars| &vars[h]).collect();
            haplotype_text(interner, &loci, &vals)
        };
        let mut pairs = vec![vec![text(0), text(1)], vec![text(2), text(3)]];
        if parents_untyped {
            for p in &mut pairs {
                p.sort();
            }
            pairs.sort();
        }
        (sig, pairs)
    };
    let first_sig = signature(0);
    let disagree = (1..paths.len()).any(|p| signature(p) != first_sig);
    // the patient's phase within the first path: resolved when every solution at a locus
    // gives the patient's paternal haplotype the same alleles
    let unphased_in = |p: &[u32]| -> Vec<&'static str> {
        loci.iter()
            .zip(p)
            .filter(|&(&l, &v)| {
                let sols = core.solve_all(l, v, 16);
                let pat = (bits(v, 0) & 1) as usize;
                sols.iter().any(|s| s[pat] != sols[0][pat])
            })
            .map(|(&l, _)| FAMILY_LOCI[l])
            .collect()
    };
    // the output haplotypes: merged sets, or the most probable combination of each
    // locus's solutions when frequencies weigh them
    let mut chosen_vars: Option<Vec<Vars>> = None;
    if disagree || !unphased_in(&paths[0]).is_empty() {
        if let Some(model) = model {
            let mut memo: rustc_hash::FxHashMap<Vec<Option<Vec<u32>>>, f64> = Default::default();
            let mut best_of_path: Vec<(f64, Vec<Vars>)> = Vec::new();
            // each path's weight: over every way its loci's solutions combine (at most
            // 256), the product of the four parental haplotypes' frequencies
            weights = paths
                .iter()
                .map(|p| {
                    let per_locus: Vec<Vec<Vars>> = loci
                        .iter()
                        .zip(p)
                        .map(|(&l, &v)| core.solve_all(l, v, 16))
                        .collect();
                    let mut total = 0.0;
                    let mut best = (-1.0, Vec::new());
                    let mut combo = vec![0usize; loci.len()];
                    let mut count = 0;
                    'combos: loop {
                        let w = (0..4)
                            .map(|h| {
                                let mut hap: [Option<&[u32]>; 11] = [None; 11];
                                for (li, &l) in loci.iter().enumerate() {
                                    if let Val::Set(s) = &per_locus[li][combo[li]][h] {
                                        hap[l] = Some(s.as_slice());
                                    }
                                }
                                if hap.iter().all(Option::is_none) {
                                    1.0
                                } else {
                                    let key: Vec<Option<Vec<u32>>> =
                                        hap.iter().map(|x| x.map(<[u32]>::to_vec)).collect();
                                    *memo
                                        .entry(key)
                                        .or_insert_with(|| model.frequency(&hap).max(1e-9))
                                }
                            })
                            .product::<f64>();
                        total += w;
                        if w > best.0 {
                            best = (
                                w,
                                combo
                                    .iter()
                                    .enumerate()
                                    .map(|(li, &c)| per_locus[li][c].clone())
                                    .collect(),
                            );
                        }
                        count += 1;
                        if count >= 256 {
                            break;
                        }
                        for li in 0..loci.len() {
                            combo[li] += 1;
                            if combo[li] < per_locus[li].len() {
                                continue 'combos;
                            }
                            combo[li] = 0;
                        }
                        break;
                    }
                    best_of_path.push(best);
                    total
                })
                .collect();
            let total: f64 = weights.iter().sum();
            chosen = weights
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i);
            if total > 0.0 {
                // with both parents untyped every answer has a mirror (father and mother
                // exchanged) of the same weight: the same answer, counted once more
                let mirror = if parents_untyped { 2.0 } else { 1.0 };
                result.probability = Some((mirror * best_of_path[chosen].0 / total).min(1.0));
            }
            chosen_vars = Some(std::mem::take(&mut best_of_path[chosen].1));
        }
    }
    let path = &paths[chosen];
    let vars: &Vec<Vars> = match &chosen_vars {
        Some(v) => v,
        None => &solved[chosen],
    };
    let unphased = unphased_in(path);
    if !unphased.is_empty() {
        notes.push(format!(
            "the patient's haplotypes are not resolved at {} by the typings: {}",
            unphased.join(", "),
            if chosen_vars.is_some() {
                "the most probable phase by the population's haplotype frequencies is given"
            } else {
                "either phase fits (type the parents or more siblings)"
            }
        ));
    }

    // siblings: identical and haploidentical over every optimal path
    for (k, kid) in kids.iter().enumerate().skip(1) {
        let over = |f: &dyn Fn(&[u32]) -> bool| paths.iter().map(|p| f(p)).collect::<Vec<bool>>();
        let ident = over(&|p: &[u32]| p.iter().all(|&v| bits(v, k) == bits(v, 0)));
        let half = over(&|p: &[u32]| {
            let sp = p.iter().all(|&v| bits(v, k) & 1 == bits(v, 0) & 1);
            let sm = p.iter().all(|&v| bits(v, k) & 2 == bits(v, 0) & 2);
            sp != sm
        });
        let id = &kid.id;
        // the probability that the sibling is identical, over the weighed assignments
        let p_ident = (!weights.is_empty()).then(|| {
            let total: f64 = weights.iter().sum();
            let yes: f64 = weights
                .iter()
                .zip(&ident)
                .filter(|(_, &i)| i)
                .map(|(w, _)| w)
                .sum();
            if total > 0.0 {
                yes / total
            } else {
                0.0
            }
        });
        // descent is proven only where each parent's two haplotypes are told apart: at a
        // locus where their allele sets overlap (an ambiguous typing, or the same allele
        // only at low resolution) a crossover would not show
        // descent is proven only where the sibling's typing tells the patient's haplotype
        // from the parent's other one: at a locus where the sibling would fit the other
        // haplotype too (after a crossover there), with an allele not surely the
        // patient's, it is not
        let blurred: Vec<&str> = if ident.iter().all(|&x| x) {
            loci.iter()
                .zip(&paths[chosen])
                .filter(|&(&l, &v)| {
                    [1u32, 2].iter().any(|&side| {
                        let w = v ^ (side << (2 * k));
                        let var = |v: u32, who: usize| -> usize {
                            if side == 1 {
                                (bits(v, who) & 1) as usize
                            } else {
                                2 + ((bits(v, who) & 2) >> 1) as usize
                            }
                        };
                        core.solve_all(l, w, 16).iter().any(|sol| {
                            match (&sol[var(w, k)], &sol[var(w, 0)]) {
                                (Val::Set(p), Val::Set(q)) => !(p.len() == 1 && p == q),
                                _ => true,
                            }
                        })
                    })
                })
                .map(|(&l, _)| FAMILY_LOCI[l])
                .collect()
        } else {
            Vec::new()
        };
        if ident.iter().all(|&x| x) && !blurred.is_empty() {
            result.identical_by_typing.push(id.clone());
            notes.push(format!(
                "sibling {id} carries the patient's haplotypes as far as the typings tell, but a \
                 parent's two haplotypes cannot be told apart at {} at this resolution: \
                 identity by descent is not proven (type at higher resolution)",
                blurred.join(", ")
            ));
        } else if ident.iter().all(|&x| x) {
            result.identical_siblings.push(id.clone());
        } else if ident.iter().any(|&x| x) || same_typing(&kid.typing, &patient.typing) {
            result.identical_by_typing.push(id.clone());
            notes.push(format!(
                "sibling {id} is HLA-identical to the patient by typing but not provably by \
                 descent{}",
                match p_ident {
                    Some(p) if ident[chosen] => format!(
                        " (most probable assignment: identical; probability identical {p:.3} by \
                         the population's haplotype frequencies)"
                    ),
                    Some(p) => format!(
                        " (most probable assignment: not identical; probability identical \
                         {p:.3} by the population's haplotype frequencies)"
                    ),
                    None => String::new(),
                }
            ));
        } else if half.iter().all(|&x| x) {
            result.haploidentical.push(id.clone());
        }
    }
    // parental haplotypes that cannot be told apart
    for (who, x, y, lx, ly, typed) in [
        ("father", 0, 1, "a", "b", ftyp.is_some()),
        ("mother", 2, 3, "c", "d", mtyp.is_some()),
    ] {
        let same = vars.iter().all(|v| match (&v[x], &v[y]) {
            (Val::Set(p), Val::Set(q)) => p.iter().any(|z| q.contains(z)),
            _ => false,
        });
        if same && typed {
            notes.push(format!(
                "the {who}'s haplotypes {lx} and {ly} are identical at every typed locus \
                 (homozygous): which one a child carries cannot be proven"
            ));
        }
    }
    // recombinations
    if best >= 1 {
        result.status = Status::Recombination;
        for k in 0..kids.len() {
            for (side, mask, names_) in [
                ("paternal", 1u32, ["a", "b"]),
                ("maternal", 2u32, ["c", "d"]),
            ] {
                for w in path.windows(2).enumerate() {
                    let (i, pair) = w;
                    if bits(pair[0], k) & mask != bits(pair[1], k) & mask {
                        let from = names_[((bits(pair[0], k) & mask) != 0) as usize];
                        let to = names_[((bits(pair[1], k) & mask) != 0) as usize];
                        notes.push(format!(
                            "{} {} carries a recombinant {side} haplotype: {from} up to {}, {to} from {}",
                            kids[k].relation.code(),
                            kids[k].id,
                            FAMILY_LOCI[loci[i]],
                            FAMILY_LOCI[loci[i + 1]]
                        ));
                    }
                }
            }
        }
        if paths.len() > 1 && disagree {
            notes.push("more than one recombinant assignment fits the typings".into());
        }
    } else if disagree || !unphased.is_empty() || !result.identical_by_typing.is_empty() {
        result.status = Status::Ambiguous;
    }
    let hap_of = |h: usize| -> Vec<&Val> { vars.iter().map(|v| &v[h]).collect() };
    let label = ["a", "b", "c", "d"];
    // members, in the order given
    let mut out = Vec::new();
    for m in members {
        let (haplotypes, labels) = match m.relation {
            Relation::Father => (
                vec![
                    haplotype_text(interner, &loci, &hap_of(0)),
                    haplotype_text(interner, &loci, &hap_of(1)),
                ],
                vec!["a".to_string(), "b".to_string()],
            ),
            Relation::Mother => (
                vec![
                    haplotype_text(interner, &loci, &hap_of(2)),
                    haplotype_text(interner, &loci, &hap_of(3)),
                ],
                vec!["c".to_string(), "d".to_string()],
            ),
            Relation::Patient | Relation::Sibling if kids.iter().any(|k| k.id == m.id) => {
                let k = kids.iter().position(|k| k.id == m.id).expect("a kid");
                let side = |mask: u32, base: usize| -> (String, String) {
                    let which: Vec<usize> = path
                        .iter()
                        .map(|&v| base + ((bits(v, k) & mask) != 0) as usize)
                        .collect();
                    let vals: Vec<&Val> = which.iter().zip(vars).map(|(&h, v)| &v[h]).collect();
                    let mut labs: Vec<&str> = which.iter().map(|&h| label[h]).collect();
                    labs.dedup();
                    (haplotype_text(interner, &loci, &vals), labs.join("/"))
                };
                let (hp, lp) = side(1, 0);
                let (hm, lm) = side(2, 2);
                (vec![hp, hm], vec![lp, lm])
            }
            Relation::Child | Relation::HalfSibling => {
                // the patient's (or the parents') haplotypes this relative may carry
                let candidates: &[usize] = if m.relation == Relation::Child {
                    &[0, 2]
                } else {
                    &[0, 1, 2, 3]
                };
                let patient_hap = |h: usize| -> Vec<&Val> {
                    if m.relation == Relation::Child {
                        // the patient's own haplotypes along the path
                        path.iter()
                            .zip(vars)
                            .map(|(&v, vv)| {
                                let which = if h == 0 {
                                    (bits(v, 0) & 1) as usize
                                } else {
                                    2 + ((bits(v, 0) & 2) >> 1) as usize
                                };
                                &vv[which]
                            })
                            .collect()
                    } else {
                        hap_of(h)
                    }
                };
                let found = candidates
                    .iter()
                    .copied()
                    .find(|&h| !m.typing.is_empty() && carries(&m.typing, &loci, &patient_hap(h)));
                match found {
                    Some(h) => {
                        let shares_patient = m.relation == Relation::Child
                            || path.iter().all(|&v| {
                                let pat = if h < 2 {
                                    (bits(v, 0) & 1) as usize
                                } else {
                                    2 + ((bits(v, 0) & 2) >> 1) as usize
                                };
                                pat == h
                            });
                        if shares_patient {
                            result.haploidentical.push(m.id.clone());
                        }
                        (
                            vec![
                                haplotype_text(interner, &loci, &patient_hap(h)),
                                String::new(),
                            ],
                            vec![label[h].to_string(), "x".to_string()],
                        )
                    }
                    None if m.typing.is_empty() => (Vec::new(), Vec::new()),
                    None => {
                        if m.relation == Relation::Child {
                            result.status = Status::Inconsistent;
                            notes.push(format!(
                                "child {} carries neither of the patient's haplotypes (sample swap, \
                                 non-paternity or typing error)",
                                m.id
                            ));
                        } else {
                            notes.push(format!(
                                "half-sibling {} carries none of the parents' haplotypes",
                                m.id
                            ));
                        }
                        (Vec::new(), Vec::new())
                    }
                }
            }
            _ => (Vec::new(), Vec::new()),
        };
        out.push(MemberAssignment {
            member: m.id.clone(),
            relation: m.relation,
            haplotypes,
            labels,
        });
    }
    let mut haplo: Vec<String> = [father, mother]
        .into_iter()
        .flatten()
        .map(|p| p.id.clone())
        .collect();
    haplo.append(&mut result.haploidentical);
    haplo.dedup();
    result.haploidentical = haplo;
    if result.status == Status::Inconsistent {
        result.identical_siblings.clear();
    }
    result.members = out;
    result.notes = notes;
    Ok(result)
}

/// Walk back the optimal paths ending in `w` at locus `li`.
fn back(
    cost: &[Vec<u8>],
    li: usize,
    w: usize,
    acc: &mut Vec<u32>,
    out: &mut Vec<Vec<u32>>,
    nb: usize,
) {
    if out.len() >= MAX_PATHS {
        return;
    }
    if li == 0 {
        out.push(acc.clone());
        return;
    }
    let here = cost[li][w];
    // a predecessor differs in at most `here` bits (here <= 1)
    let mut candidates = vec![w];
    if here >= 1 {
        candidates.extend((0..nb).map(|b| w ^ (1 << b)));
    }
    if here >= 2 {
        for b1 in 0..nb {
            for b2 in b1 + 1..nb {
                candidates.push(w ^ (1 << b1) ^ (1 << b2));
            }
        }
    }
    for u in candidates {
        let c = cost[li - 1][u];
        if c != INF && c as u32 + (u ^ w).count_ones() == here as u32 {
            acc.push(u as u32);
            back(cost, li - 1, u, acc, out, nb);
            acc.pop();
        }
    }
}

fn unassigned(members: &[Member]) -> Vec<MemberAssignment> {
    members
        .iter()
        .map(|m| MemberAssignment {
            member: m.id.clone(),
            relation: m.relation,
            haplotypes: Vec::new(),
            labels: Vec::new(),
        })
        .collect()
}

/// Why no assignment fits a locus: the child with an allele neither parent has, or more
/// parental haplotypes than four.
fn explain_locus(
    core: &Core<'_>,
    l: usize,
    interner: &Interner,
    father: Option<&Member>,
    mother: Option<&Member>,
) -> (Vec<String>, Vec<String>) {
    let locus = FAMILY_LOCI[l];
    let mut culprits = Vec::new();
    let text = |s: &[Vec<u32>; 2]| format!("{}+{}", names(interner, &s[0]), names(interner, &s[1]));
    let f = core.father.and_then(|t| t.loci[l].as_ref());
    let m = core.mother.and_then(|t| t.loci[l].as_ref());
    let mut out = Vec::new();
    let from =
        |p: &[Vec<u32>; 2], s: &[u32]| s.iter().any(|x| p[0].contains(x) || p[1].contains(x));
    for kid in &core.kids {
        let Some(c) = kid.typing.loci[l].as_ref() else {
            continue;
        };
        let ok = match (f, m) {
            (Some(f), Some(m)) => {
                (from(f, &c[0]) && from(m, &c[1])) || (from(f, &c[1]) && from(m, &c[0]))
            }
            (Some(p), None) | (None, Some(p)) => from(p, &c[0]) || from(p, &c[1]),
            (None, None) => true,
        };
        if !ok {
            let parents = [
                f.map(|f| {
                    format!(
                        "father {} {}",
                        father.map_or("", |x| x.id.as_str()),
                        text(f)
                    )
                }),
                m.map(|m| {
                    format!(
                        "mother {} {}",
                        mother.map_or("", |x| x.id.as_str()),
                        text(m)
                    )
                }),
            ];
            culprits.push(kid.id.clone());
            out.push(format!(
                "{} {} carries an allele at {locus} ({}) that neither parent has ({}): sample swap, \
                 non-paternity or typing error",
                kid.relation.code(),
                kid.id,
                text(c),
                parents.into_iter().flatten().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    if out.is_empty() {
        out.push(format!(
            "at {locus} the children's typings need more than the parents' four haplotypes: a \
             sample swap or a typing error"
        ));
    }
    (out, culprits)
}
