//! The field's simple baselines (docs/reference.md §5.7), scored with the same metrics and
//! subgroups as the model. Each predicts one mean expression vector per test condition from
//! training data only. Ridge and kNN read perturbations through a knowledge table (gene-text
//! embeddings).

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use scgenept_data::condition::{condition_genes, is_control, is_single, single, single_ctrl_first};
use scgenept_data::{GearsSplit, PerturbData};

use crate::method::{Baseline, Method};
use crate::metrics::{
    cell_mean, condition_metrics, control_mean, rank_metric, summarize, test_conditions, DeGenes,
    Metrics,
};

/// Gene → vector, what the embedding baselines read (a knowledge table provides it).
pub trait GeneVectors {
    /// Width of every vector.
    fn dim(&self) -> usize;
    /// The gene's vector, if the table has one.
    fn get(&self, gene: &str) -> Option<&[f32]>;
}

/// Scores of one method.
#[derive(Clone, Debug, Default)]
pub struct MethodReport {
    pub per_condition: BTreeMap<String, Metrics>,
    /// Means overall and per subgroup (`test_*` in `metrics.json`).
    pub summary: crate::metric_key::Summary,
}

/// Mean expression per condition, by name.
pub fn condition_means(data: &PerturbData) -> BTreeMap<String, Vec<f64>> {
    data.cells_by_condition()
        .iter()
        .enumerate()
        .map(|(k, cells)| (data.conditions[k].clone(), cell_mean(data, cells)))
        .collect()
}

/// Scores mean predictions (condition → vector) like GEARS, plus the rank metric, on the split's
/// test conditions, summarised per test subgroup.
pub fn score_predictions(
    data: &PerturbData,
    split: &GearsSplit,
    predictions: &BTreeMap<String, Vec<f64>>,
) -> MethodReport {
    let per_condition = score_conditions(data, &test_conditions(split, data), predictions);
    let summary = summarize(&per_condition, &split.test_subgroup);
    MethodReport {
        per_condition,
        summary,
    }
}

/// GEARS' per-condition metrics and the rank metric for each of `conditions` that has a
/// prediction and DE genes.
pub fn score_conditions(
    data: &PerturbData,
    conditions: &[String],
    predictions: &BTreeMap<String, Vec<f64>>,
) -> BTreeMap<String, Metrics> {
    score_against(data, conditions, predictions, &condition_means(data))
}

/// The same against given true means (the split-half replicate's other half).
fn score_against(
    data: &PerturbData,
    conditions: &[String],
    predictions: &BTreeMap<String, Vec<f64>>,
    means: &BTreeMap<String, Vec<f64>>,
) -> BTreeMap<String, Metrics> {
    let ctrl = control_mean(data);
    let mut per_condition = BTreeMap::new();
    let (mut pred_delta, mut true_delta) = (BTreeMap::new(), BTreeMap::new());
    for c in conditions {
        let (Some(pred), Some(de), true) = (
            predictions.get(c),
            DeGenes::of(data, c),
            means.contains_key(c),
        ) else {
            continue;
        };
        let truth = &means[c];
        per_condition.insert(c.clone(), condition_metrics(pred, truth, &ctrl, &de));
        pred_delta.insert(
            c.clone(),
            pred.iter()
                .zip(&ctrl)
                .map(|(p, c)| p - c)
                .collect::<Vec<f64>>(),
        );
        true_delta.insert(
            c.clone(),
            truth
                .iter()
                .zip(&ctrl)
                .map(|(t, c)| t - c)
                .collect::<Vec<f64>>(),
        );
    }
    for (c, r) in rank_metric(&pred_delta, &true_delta) {
        per_condition
            .get_mut(&c)
            .expect("scored")
            .insert("rank_l1_delta".into(), r);
    }
    per_condition
}

/// Where a baseline learns and where it is tested: one dataset, or (a transfer run,
/// `docs/data.md`) the source's training conditions and the target's test conditions, aligned to
/// the same genes. Effects learned on the source are added to the target's control mean.
#[derive(Clone, Copy)]
pub struct Datasets<'a> {
    pub train: &'a PerturbData,
    pub test: &'a PerturbData,
}

impl<'a> From<&'a PerturbData> for Datasets<'a> {
    fn from(data: &'a PerturbData) -> Self {
        Self {
            train: data,
            test: data,
        }
    }
}

/// The predictions of one baseline for every test condition it applies to.
pub fn predict<'a>(
    data: impl Into<Datasets<'a>>,
    split: &GearsSplit,
    method: Baseline,
    seed: u64,
) -> BTreeMap<String, Vec<f64>> {
    let Datasets {
        train: source,
        test: data,
    } = data.into();
    let ctrl = control_mean(data);
    let source_ctrl = control_mean(source);
    let means = condition_means(source);
    let train: Vec<&String> = split
        .train
        .iter()
        .filter(|c| !is_control(c) && means.contains_key(*c))
        .collect();
    let g = data.n_genes();
    let average = |vs: &[&Vec<f64>]| -> Vec<f64> {
        let mut m = vec![0f64; g];
        for v in vs {
            m.iter_mut().zip(v.iter()).for_each(|(a, b)| *a += b);
        }
        m.iter_mut().for_each(|a| *a /= vs.len().max(1) as f64);
        m
    };
    let tests = test_conditions(split, data);
    let perturbed_cells = || {
        let by = source.cells_by_condition();
        let cells: Vec<u32> = train
            .iter()
            .flat_map(|c| {
                by[source
                    .conditions
                    .iter()
                    .position(|x| x == *c)
                    .expect("known")]
                .iter()
                .copied()
            })
            .collect();
        cell_mean(source, &cells)
    };
    match method {
        Baseline::ControlMean => tests.into_iter().map(|c| (c, ctrl.clone())).collect(),
        Baseline::NonCtrlMean => {
            let m = average(&train.iter().map(|c| &means[*c]).collect::<Vec<_>>());
            tests.into_iter().map(|c| (c, m.clone())).collect()
        }
        Baseline::NonCtrlMeanCells => {
            let m = perturbed_cells();
            tests.into_iter().map(|c| (c, m.clone())).collect()
        }
        Baseline::MatchingMean => {
            let all = perturbed_cells();
            let trained = |c: &String| train.contains(&c);
            let token = |g: &str| -> Vec<f64> {
                let (a, b) = (single(g), single_ctrl_first(g));
                match (trained(&a), trained(&b)) {
                    (true, _) => means[&a].clone(),
                    (false, true) => means[&b].clone(),
                    _ => all.clone(),
                }
            };
            (tests.into_iter())
                .map(|c| {
                    let parts: Vec<Vec<f64>> = c.split('+').map(token).collect();
                    let m = average(&parts.iter().collect::<Vec<_>>());
                    (c, m)
                })
                .collect()
        }
        // Scored against the other half of the cells: `split_half_replicate`.
        Baseline::SplitHalfReplicate => split_halves(data, split, seed).0,
        Baseline::RandomTrainPerturbation => {
            let mut rng = StdRng::seed_from_u64(seed);
            tests
                .into_iter()
                .filter(|_| !train.is_empty())
                .map(|c| (c, means[train[rng.random_range(0..train.len())]].clone()))
                .collect()
        }
        Baseline::Additive => {
            // A single may be spelled A+ctrl or ctrl+A; average the spellings trained on.
            let single = |gene: &str| -> Option<Vec<f64>> {
                let found: Vec<&Vec<f64>> = train
                    .iter()
                    .filter(|c| is_single(c) && condition_genes(c) == [gene])
                    .map(|c| &means[*c])
                    .collect();
                (!found.is_empty()).then(|| average(&found))
            };
            let ctrls = (!std::ptr::eq(source, data)).then_some(&source_ctrl);
            (tests.into_iter())
                .filter_map(|c| Some((c.clone(), additive(&c, &single, &ctrl, ctrls)?)))
                .collect()
        }
    }
}

/// The additive prediction of a pair from its singles' means: `a + b − ctrl`; in a transfer the
/// two effects on the source (against `source_ctrl`) added to the tested control.
fn additive(
    condition: &str,
    single: &dyn Fn(&str) -> Option<Vec<f64>>,
    ctrl: &[f64],
    source_ctrl: Option<&Vec<f64>>,
) -> Option<Vec<f64>> {
    let genes = condition_genes(condition);
    let [a, b] = genes.as_slice() else {
        return None;
    };
    let (ma, mb) = (single(a)?, single(b)?);
    let g = ctrl.len();
    Some(match source_ctrl {
        None => (0..g).map(|j| ma[j] + mb[j] - ctrl[j]).collect(),
        Some(s) => (0..g)
            .map(|j| ma[j] + mb[j] - 2.0 * s[j] + ctrl[j])
            .collect(),
    })
}

/// Each test condition's cells split in two at random (seeded; the first ⌊n/2⌋ of a shuffle
/// are half A): the means of half A (the "prediction") and of half B (the truth it is scored
/// against). Conditions with fewer than two cells are left out.
pub fn split_halves(
    data: &PerturbData,
    split: &GearsSplit,
    seed: u64,
) -> (BTreeMap<String, Vec<f64>>, BTreeMap<String, Vec<f64>>) {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    for (c, (half_a, half_b)) in split_half_cells(data, split, seed) {
        a.insert(c.clone(), cell_mean(data, &half_a));
        b.insert(c, cell_mean(data, &half_b));
    }
    (a, b)
}

/// The cells of [`split_halves`]: per test condition, half A and half B.
pub fn split_half_cells(
    data: &PerturbData,
    split: &GearsSplit,
    seed: u64,
) -> BTreeMap<String, (Vec<u32>, Vec<u32>)> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5fa1_f4a1);
    let by = data.cells_by_condition();
    let mut out = BTreeMap::new();
    for c in test_conditions(split, data) {
        let Some(k) = data.conditions.iter().position(|x| *x == c) else {
            continue;
        };
        let mut cells = by[k].clone();
        if cells.len() < 2 {
            continue;
        }
        rand::seq::SliceRandom::shuffle(cells.as_mut_slice(), &mut rng);
        let half_b = cells.split_off(cells.len() / 2);
        out.insert(c, (cells, half_b));
    }
    out
}

/// One method's predictions and, when they are not the dataset's condition means, the truths
/// they are scored against (the replicate's other halves).
pub struct Predicted {
    pub method: Method,
    pub predictions: BTreeMap<String, Vec<f64>>,
    pub truths: Option<BTreeMap<String, Vec<f64>>>,
}

/// Every baseline's predictions; the ridge and kNN ones need a knowledge table.
pub fn baseline_predictions<'a>(
    datasets: impl Into<Datasets<'a>>,
    split: &GearsSplit,
    seed: u64,
    table: Option<&dyn GeneVectors>,
) -> Vec<Predicted> {
    let datasets = datasets.into();
    let data = datasets.test;
    let mut out: Vec<Predicted> = (Baseline::ALL.iter())
        .map(|&b| match b {
            Baseline::SplitHalfReplicate => {
                let (half_a, half_b) = split_halves(data, split, seed);
                Predicted {
                    method: Method::Baseline(b),
                    predictions: half_a,
                    truths: Some(half_b),
                }
            }
            _ => Predicted {
                method: Method::Baseline(b),
                predictions: predict(datasets, split, b, seed),
                truths: None,
            },
        })
        .collect();
    if let Some(table) = table {
        for m in [
            EmbeddingBaseline::Ridge { lambda: 1.0 },
            EmbeddingBaseline::Knn { k: 5 },
        ] {
            out.push(Predicted {
                method: m.method(),
                predictions: predict_with_embeddings(datasets, split, table, m),
                truths: None,
            });
        }
    }
    out
}

/// GEARS' metrics of one method's predictions on the split's test conditions, against its
/// truths (the condition means unless given), summarised per test subgroup.
pub fn report(data: &PerturbData, split: &GearsSplit, p: &Predicted) -> MethodReport {
    let tests = test_conditions(split, data);
    let per_condition = match &p.truths {
        Some(truths) => score_against(data, &tests, &p.predictions, truths),
        None => score_conditions(data, &tests, &p.predictions),
    };
    let summary = summarize(&per_condition, &split.test_subgroup);
    MethodReport {
        per_condition,
        summary,
    }
}

/// Every baseline, scored with GEARS' metrics; the ridge and kNN rows need a knowledge table.
pub fn evaluate_baselines(
    data: &PerturbData,
    split: &GearsSplit,
    seed: u64,
    table: Option<&dyn GeneVectors>,
) -> BTreeMap<Method, MethodReport> {
    (baseline_predictions(data, split, seed, table).iter())
        .map(|p| (p.method, report(data, split, p)))
        .collect()
}

/// Baselines that read a perturbation through its genes' knowledge embeddings (docs/reference.md
/// §5.7).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EmbeddingBaseline {
    /// Ridge regression from the (centred) embedding to Δ, solved in the dual (n_train × n_train).
    Ridge { lambda: f64 },
    /// Mean Δ of the `k` training perturbations whose centred embeddings are most cosine-similar
    /// (LangPert without the LLM).
    Knn { k: usize },
}

impl EmbeddingBaseline {
    pub fn method(self) -> Method {
        match self {
            EmbeddingBaseline::Ridge { .. } => Method::RidgeEmbedding,
            EmbeddingBaseline::Knn { .. } => Method::KnnEmbedding,
        }
    }
}

/// A condition's embedding: the sum of its genes' vectors; `None` if a gene has none.
fn condition_embedding(table: &dyn GeneVectors, condition: &str) -> Option<Vec<f64>> {
    let genes = condition_genes(condition);
    let mut v = vec![0f64; table.dim()];
    for g in genes {
        let e = table.get(g)?;
        v.iter_mut().zip(e).for_each(|(a, b)| *a += *b as f64);
    }
    Some(v)
}

/// The Cholesky factor `L` (lower, row-major) of a symmetric positive-definite `A` (n × n,
/// row-major); `None` when `A` is not positive definite.
fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i * n + i] - s;
                if d <= 0.0 {
                    return None;
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// Solves `L Lᵀ x = b` given the Cholesky factor `L` of `cholesky`.
fn cholesky_solve(l: &[f64], n: usize, b: &[f64]) -> Vec<f64> {
    let mut y = vec![0f64; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|k| l[i * n + k] * y[k]).sum::<f64>()) / l[i * n + i];
    }
    let mut x = vec![0f64; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|k| l[k * n + i] * x[k]).sum::<f64>()) / l[i * n + i];
    }
    x
}

/// Predictions of an embedding baseline for every test condition whose genes all have vectors.
pub fn predict_with_embeddings<'a>(
    data: impl Into<Datasets<'a>>,
    split: &GearsSplit,
    table: &dyn GeneVectors,
    method: EmbeddingBaseline,
) -> BTreeMap<String, Vec<f64>> {
    let Datasets {
        train: source,
        test: data,
    } = data.into();
    let ctrl = control_mean(data);
    let source_ctrl = control_mean(source);
    let means = condition_means(source);
    let train: Vec<(Vec<f64>, Vec<f64>)> = split
        .train
        .iter()
        .filter(|c| !is_control(c) && means.contains_key(*c))
        .filter_map(|c| {
            let x = condition_embedding(table, c)?;
            let dy: Vec<f64> = (means[c].iter().zip(&source_ctrl))
                .map(|(m, c)| m - c)
                .collect();
            Some((x, dy))
        })
        .collect();
    let n = train.len();
    if n == 0 {
        return BTreeMap::new();
    }
    let (d, g) = (table.dim(), data.n_genes());
    let mut x_mean = vec![0f64; d];
    let mut y_mean = vec![0f64; g];
    for (x, y) in &train {
        x_mean
            .iter_mut()
            .zip(x)
            .for_each(|(a, b)| *a += b / n as f64);
        y_mean
            .iter_mut()
            .zip(y)
            .for_each(|(a, b)| *a += b / n as f64);
    }
    let centre = |x: &[f64]| -> Vec<f64> { x.iter().zip(&x_mean).map(|(a, b)| a - b).collect() };
    let xs: Vec<Vec<f64>> = train.iter().map(|(x, _)| centre(x)).collect();
    let dot = |a: &[f64], b: &[f64]| -> f64 { a.iter().zip(b).map(|(x, y)| x * y).sum() };
    // Ridge dual weights per gene share one kernel solve: alpha = (K + λI)⁻¹ (Y − ȳ).
    let ridge_alpha: Option<Vec<Vec<f64>>> = match method {
        EmbeddingBaseline::Ridge { lambda } => {
            let mut k = vec![0f64; n * n];
            for i in 0..n {
                for j in 0..n {
                    k[i * n + j] = dot(&xs[i], &xs[j]) + if i == j { lambda } else { 0.0 };
                }
            }
            // One factorisation for every gene (n³/6 once, then n² per gene).
            cholesky(&k, n).map(|l| {
                (0..g)
                    .map(|j| {
                        let b: Vec<f64> = train.iter().map(|(_, y)| y[j] - y_mean[j]).collect();
                        cholesky_solve(&l, n, &b)
                    })
                    .collect()
            })
        }
        EmbeddingBaseline::Knn { .. } => None,
    };
    test_conditions(split, data)
        .into_iter()
        .filter_map(|c| {
            let x = centre(&condition_embedding(table, &c)?);
            let delta: Vec<f64> = match method {
                EmbeddingBaseline::Ridge { .. } => {
                    let alphas = ridge_alpha.as_ref()?;
                    let kx: Vec<f64> = xs.iter().map(|xi| dot(xi, &x)).collect();
                    (0..g).map(|j| y_mean[j] + dot(&kx, &alphas[j])).collect()
                }
                EmbeddingBaseline::Knn { k } => {
                    let norm = |v: &[f64]| dot(v, v).sqrt().max(1e-12);
                    let mut sims: Vec<(f64, usize)> = xs
                        .iter()
                        .enumerate()
                        .map(|(i, xi)| (dot(xi, &x) / (norm(xi) * norm(&x)), i))
                        .collect();
                    sims.sort_by(|a, b| {
                        b.0.partial_cmp(&a.0)
                            .unwrap_or(std::cmp::Ordering::Equal)
                            .then(a.1.cmp(&b.1))
                    });
                    let top: Vec<usize> = sims.iter().take(k.max(1)).map(|(_, i)| *i).collect();
                    (0..g)
                        .map(|j| top.iter().map(|i| train[*i].1[j]).sum::<f64>() / top.len() as f64)
                        .collect()
                }
            };
            Some((c, delta.iter().zip(&ctrl).map(|(d, c)| d + c).collect()))
        })
        .collect()
}
