//! cell-eval 0.8.2's `anndata` profile (docs/evaluation.md): per perturbation, from pseudobulks,
//! `pearson_delta`, `mse`, `mae`, `mse_delta`, `mae_delta` and the discrimination scores (`l1`,
//! `l2`, `cosine`); from single cells, `pearson_edistance`; from the centroids,
//! `clustering_agreement` (`clustering/`). Names, order and values as cell-eval writes them
//! (tests/cli_eval.rs: within 1e-6 of cell-eval on the committed fixtures).

use crate::clustering::clustering_agreement;
use crate::metrics::{mse, pearson_or_nan as pearson};
use crate::pair::Pair;
use crate::scores::Scores;

/// The profile's metrics, in cell-eval's column order, each better high (`true`) or low.
pub const ANNDATA_METRICS: [(&str, bool); 10] = [
    ("pearson_delta", true),
    ("mse", false),
    ("mae", false),
    ("mse_delta", false),
    ("mae_delta", false),
    ("discrimination_score_l1", true),
    ("discrimination_score_l2", true),
    ("discrimination_score_cosine", true),
    ("pearson_edistance", true),
    ("clustering_agreement", true),
];

/// The profile's two metrics of the whole set of perturbations (one value, repeated on every
/// row), each of which can be skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WholeSet {
    /// `pearson_edistance`, the costliest: every perturbed cell against every control cell.
    pub edistance: bool,
    /// `clustering_agreement`: Leiden clusters of the real and the predicted centroids.
    pub clustering: bool,
}

impl WholeSet {
    /// Both, unless `skip` (cell-eval's metric names) names them.
    pub fn unless_skipped(skip: &[String]) -> WholeSet {
        let skipped = |name: &str| skip.iter().any(|s| s == name);
        WholeSet {
            edistance: !skipped("pearson_edistance"),
            clustering: !skipped("clustering_agreement"),
        }
    }
}

/// What the discrimination scores rank (cell-eval#189).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DiscriminationEffect {
    /// The signed effects, as cell-eval 0.8.2 does (and as the VCC describes the score).
    #[default]
    Signed,
    /// Their absolute values, as earlier cell-eval did (#189: a predicted rise then sits nearer a
    /// perturbation that lowers the same genes than one that raises them less).
    Abs,
}

/// Scores `pair` with the `anndata` profile; the metrics of the whole set only as `whole` says
/// (NaN otherwise).
pub fn anndata_profile(pair: &Pair, effect: DiscriminationEffect, whole: WholeSet) -> Scores {
    let bulk = pair.bulk();
    let n = pair.perts.len();
    // Each perturbation's effect, predicted and real, once.
    let pred: Vec<Vec<f64>> = (0..n).map(|i| bulk.effect(i, true)).collect();
    let real: Vec<Vec<f64>> = (0..n).map(|i| bulk.effect(i, false)).collect();
    let abs = |v: &[Vec<f64>]| -> Vec<Vec<f64>> {
        v.iter()
            .map(|e| e.iter().map(|x| x.abs()).collect())
            .collect()
    };
    let absolute;
    let (dpred, dreal) = match effect {
        DiscriminationEffect::Signed => (&pred, &real),
        DiscriminationEffect::Abs => {
            absolute = (abs(&pred), abs(&real));
            (&absolute.0, &absolute.1)
        }
    };
    let per = |f: &dyn Fn(usize) -> f64| -> Vec<f64> { (0..n).map(f).collect() };
    let columns: Vec<Vec<f64>> = vec![
        per(&|i| pearson(&pred[i], &real[i])),
        per(&|i| mse(&bulk.pred[i], &bulk.real[i])),
        per(&|i| mae(&bulk.pred[i], &bulk.real[i])),
        per(&|i| mse(&pred[i], &real[i])),
        per(&|i| mae(&pred[i], &real[i])),
        discrimination(pair, dpred, dreal, Distance::L1),
        discrimination(pair, dpred, dreal, Distance::L2),
        discrimination(pair, dpred, dreal, Distance::Cosine),
        match whole.edistance {
            true => vec![timed("energy distances, both sides", || pearson_edistance(pair)); n],
            false => vec![f64::NAN; n],
        },
        match whole.clustering {
            true => {
                let what = format!("clustering_agreement over {n} perturbations");
                vec![timed(&what, || clustering_agreement(pair)); n]
            }
            false => vec![f64::NAN; n],
        },
    ];
    Scores {
        perts: pair.perts.clone(),
        metrics: ANNDATA_METRICS.iter().map(|m| m.0).collect(),
        values: (0..n)
            .map(|i| columns.iter().map(|c| Some(c[i])).collect())
            .collect(),
    }
}

/// sklearn's `mean_absolute_error`.
fn mae(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| (a - b).abs()).sum::<f64>() / x.len() as f64
}

#[derive(Clone, Copy)]
enum Distance {
    L1,
    L2,
    Cosine,
}

/// The distance between `a` and `b` over the genes `keep`, added in gene order.
fn distance(kind: Distance, a: &[f64], b: &[f64], keep: &[usize]) -> f64 {
    let pairs = || keep.iter().map(|&g| (a[g], b[g]));
    match kind {
        Distance::L1 => pairs().map(|(x, y)| (x - y).abs()).sum(),
        Distance::L2 => pairs().map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt(),
        Distance::Cosine => {
            let dot: f64 = pairs().map(|(x, y)| x * y).sum();
            let na = pairs().map(|(x, _)| x * x).sum::<f64>().sqrt();
            let nb = pairs().map(|(_, y)| y * y).sum::<f64>().sqrt();
            1.0 - dot / (na * nb)
        }
    }
}

/// cell-eval's discrimination score: rank the real effects of every perturbation by their
/// distance to this perturbation's predicted effect (the gene named like the perturbation left
/// out); 1 − rank/n, where rank 0 means the right one is the closest. Ties keep perturbation
/// order (numpy's sort on so few values).
fn discrimination(pair: &Pair, pred: &[Vec<f64>], real: &[Vec<f64>], kind: Distance) -> Vec<f64> {
    let n = pair.perts.len();
    (0..n)
        .map(|p| {
            let keep: Vec<usize> = (0..pair.real.genes.len())
                .filter(|&g| pair.real.genes[g] != pair.perts[p])
                .collect();
            let mut d: Vec<(f64, usize)> = (real.iter().enumerate())
                .map(|(j, r)| (distance(kind, r, &pred[p], &keep), j))
                .collect();
            d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let rank = d.iter().position(|x| x.1 == p).unwrap_or(n);
            1.0 - rank as f64 / n as f64
        })
        .collect()
}

/// numpy's float32 sum (`np.add.reduce`): pairwise, 8 accumulators in blocks of up to 128.
pub fn numpy_sum_f32(a: &[f32]) -> f32 {
    let n = a.len();
    if n < 8 {
        return a.iter().fold(0f32, |s, x| s + x);
    }
    if n <= 128 {
        let mut r = [0f32; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for x in &a[i..] {
            res += x;
        }
        return res;
    }
    let mut n2 = n / 2;
    n2 -= n2 % 8;
    numpy_sum_f32(&a[..n2]) + numpy_sum_f32(&a[n2..])
}

/// Cells as a dense row-major f64 matrix with each row's squared norm.
struct Dense {
    rows: usize,
    cols: usize,
    x: Vec<f64>,
    sq: Vec<f64>,
}

impl Dense {
    fn of(c: &crate::pair::Cells, rows: &[usize]) -> Dense {
        let cols = c.x.n_cols;
        let mut x = vec![0f64; rows.len() * cols];
        for (k, &r) in rows.iter().enumerate() {
            let (idx, vals) = c.x.row(r);
            for (j, v) in idx.iter().zip(vals) {
                x[k * cols + *j as usize] = *v as f64;
            }
        }
        let sq = x
            .chunks_exact(cols.max(1))
            .map(|r| r.iter().map(|v| v * v).sum())
            .collect();
        Dense {
            rows: rows.len(),
            cols,
            x,
            sq,
        }
    }
}

/// sklearn's `pairwise_distances(a, b).mean()` on float32 cells: each squared distance as
/// `|a|² − 2 a·b + |b|²` in f64 (sklearn's upcast path), clipped at 0, rounded to f32, its root in
/// f32 (the diagonal exactly 0 when `a` is `b`), then numpy's float32 mean of the matrix. With
/// `parallel`, blocks of rows go to the cores (the sum is the same: it runs over the whole matrix).
fn mean_distance(a: &Dense, b: &Dense, same: bool, parallel: bool) -> f32 {
    const BLOCK: usize = 256;
    // Rows i0.. of the matrix into `d`.
    let block = |i0: usize, d: &mut [f32]| {
        let m = BLOCK.min(a.rows - i0);
        let mut dot = vec![0f64; m * b.rows];
        // SAFETY: dot holds m × b.rows values, a's block m × cols, b cols × b.rows through its
        // transposed strides; no overlap.
        unsafe {
            gemm::gemm(
                m,
                b.rows,
                a.cols,
                dot.as_mut_ptr(),
                1,
                b.rows as isize,
                false,
                a.x[i0 * a.cols..].as_ptr(),
                1,
                a.cols as isize,
                b.x.as_ptr(),
                b.cols as isize,
                1,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        };
        for r in 0..m {
            let i = i0 + r;
            for j in 0..b.rows {
                let sq = (a.sq[i] - 2.0 * dot[r * b.rows + j] + b.sq[j]).max(0.0);
                d[r * b.rows + j] = if same && i == j {
                    0.0
                } else {
                    (sq as f32).sqrt()
                };
            }
        }
    };
    let mut d = vec![0f32; a.rows * b.rows];
    let mut blocks: Vec<&mut [f32]> = d.chunks_mut((BLOCK * b.rows).max(1)).collect();
    match parallel {
        true => crate::par::for_each_mut(&mut blocks, |k, rows| block(k * BLOCK, rows)),
        false => (blocks.iter_mut().enumerate()).for_each(|(k, rows)| block(k * BLOCK, rows)),
    }
    numpy_sum_f32(&d) / d.len() as f32
}

/// `f()`, logged as `what` with its time (the whole-set metrics are the profile's costliest).
fn timed(what: &str, f: impl FnOnce() -> f64) -> f64 {
    let t = std::time::Instant::now();
    let r = f();
    tracing::info!("{what} ({:.1} s)", t.elapsed().as_secs_f64());
    r
}

/// cell-eval's `pearson_edistance`: per perturbation, the energy distance of its cells from the
/// control cells (2·δ − σ_pert − σ_ctrl, in float32 as numpy computes it), on the real and on the
/// predicted cells; then Pearson's r between the two over perturbations (one value, written for
/// every perturbation).
fn pearson_edistance(pair: &Pair) -> f64 {
    let side = |c: &crate::pair::Cells| -> Vec<f64> {
        let rows = c.rows_by_label();
        let ctrl = Dense::of(c, &rows[pair.control.as_str()]);
        let sigma_ctrl = mean_distance(&ctrl, &ctrl, true, true);
        crate::par::map(&pair.perts, |p| {
            let cells = Dense::of(c, &rows[p.as_str()]);
            let delta = mean_distance(&cells, &ctrl, false, false);
            let sigma = mean_distance(&cells, &cells, true, false);
            (2.0 * delta - sigma - sigma_ctrl) as f64
        })
    };
    pearson(&side(&pair.real), &side(&pair.pred))
}
