//! GEARS' genetic-interaction scores for one gene pair (cell-gears 0.0.2, `utils.get_coeffs`;
//! docs/features.md, "Screening pairs"): the pair's predicted change fitted as `c1·A + c2·B` of
//! its singles' changes, with sklearn's `TheilSenRegressor(fit_intercept=False,
//! max_subpopulation=1e5, max_iter=1000, random_state=1000)`, then distance correlations
//! (dcor's biased estimator) and the fit's Pearson correlation.
//!
//! The Theil–Sen estimator is computed as sklearn computes it: every 2-gene subset solved exactly
//! (LAPACK `gelss`, minimum norm when singular), or 100,000 random subsets drawn by numpy's
//! legacy `RandomState(1000).choice(n, 2, replace=False)` when there are more; then the spatial
//! median of the solutions by the modified Weiszfeld iteration (tolerance 1e-3). The subsets
//! depend only on the number of genes, so a screen draws them once ([`Subsets`]).

use scgenept_data::numpy_rng::LegacyRandomState;

/// The scores `get_coeffs` returns, under its names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GiScores {
    /// Coefficient of the first gene's change.
    pub c1: f64,
    /// Coefficient of the second gene's change.
    pub c2: f64,
    /// Magnitude `√(c1² + c2²)`: above the additive √2, synergy; below, suppression.
    pub mag: f64,
    /// Distance correlation of the singles (2-D) with the double.
    pub dcor: f64,
    /// Distance correlation of the two singles with each other (high: redundant).
    pub dcor_singles: f64,
    pub dcor_first: f64,
    pub dcor_second: f64,
    /// Pearson correlation of the fitted `c1·A + c2·B` with the double (model fit; low:
    /// neomorphic).
    pub corr_fit: f64,
    /// `|log10(c1 / c2)|` (high: one gene dominates, epistasis). NaN when the signs differ.
    pub dominance: f64,
    /// Equality of contribution: `min / max` of `dcor_first` and `dcor_second`.
    pub eq_contr: f64,
}

impl GiScores {
    /// Column names, in the order of [`GiScores::values`].
    pub const NAMES: [&'static str; 10] = [
        "mag",
        "c1",
        "c2",
        "corr_fit",
        "dcor",
        "dcor_singles",
        "dcor_first",
        "dcor_second",
        "dominance",
        "eq_contr",
    ];

    pub fn values(&self) -> [f64; 10] {
        [
            self.mag,
            self.c1,
            self.c2,
            self.corr_fit,
            self.dcor,
            self.dcor_singles,
            self.dcor_first,
            self.dcor_second,
            self.dominance,
            self.eq_contr,
        ]
    }
}

/// sklearn's `max_subpopulation` in GEARS' call.
const MAX_SUBPOPULATION: usize = 100_000;
/// GEARS' `random_state`.
const RANDOM_STATE: u32 = 1000;
/// GEARS' `max_iter`; sklearn's default `tol`.
const MAX_ITER: usize = 1000;
const TOL: f64 = 1e-3;

/// The 2-gene subsets Theil–Sen solves for `n` genes: all pairs in `itertools.combinations`
/// order, or 100,000 drawn as sklearn draws them.
#[derive(Clone, Debug)]
pub struct Subsets {
    n: usize,
    pairs: Vec<(u32, u32)>,
}

impl Subsets {
    pub fn new(n: usize) -> Self {
        let all = n * n.saturating_sub(1) / 2;
        let pairs = if all <= MAX_SUBPOPULATION {
            (0..n)
                .flat_map(|i| (i + 1..n).map(move |j| (i as u32, j as u32)))
                .collect()
        } else {
            let mut rng = LegacyRandomState::seed(RANDOM_STATE);
            (0..MAX_SUBPOPULATION)
                .map(|_| {
                    let p = rng.permutation(n);
                    (p[0] as u32, p[1] as u32)
                })
                .collect()
        };
        Self { n, pairs }
    }
}

/// The GI scores of a pair from each gene's change under the first single, the second single
/// and the double (same genes, same order; GEARS: predicted mean minus the control mean).
pub fn gi_scores(subsets: &Subsets, first: &[f64], second: &[f64], double: &[f64]) -> GiScores {
    let n = double.len();
    assert!(
        first.len() == n && second.len() == n && subsets.n == n,
        "one value per gene in every vector"
    );
    let [c1, c2] = theil_sen(subsets, first, second, double);
    let fit: Vec<f64> = (0..n).map(|i| c1 * first[i] + c2 * second[i]).collect();
    let d = Distances::new(first, second, double);
    let (dcor_first, dcor_second) = (
        d.dcor(Var::First, Var::Double),
        d.dcor(Var::Second, Var::Double),
    );
    GiScores {
        c1,
        c2,
        mag: (c1 * c1 + c2 * c2).sqrt(),
        dcor: d.dcor(Var::Singles, Var::Double),
        dcor_singles: d.dcor(Var::First, Var::Second),
        dcor_first,
        dcor_second,
        corr_fit: crate::metrics::pearson_or_nan(&fit, double),
        dominance: (c1 / c2).log10().abs(),
        eq_contr: dcor_first.min(dcor_second) / dcor_first.max(dcor_second),
    }
}

/// Theil–Sen without intercept: the spatial median of the exact solutions of the subsets.
fn theil_sen(subsets: &Subsets, a: &[f64], b: &[f64], y: &[f64]) -> [f64; 2] {
    let weights: Vec<[f64; 2]> = (subsets.pairs.iter())
        .map(|&(i, j)| {
            let (i, j) = (i as usize, j as usize);
            lstsq_2x2([[a[i], b[i]], [a[j], b[j]]], [y[i], y[j]])
        })
        .collect();
    spatial_median(&weights)
}

/// LAPACK `gelss` on a 2×2 system: the minimum-norm least-squares solution, singular values
/// below `eps · σ_max` taken as zero (`rcond = -1`).
fn lstsq_2x2(m: [[f64; 2]; 2], y: [f64; 2]) -> [f64; 2] {
    let [[a, b], [c, d]] = m;
    let det = a * d - b * c;
    // Singular values of M from MᵀM's eigenvalues.
    let (p, q, r) = (a * a + c * c, a * b + c * d, b * b + d * d);
    let half_trace = 0.5 * (p + r);
    let gap = (0.25 * (p - r) * (p - r) + q * q).sqrt();
    let s_max = (half_trace + gap).sqrt();
    let s_min = det.abs() / s_max;
    if s_max == 0.0 {
        return [0.0, 0.0];
    }
    if s_min > f64::EPSILON * s_max {
        return [(d * y[0] - b * y[1]) / det, (a * y[1] - c * y[0]) / det];
    }
    // Rank 1: x = v (uᵀy) / σ with (u, v) the leading singular pair; v is MᵀM's top eigenvector.
    let (vx, vy) = if q.abs() > 0.0 {
        (q, s_max * s_max - p)
    } else if p >= r {
        (1.0, 0.0)
    } else {
        (0.0, 1.0)
    };
    let norm = (vx * vx + vy * vy).sqrt();
    let (vx, vy) = (vx / norm, vy / norm);
    // M v = σ u, so uᵀy / σ = (M v)ᵀ y / σ².
    let mv = [a * vx + b * vy, c * vx + d * vy];
    let k = (mv[0] * y[0] + mv[1] * y[1]) / (s_max * s_max);
    [k * vx, k * vy]
}

/// sklearn's `_spatial_median`: modified Weiszfeld steps from the mean until a step moves less
/// than `TOL` (on the squared distance, as sklearn compares).
fn spatial_median(x: &[[f64; 2]]) -> [f64; 2] {
    let m = x.len() as f64;
    let mut old = x.iter().fold([0.0, 0.0], |s, w| [s[0] + w[0], s[1] + w[1]]);
    old = [old[0] / m, old[1] / m];
    for _ in 0..MAX_ITER {
        let new = weiszfeld_step(x, old);
        let moved = (old[0] - new[0]).powi(2) + (old[1] - new[1]).powi(2);
        if moved < TOL * TOL {
            return new;
        }
        old = new;
    }
    old
}

fn weiszfeld_step(x: &[[f64; 2]], old: [f64; 2]) -> [f64; 2] {
    let (mut dir, mut weighted, mut inv_sum, mut far) = ([0.0; 2], [0.0; 2], 0.0, 0usize);
    for w in x {
        let diff = [w[0] - old[0], w[1] - old[1]];
        let norm = (diff[0] * diff[0] + diff[1] * diff[1]).sqrt();
        if norm >= f64::EPSILON {
            far += 1;
            dir = [dir[0] + diff[0] / norm, dir[1] + diff[1] / norm];
            weighted = [weighted[0] + w[0] / norm, weighted[1] + w[1] / norm];
            inv_sum += 1.0 / norm;
        }
    }
    let in_x = if far < x.len() { 1.0 } else { 0.0 };
    let mut quotient = (dir[0] * dir[0] + dir[1] * dir[1]).sqrt();
    let new = if quotient > f64::EPSILON {
        [weighted[0] / inv_sum, weighted[1] / inv_sum]
    } else {
        quotient = 1.0;
        [1.0, 1.0]
    };
    let (keep_new, keep_old) = ((1.0 - in_x / quotient).max(0.0), (in_x / quotient).min(1.0));
    [
        keep_new * new[0] + keep_old * old[0],
        keep_new * new[1] + keep_old * old[1],
    ]
}

/// The variables distance correlations are taken between.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Var {
    First,
    Second,
    /// `(first, second)` as one 2-D variable.
    Singles,
    Double,
}

/// What dcor's biased estimator needs of each variable: its distance matrix's row means and
/// grand mean (the matrices themselves are recomputed, never stored: O(n) memory).
struct Distances<'a> {
    first: &'a [f64],
    second: &'a [f64],
    double: &'a [f64],
    /// Per variable: row means, grand mean.
    means: [(Vec<f64>, f64); 4],
}

impl<'a> Distances<'a> {
    fn new(first: &'a [f64], second: &'a [f64], double: &'a [f64]) -> Self {
        let mut d = Self {
            first,
            second,
            double,
            means: Default::default(),
        };
        for v in [Var::First, Var::Second, Var::Singles, Var::Double] {
            let n = double.len();
            let rows: Vec<f64> = (0..n)
                .map(|i| (0..n).map(|j| d.dist(v, i, j)).sum::<f64>() / n as f64)
                .collect();
            let grand = rows.iter().sum::<f64>() / n as f64;
            d.means[v as usize] = (rows, grand);
        }
        d
    }

    fn dist(&self, v: Var, i: usize, j: usize) -> f64 {
        match v {
            Var::First => (self.first[i] - self.first[j]).abs(),
            Var::Second => (self.second[i] - self.second[j]).abs(),
            Var::Double => (self.double[i] - self.double[j]).abs(),
            Var::Singles => (self.first[i] - self.first[j]).hypot(self.second[i] - self.second[j]),
        }
    }

    /// Mean over (i, j) of the two double-centred distance matrices' product.
    fn dcov2(&self, x: Var, y: Var) -> f64 {
        let n = self.double.len();
        let ((rx, gx), (ry, gy)) = (&self.means[x as usize], &self.means[y as usize]);
        let mut total = 0.0;
        for i in 0..n {
            for j in 0..n {
                let a = self.dist(x, i, j) - rx[i] - rx[j] + gx;
                let b = self.dist(y, i, j) - ry[i] - ry[j] + gy;
                total += a * b;
            }
        }
        total / (n * n) as f64
    }

    /// dcor's `distance_correlation`: 0 when either variable is constant.
    fn dcor(&self, x: Var, y: Var) -> f64 {
        let denominator = (self.dcov2(x, x) * self.dcov2(y, y)).abs().sqrt();
        let r2 = if denominator == 0.0 {
            0.0
        } else {
            self.dcov2(x, y) / denominator
        };
        r2.max(0.0).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_additive_pair_has_unit_coefficients_and_a_perfect_fit() {
        let a: Vec<f64> = (0..40).map(|i| ((i * 7) % 13) as f64 - 6.0).collect();
        let b: Vec<f64> = (0..40).map(|i| ((i * 5) % 11) as f64 * 0.5 - 2.0).collect();
        let ab: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        let s = gi_scores(&Subsets::new(40), &a, &b, &ab);
        // The spatial median stops within sklearn's tolerance (1e-3 on a step), not exactly.
        assert!(
            (s.c1 - 1.0).abs() < 1e-3 && (s.c2 - 1.0).abs() < 1e-3,
            "{s:?}"
        );
        assert!((s.mag - 2f64.sqrt()).abs() < 1e-3);
        assert!((s.corr_fit - 1.0).abs() < 1e-6);
        assert!(s.dominance.abs() < 1e-3);
        assert!((0.0..=1.0).contains(&s.dcor) && (0.0..=1.0).contains(&s.eq_contr));
    }

    #[test]
    fn singular_subsets_take_the_minimum_norm_solution() {
        // Both rows equal: x + 2y = 3, least norm (0.6, 1.2).
        let x = lstsq_2x2([[1.0, 2.0], [1.0, 2.0]], [3.0, 3.0]);
        assert!(
            (x[0] - 0.6).abs() < 1e-12 && (x[1] - 1.2).abs() < 1e-12,
            "{x:?}"
        );
        assert_eq!(lstsq_2x2([[0.0, 0.0], [0.0, 0.0]], [1.0, 2.0]), [0.0, 0.0]);
        let x = lstsq_2x2([[2.0, 1.0], [1.0, 3.0]], [5.0, 10.0]);
        assert!(
            (x[0] - 1.0).abs() < 1e-12 && (x[1] - 3.0).abs() < 1e-12,
            "{x:?}"
        );
    }

    #[test]
    fn more_than_447_genes_draw_100000_subsets() {
        assert_eq!(Subsets::new(447).pairs.len(), 447 * 446 / 2);
        let s = Subsets::new(448);
        assert_eq!(s.pairs.len(), MAX_SUBPOPULATION);
        assert!(s.pairs.iter().all(|&(i, j)| i != j && i < 448 && j < 448));
    }
}
