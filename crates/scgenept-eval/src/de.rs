//! Differential expression of every perturbation against the control cells, as pdex 0.3.0
//! computes it for cell-eval (`pdex(mode="ref", is_log1p=True, geometric_mean=True,
//! epsilon=0)`): per gene, the two-sided Mann-Whitney U test with tie correction and continuity
//! correction (asymptotic normal p-value), Benjamini-Hochberg FDR over each perturbation's genes,
//! and fold changes between geometric-mean pseudobulks in count space (`expm1(mean(X))`).
//! docs/evaluation.md says where float32 enters, as it does in pdex.

use std::fmt::Write as _;

use crate::pair::{numpy_mean, Cells};

/// One row of pdex's table (its column names).
#[derive(Debug, Clone, PartialEq)]
pub struct DeRow {
    pub target: String,
    pub feature: String,
    pub target_mean: f32,
    pub ref_mean: f32,
    pub target_membership: usize,
    pub ref_membership: usize,
    pub log2_fold_change: f64,
    pub percent_change: f64,
    pub p_value: f64,
    pub statistic: f64,
    pub fdr: f64,
}

/// The Mann-Whitney U statistic of `x` (U1) and the two-sided p-value, asymptotic, with tie and
/// continuity corrections (scipy's `mannwhitneyu(method="asymptotic")`, numba_mwu's kernel).
pub fn mann_whitney_u(x: &[f64], y: &[f64]) -> (f64, f64) {
    let (n1, n2) = (x.len(), y.len());
    let mut all: Vec<(f64, bool)> = (x.iter().map(|v| (*v, true)))
        .chain(y.iter().map(|v| (*v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut r1, mut tie_term, mut i) = (0.0f64, 0.0f64, 0usize);
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        r1 += rank * all[i..=j].iter().filter(|v| v.1).count() as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    u_and_p(r1, n1 as f64, n2 as f64, tie_term)
}

/// One gene's control values, sorted once, with their tie term, so that each perturbation's test
/// against them costs a bucket lookup per group of equal perturbed values instead of a sort of
/// both groups.
pub struct SortedReference {
    values: Vec<f64>,
    /// Σ (t³ − t) over the reference's groups of equal values.
    tie_term: f64,
    buckets: Buckets,
}

impl SortedReference {
    pub fn new(mut values: Vec<f64>) -> SortedReference {
        values.sort_by(f64::total_cmp);
        let mut tie_term = 0.0;
        let mut i = 0;
        while i < values.len() {
            let j = i + values[i..].partition_point(|v| *v == values[i]);
            let t = (j - i) as f64;
            tie_term += t * t * t - t;
            i = j;
        }
        let buckets = Buckets::new(&values);
        SortedReference {
            values,
            tie_term,
            buckets,
        }
    }

    /// (values below `v`, values equal to `v`), searched within `v`'s bucket only.
    fn below_and_equal(&self, v: f64) -> (usize, usize) {
        let (from, to) = self.buckets.range(v, self.values.len());
        let bucket = &self.values[from..to];
        let lo = bucket.partition_point(|x| x.total_cmp(&v).is_lt());
        let equal = bucket[lo..].partition_point(|x| x.total_cmp(&v).is_le());
        (from + lo, equal)
    }

    /// [`mann_whitney_u`] of `x` against these values: the same U and p-value (the rank sum and
    /// tie term are sums of half-integers and integers, exact in f64 either way).
    pub fn test(&self, x: &[f64]) -> (f64, f64) {
        let (r1, tie_term) = self.rank_sum(x);
        u_and_p(r1, x.len() as f64, self.values.len() as f64, tie_term)
    }

    /// [`Self::test`] of `n` values whose non-zeros are `nonzeros` (sorted here, in place).
    pub fn test_nonzeros(&self, nonzeros: &mut [f64], n: usize) -> (f64, f64) {
        let (r1, tie_term) = self.rank_sum_of_nonzeros(nonzeros, n);
        u_and_p(r1, n as f64, self.values.len() as f64, tie_term)
    }

    /// The rank sum of `x` among `x` and these values together (average ranks for ties), and
    /// the pooled tie term Σ (t³ − t). The zeros of a sparse column are one tie group: counted,
    /// not sorted.
    pub fn rank_sum(&self, x: &[f64]) -> (f64, f64) {
        let mut rest: Vec<f64> = x.iter().copied().filter(|v| *v != 0.0).collect();
        self.rank_sum_of_nonzeros(&mut rest, x.len())
    }

    /// [`Self::rank_sum`] of `n` values whose non-zeros are `rest` (sorted here, in place).
    pub fn rank_sum_of_nonzeros(&self, rest: &mut [f64], n: usize) -> (f64, f64) {
        let zeros = n - rest.len();
        rest.sort_unstable_by(f64::total_cmp);
        let negative = rest.partition_point(|v| *v < 0.0);
        let mut acc = RankSum {
            r1: 0.0,
            tie_term: self.tie_term,
            below: 0,
        };
        self.add_groups(&rest[..negative], &mut acc);
        if zeros > 0 {
            self.add_group(0.0, zeros, &mut acc);
        }
        self.add_groups(&rest[negative..], &mut acc);
        (acc.r1, acc.tie_term)
    }

    /// Each group of equal values of sorted `x`, in order.
    fn add_groups(&self, x: &[f64], acc: &mut RankSum) {
        let mut i = 0;
        while i < x.len() {
            let g = x[i..].partition_point(|v| *v == x[i]);
            self.add_group(x[i], g, acc);
            i += g;
        }
    }

    /// `g` perturbed values equal to `v`, all perturbed values below it already added.
    fn add_group(&self, v: f64, g: usize, acc: &mut RankSum) {
        let (below_ref, equal_ref) = self.below_and_equal(v);
        // Combined: `acc.below` perturbed and `below_ref` reference values lie below this group.
        let t = (g + equal_ref) as f64;
        let first = (acc.below + below_ref) as f64;
        acc.r1 += g as f64 * (first + (t + 1.0) / 2.0);
        let c = equal_ref as f64;
        acc.tie_term += (t * t * t - t) - (c * c * c - c);
        acc.below += g;
    }
}

/// The running rank sum of the perturbed values, the tie term, and how many perturbed values are
/// already placed.
struct RankSum {
    r1: f64,
    tie_term: f64,
    below: usize,
}

/// Sorted values cut into up to 1,024 buckets of equal width between the least and the greatest:
/// value `v` falls in bucket `⌊(v − low) · scale⌋`, which never falls as `v` rises, and
/// `starts[b]` is where bucket b's values start. So every value of a lower bucket is below `v`,
/// every value of a higher one above, and equal values share one. Values that are not all
/// finite make one bucket.
struct Buckets {
    low: f64,
    high: f64,
    scale: f64,
    starts: Vec<usize>,
}

impl Buckets {
    fn new(values: &[f64]) -> Buckets {
        let (low, high) = match (values.first(), values.last()) {
            (Some(l), Some(h)) => (*l, *h),
            _ => (0.0, 0.0),
        };
        let even = low.is_finite() && high.is_finite() && high > low;
        let count = if even {
            (values.len() / 4).clamp(1, 1024)
        } else {
            1
        };
        let scale = if even {
            count as f64 / (high - low)
        } else {
            0.0
        };
        let mut b = Buckets {
            low,
            high,
            scale,
            starts: Vec::with_capacity(count + 1),
        };
        b.starts.push(0);
        for (i, v) in values.iter().enumerate() {
            while b.bucket(*v, count) >= b.starts.len() {
                b.starts.push(i);
            }
        }
        b.starts.resize(count + 1, values.len());
        b
    }

    /// `v`'s bucket of `count`, for `v` between the least and the greatest value.
    fn bucket(&self, v: f64, count: usize) -> usize {
        (((v - self.low) * self.scale) as usize).min(count - 1)
    }

    /// Where the values of `v`'s bucket lie in the `n` values (an empty range at 0 or `n` when
    /// `v` lies outside them).
    fn range(&self, v: f64, n: usize) -> (usize, usize) {
        if n == 0 || v.total_cmp(&self.low).is_lt() {
            return (0, 0);
        }
        if v.total_cmp(&self.high).is_gt() {
            return (n, n);
        }
        let b = self.bucket(v, self.starts.len() - 1);
        (self.starts[b], self.starts[b + 1])
    }
}

/// U1 and the two-sided asymptotic p-value from a rank sum (numba_mwu's
/// `_mwu_stats_from_rank_sum`, continuity-corrected).
fn u_and_p(r1: f64, n1f: f64, n2f: f64, tie_term: f64) -> (f64, f64) {
    let n = n1f + n2f;
    let u1 = r1 - n1f * (n1f + 1.0) / 2.0;
    let u = u1.max(n1f * n2f - u1);
    let s_sq = n1f * n2f / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    if s_sq <= 0.0 {
        return (u1, 1.0);
    }
    let z = (u - n1f * n2f / 2.0 - 0.5) / s_sq.sqrt();
    let p = 0.5 * libm::erfc(z / std::f64::consts::SQRT_2) * 2.0;
    (u1, p.clamp(0.0, 1.0))
}

/// Benjamini-Hochberg adjusted p-values (scipy's `false_discovery_control`), in input order.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adj = vec![0f64; m];
    let mut running = f64::INFINITY;
    for (k, &i) in order.iter().enumerate().rev() {
        // scipy multiplies by m / rank (in that order).
        running = running.min(p[i] * (m as f64 / (k + 1) as f64));
        adj[i] = running.min(1.0);
    }
    adj
}

/// `expm1(mean(X))` over `rows` per gene, as pdex computes it from float32 data (the mean as
/// numpy or scipy takes it, `pair::numpy_mean`); `expm1` in float32.
fn geometric_bulk(cells: &Cells, rows: &[usize]) -> Vec<f32> {
    let mean = numpy_mean(&cells.x, rows, cells.sparse);
    mean.into_iter().map(libm::expm1f).collect()
}

/// The non-zeros of groups of rows, group by group and gene by gene within a group: gene g's of
/// group t are [`Self::of`]`(g, t)`, the rest of the group's cells zeros. A gene stored twice in
/// a row counts once, with its last value (as `CsrMatrix::row_into` takes it). Each group's are
/// written together, and read gene by gene (written gene by gene across groups, most writes
/// missed the cache: benches/README.md, "the target met").
struct GroupedColumns {
    genes: usize,
    /// `starts[t * (genes + 1) + g]`: where group t's non-zeros of gene g start in `values`;
    /// `starts[t * (genes + 1) + genes]`, where group t's end.
    starts: Vec<usize>,
    values: Vec<f32>,
}

impl GroupedColumns {
    fn new(cells: &Cells, groups: &[&[usize]]) -> GroupedColumns {
        let genes = cells.x.n_cols;
        let mut dense = vec![0f32; genes];
        // Each group's rows' non-zeros, once per gene.
        let mut each = |f: &mut dyn FnMut(usize, usize, f32)| {
            for (t, rows) in groups.iter().enumerate() {
                for &r in rows.iter() {
                    let (cols, vals) = cells.x.row(r);
                    for (c, v) in cols.iter().zip(vals) {
                        dense[*c as usize] = *v;
                    }
                    for &c in cols {
                        let v = std::mem::take(&mut dense[c as usize]);
                        if v != 0.0 {
                            f(t, c as usize, v);
                        }
                    }
                }
            }
        };
        let mut starts = vec![0usize; groups.len() * (genes + 1)];
        each(&mut |t, g, _| starts[t * (genes + 1) + g] += 1);
        let mut at = 0;
        for count in &mut starts {
            (*count, at) = (at, at + *count);
        }
        let mut next = starts.clone();
        let mut values = vec![0f32; at];
        each(&mut |t, g, v| {
            let k = &mut next[t * (genes + 1) + g];
            values[*k] = v;
            *k += 1;
        });
        GroupedColumns {
            genes,
            starts,
            values,
        }
    }

    /// Gene `g`'s non-zeros in group `t`.
    fn of(&self, g: usize, t: usize) -> &[f32] {
        let k = t * (self.genes + 1) + g;
        &self.values[self.starts[k]..self.starts[k + 1]]
    }
}

/// Which tests one Benjamini-Hochberg correction covers (cell-eval#217: a perturbation's FDR
/// should not depend on which other perturbations are scored beside it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FdrScope {
    /// Each perturbation's genes (pdex 0.3.0, as cell-eval 0.8.2 runs it; the default).
    #[default]
    Perturbation,
    /// Every test of the table at once (earlier pdex versions, as #217 reports).
    All,
}

/// The groups other than `control`, with their rows, in label order.
pub fn perturbed<'a>(
    groups: &'a std::collections::BTreeMap<&'a str, Vec<usize>>,
    control: &str,
) -> Vec<(&'a str, &'a Vec<usize>)> {
    (groups.iter())
        .filter(|(g, _)| **g != control)
        .map(|(g, r)| (*g, r))
        .collect()
}

/// pdex's table for one side: every perturbation (label order) against `control`, every gene,
/// FDR over `scope`.
pub fn de_table(cells: &Cells, control: &str, scope: FdrScope) -> Vec<DeRow> {
    let groups = cells.rows_by_label();
    let ctrl_rows = &groups[control];
    let ref_bulk = geometric_bulk(cells, ctrl_rows);
    let targets = perturbed(&groups, control);
    let tests = gene_by_gene_tests(cells, &targets, ctrl_rows);
    let per_target = crate::par::map(&(0..targets.len()).collect::<Vec<_>>(), |&t| {
        let (target, rows) = targets[t];
        let bulk = geometric_bulk(cells, rows);
        let p: Vec<f64> = tests.iter().map(|gene| gene[t].1).collect();
        let fdr = benjamini_hochberg(&p);
        (cells.genes.iter().enumerate())
            .map(|(g, feature)| {
                let (b, r) = (bulk[g], ref_bulk[g]);
                let zero_if_nan = |v: f64| if v.is_nan() { 0.0 } else { v };
                DeRow {
                    target: target.to_string(),
                    feature: feature.clone(),
                    target_mean: b,
                    ref_mean: r,
                    target_membership: rows.len(),
                    ref_membership: ctrl_rows.len(),
                    log2_fold_change: zero_if_nan((b as f64 / r as f64).log2()),
                    percent_change: zero_if_nan((b - r) as f64 / r as f64),
                    p_value: tests[g][t].1,
                    statistic: tests[g][t].0,
                    fdr: fdr[g],
                }
            })
            .collect::<Vec<DeRow>>()
    });
    let mut rows: Vec<DeRow> = per_target.into_iter().flatten().collect();
    if scope == FdrScope::All {
        let p: Vec<f64> = rows.iter().map(|r| r.p_value).collect();
        for (r, q) in rows.iter_mut().zip(benjamini_hochberg(&p)) {
            r.fdr = q;
        }
    }
    rows
}

/// Every gene's test (U1, p) of every target against the control cells: `tests[gene][target]`.
/// Gene by gene over the cores, each gene's control values sorted once and kept in the cache.
fn gene_by_gene_tests(
    cells: &Cells,
    targets: &[(&str, &Vec<usize>)],
    ctrl_rows: &[usize],
) -> Vec<Vec<(f64, f64)>> {
    let mut groups: Vec<&[usize]> = targets.iter().map(|(_, rows)| rows.as_slice()).collect();
    groups.push(ctrl_rows);
    let columns = GroupedColumns::new(cells, &groups);
    let genes: Vec<usize> = (0..cells.x.n_cols).collect();
    crate::par::map_with(&genes, Vec::new, |values: &mut Vec<f64>, &g| {
        let ctrl = columns.of(g, targets.len());
        let mut reference: Vec<f64> = ctrl.iter().map(|&v| v as f64).collect();
        reference.resize(ctrl_rows.len(), 0.0);
        let reference = SortedReference::new(reference);
        (targets.iter().enumerate())
            .map(|(t, (_, rows))| {
                values.clear();
                values.extend(columns.of(g, t).iter().map(|&v| v as f64));
                reference.test_nonzeros(values, rows.len())
            })
            .collect()
    })
}

/// The table as pdex writes it (`real_de.csv`, `pred_de.csv`).
pub fn de_csv(rows: &[DeRow]) -> String {
    let mut s = String::from(
        "target,feature,target_mean,ref_mean,target_membership,ref_membership,\
         log2_fold_change,percent_change,p_value,statistic,fdr\n",
    );
    let f = |v: f64| {
        if v.is_infinite() {
            if v > 0.0 { "inf" } else { "-inf" }.to_string()
        } else {
            format!("{v:?}")
        }
    };
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{:?},{:?},{},{},{},{},{},{},{}",
            r.target,
            r.feature,
            r.target_mean,
            r.ref_mean,
            r.target_membership,
            r.ref_membership,
            f(r.log2_fold_change),
            f(r.percent_change),
            f(r.p_value),
            f(r.statistic),
            f(r.fdr)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use scgenept_data::csr::CsrMatrix;

    #[test]
    fn bh_equals_scipy() {
        // scipy.stats.false_discovery_control([0.01, 0.04, 0.03, 0.2])
        let adj = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.2]);
        let want = [0.04, 0.04 * 4.0 / 3.0, 0.04 * 4.0 / 3.0, 0.2];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-15, "{adj:?}");
        }
    }

    #[test]
    fn the_bucket_searches_give_the_same_test_on_long_tied_columns() {
        // Values on a coarse grid (many ties, long runs of zeros) so that buckets hold groups of
        // every length, on both sides of zero.
        let mut s = 7u64;
        let mut draw = |n: usize, zeros: u64| -> Vec<f64> {
            (0..n)
                .map(|_| {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let r = s >> 33;
                    if r % 100 < zeros {
                        0.0
                    } else {
                        (r % 41) as f64 / 4.0 - 2.0
                    }
                })
                .collect()
        };
        for zeros in [0, 40, 90] {
            let y = draw(2000, zeros);
            let r = SortedReference::new(y.clone());
            for n in [1, 7, 60, 300] {
                let x = draw(n, zeros);
                let want = mann_whitney_u(&x, &y);
                assert_eq!(r.test(&x), want, "zeros {zeros}%, n {n}");
                let mut nonzeros: Vec<f64> = x.iter().copied().filter(|v| *v != 0.0).collect();
                assert_eq!(r.test_nonzeros(&mut nonzeros, n), want);
            }
        }
    }

    #[test]
    fn the_bucket_searches_hold_with_outliers_infinities_and_one_value() {
        let x = [0.0, 1.0, 1e9, -5.0, f64::INFINITY, 3.0, 0.5];
        for y in [
            vec![0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 1e12],
            vec![2.0; 12],
            vec![f64::NEG_INFINITY, 0.0, 0.0, 1.0, 1.0, 2.0, 3.0, 1e9],
            vec![
                -1.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                4.0,
                f64::INFINITY,
            ],
        ] {
            let r = SortedReference::new(y.clone());
            assert_eq!(r.test(&x), mann_whitney_u(&x, &y), "{y:?}");
        }
    }

    #[test]
    fn grouped_columns_are_each_groups_columns_non_zeros() {
        // Row 1 stores gene 2 twice (the last value counts) and an explicit zero.
        let x = CsrMatrix::new(
            3,
            4,
            vec![0, 2, 6, 7],
            vec![0, 3, 2, 1, 2, 0, 3],
            vec![1.5, -2.0, 9.0, 0.0, 4.0, 3.0, 0.5],
        )
        .unwrap();
        let cells = Cells::of_matrix(x);
        let groups: [&[usize]; 3] = [&[2, 0], &[], &[1]];
        let columns = GroupedColumns::new(&cells, &groups);
        let mut dense = vec![0f32; 4];
        for (t, rows) in groups.iter().enumerate() {
            for g in 0..4 {
                let nonzero: Vec<f32> = (rows.iter())
                    .map(|&r| {
                        cells.x.row_into(r, &mut dense);
                        dense[g]
                    })
                    .filter(|v| *v != 0.0)
                    .collect();
                assert_eq!(columns.of(g, t), &nonzero[..], "gene {g}, group {t}");
            }
        }
        assert_eq!(columns.of(2, 2), [4.0]);
        assert_eq!(columns.of(3, 0), [0.5, -2.0]);
    }

    #[test]
    fn the_sorted_reference_gives_the_same_test() {
        let y = [2.0, 3.0, 4.0, 4.0, 0.0, 0.0, 2.0, 7.5];
        let r = SortedReference::new(y.to_vec());
        for x in [
            &[1.0, 2.0, 2.0, 5.0][..],
            &[0.0, 0.0, 4.0],
            &[9.0],
            &[2.0, 2.0, 2.0, 0.0, 7.5],
            // Predictions may be negative: below the zero group, which is counted, not sorted.
            &[-1.0, 0.0, -3.0, 0.0, 2.0, -1.0],
            &[0.0, 0.0, 0.0],
        ] {
            assert_eq!(r.test(x), mann_whitney_u(x, &y), "{x:?}");
        }
        let with_negatives = [-2.0, 0.0, 0.0, 1.0, -0.5];
        let r = SortedReference::new(with_negatives.to_vec());
        let x = [-2.0, 0.0, 3.0, -0.5, -0.5];
        assert_eq!(r.test(&x), mann_whitney_u(&x, &with_negatives));
    }

    #[test]
    fn mann_whitney_u_equals_scipy_on_a_tied_sample() {
        // scipy.stats.mannwhitneyu([1, 2, 2, 5], [2, 3, 4, 4, 0]) → U = 9.0, p = 0.9004375366342199
        let (u, p) = mann_whitney_u(&[1.0, 2.0, 2.0, 5.0], &[2.0, 3.0, 4.0, 4.0, 0.0]);
        assert_eq!(u, 9.0);
        assert!((p / 0.900_437_536_634_219_9 - 1.0).abs() < 1e-12, "{p}");
    }
}
