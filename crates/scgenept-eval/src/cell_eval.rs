//! cell-eval 0.8.2's `anndata` profile (docs/evaluation.md): per perturbation, from pseudobulks,
//! `pearson_delta`, `mse`, `mae`, `mse_delta`, `mae_delta` and the discrimination scores (`l1`,
//! `l2`, `cosine`); from single cells, `pearson_edistance`; from the centroids,
//! `clustering_agreement` (`clustering/`). Names, order and values as cell-eval writes them
//! (tests/cli_eval.rs: within 1e-6 of cell-eval on the committed fixtures).

use crate::clustering::clustering_agreement;
use crate::edistance::{pearson_edistance, Dots};
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
    /// `pearson_edistance` with its dot products' arithmetic, the costliest: every perturbed
    /// cell against every control cell.
    pub edistance: Option<Dots>,
    /// `clustering_agreement`: Leiden clusters of the real and the predicted centroids.
    pub clustering: bool,
}

impl WholeSet {
    /// Both, unless `skip` (cell-eval's metric names) names them; the energy distances with
    /// `dots`.
    pub fn unless_skipped(skip: &[String], dots: Dots) -> WholeSet {
        let skipped = |name: &str| skip.iter().any(|s| s == name);
        WholeSet {
            edistance: (!skipped("pearson_edistance")).then_some(dots),
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
            Some(dots) => {
                let what = format!("energy distances, both sides, {dots:?} dots");
                vec![timed(&what, || pearson_edistance(pair, dots)); n]
            }
            None => vec![f64::NAN; n],
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

/// `f()`, logged as `what` with its time (the whole-set metrics are the profile's costliest).
fn timed(what: &str, f: impl FnOnce() -> f64) -> f64 {
    let t = std::time::Instant::now();
    let r = f();
    tracing::info!("{what} ({:.1} s)", t.elapsed().as_secs_f64());
    r
}
