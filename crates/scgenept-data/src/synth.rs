//! `scgenept data synth`: a seeded generator of GEARS-format Perturb-seq h5ad files, for tests,
//! the demo and benchmarks — a testbed, never a claim about biology (every file says so in `uns`).
//!
//! Real gene symbols (the real Norman/Adamson targets and conditions, the rest drawn from genes
//! with GO annotations), negative-binomial counts with per-gene means and dispersions and per-cell
//! library sizes, then `normalize_total` (median) + `log1p` as GEARS did. Effects come from
//! [`crate::synth_effects`]. The DE keys are computed by the same code as for user data.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Gamma, LogNormal, Poisson};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::csr::CsrMatrix;
use crate::de::{compute_de_keys, DeKeys};
use crate::error::{DataError, Result};
use crate::h5ad_write::{AnnData, Frame, FrameColumn, UnsValue};
use crate::perturb_data::condition_genes;
use crate::synth_effects::{build_effects, EffectModel, EffectParams, Modality};

const NORMAN_CONDITIONS: &str = include_str!("../assets/gears/norman_conditions_normalized.txt");
const ADAMSON_CONDITIONS: &str = include_str!("../assets/gears/adamson_conditions.txt");

/// Which conditions a dataset has.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionSet {
    /// All 236 Norman perturbations; 47 singles also spelled `ctrl+A` (284 conditions with ctrl,
    /// as in GEARS' file), pairs in random order.
    Norman,
    /// The 86 Adamson single perturbations.
    Adamson,
    /// `n_pairs` Norman pairs drawn at random, singles for each of their genes, plus
    /// `extra_singles` more Norman singles.
    NormanSubset {
        n_pairs: usize,
        extra_singles: usize,
    },
}

/// Everything that determines a synthetic dataset (with the seed).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SynthConfig {
    pub preset: String,
    pub conditions: ConditionSet,
    pub n_genes: usize,
    pub n_cells: usize,
    pub ctrl_fraction: f64,
    pub effects: EffectParams,
    /// Write `layers["counts"]` (raw counts), as GEARS' files have.
    pub with_counts: bool,
}

/// The synthetic datasets `data synth` makes: `tiny` (tests), `demo` (the README's main job),
/// `adamson` and `norman` (the real datasets' sizes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SynthPreset {
    Tiny,
    Demo,
    Adamson,
    Norman,
}

impl SynthPreset {
    pub const ALL: [SynthPreset; 4] = [Self::Tiny, Self::Demo, Self::Adamson, Self::Norman];

    pub fn name(self) -> &'static str {
        match self {
            Self::Tiny => "tiny",
            Self::Demo => "demo",
            Self::Adamson => "adamson",
            Self::Norman => "norman",
        }
    }

    /// `tiny, demo, adamson, norman`.
    pub fn names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }
}

impl std::fmt::Display for SynthPreset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for SynthPreset {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown preset '{s}'; choose one of {}", Self::names()))
    }
}

impl SynthConfig {
    pub fn preset(preset: SynthPreset) -> Self {
        let effects = |modality| EffectParams {
            modality,
            predictability: 0.7,
            interaction_frac: 0.3,
            effect_scale: 0.8,
            program_density: 0.02,
            target_lfc: 3.0,
        };
        let c = |conditions, n_genes, n_cells, ctrl_fraction, modality| Self {
            preset: preset.to_string(),
            conditions,
            n_genes,
            n_cells,
            ctrl_fraction,
            effects: effects(modality),
            with_counts: true,
        };
        match preset {
            SynthPreset::Tiny => c(
                ConditionSet::NormanSubset {
                    n_pairs: 6,
                    extra_singles: 4,
                },
                64,
                600,
                0.25,
                Modality::Crispra,
            ),
            SynthPreset::Demo => c(
                ConditionSet::NormanSubset {
                    n_pairs: 24,
                    extra_singles: 10,
                },
                384,
                4_000,
                0.15,
                Modality::Crispra,
            ),
            // Norman: 91,205 cells × 5,045 genes, 7,353 of them ctrl.
            SynthPreset::Norman => c(
                ConditionSet::Norman,
                5_045,
                91_205,
                7_353.0 / 91_205.0,
                Modality::Crispra,
            ),
            // Adamson: 5,060 genes; 65,899 cells as loaded by GEARS.
            SynthPreset::Adamson => c(ConditionSet::Adamson, 5_060, 65_899, 0.2, Modality::Crispri),
        }
    }
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// GEARS-spelled condition labels (without ctrl) and the unordered pairs among them.
fn choose_conditions(set: &ConditionSet, rng: &mut StdRng) -> Vec<String> {
    let norman: Vec<String> = words(NORMAN_CONDITIONS);
    let flip = |c: &str, rng: &mut StdRng| -> String {
        let g = condition_genes(c);
        if g.len() == 2 && rng.random::<bool>() {
            format!("{}+{}", g[1], g[0])
        } else {
            c.to_string()
        }
    };
    match set {
        ConditionSet::Adamson => words(ADAMSON_CONDITIONS)
            .into_iter()
            .filter(|c| c != "ctrl")
            .collect(),
        ConditionSet::Norman => {
            let mut out: Vec<String> = norman.iter().map(|c| flip(c, rng)).collect();
            let mut singles: Vec<&String> =
                norman.iter().filter(|c| c.ends_with("+ctrl")).collect();
            singles.shuffle(rng);
            for s in singles.into_iter().take(47) {
                out.push(format!("ctrl+{}", condition_genes(s)[0]));
            }
            out
        }
        ConditionSet::NormanSubset {
            n_pairs,
            extra_singles,
        } => {
            let mut pairs: Vec<&String> = norman.iter().filter(|c| !c.contains("ctrl")).collect();
            pairs.shuffle(rng);
            let pairs: Vec<String> = pairs
                .into_iter()
                .take(*n_pairs)
                .map(|c| flip(c, rng))
                .collect();
            let mut genes: BTreeSet<String> = pairs
                .iter()
                .flat_map(|c| condition_genes(c).into_iter().map(String::from))
                .collect();
            let mut others: Vec<String> = norman
                .iter()
                .filter(|c| c.ends_with("+ctrl"))
                .map(|c| condition_genes(c)[0].to_string())
                .filter(|g| !genes.contains(g))
                .collect();
            others.shuffle(rng);
            genes.extend(others.into_iter().take(*extra_singles));
            let mut out: Vec<String> = genes.into_iter().map(|g| format!("{g}+ctrl")).collect();
            out.extend(pairs);
            out
        }
    }
}

/// A generated dataset, before writing.
pub struct Synthetic {
    pub x: CsrMatrix,
    pub counts: CsrMatrix,
    pub gene_names: Vec<String>,
    pub cell_condition: Vec<u32>,
    /// `ctrl` first, then the perturbations.
    pub conditions: Vec<String>,
    pub interacting_pairs: usize,
}

/// The GO annotations the synthetic effects follow: the knowledge crate's `GeneText` (the data
/// crate knows no gene text of its own).
pub trait GoAnnotations {
    /// Every gene with GO annotations, sorted.
    fn annotated_genes(&self) -> Vec<&str>;
    /// A gene's GO terms, all aspects (empty when it has none).
    fn go_terms(&self, gene: &str) -> Vec<String>;
}

/// Generates the dataset; deterministic for a given config and seed, whatever the thread count.
/// Every draw from `rng` happens in this function's order (conditions, genes, cells per
/// condition, gene parameters), so a seed always gives the same file.
pub fn generate(cfg: &SynthConfig, seed: u64, text: &dyn GoAnnotations) -> Result<Synthetic> {
    let mut rng = StdRng::seed_from_u64(seed);
    let perts = choose_conditions(&cfg.conditions, &mut rng);
    let targets: BTreeSet<String> = perts
        .iter()
        .flat_map(|c| condition_genes(c).into_iter().map(String::from))
        .collect();
    let gene_names = choose_genes(cfg, text, &targets, &mut rng)?;
    let terms_of = |g: &str| -> Vec<String> { text.go_terms(g) };
    let pairs: Vec<(String, String)> = perts
        .iter()
        .filter(|c| !c.contains("ctrl"))
        .map(|c| {
            let g = condition_genes(c);
            (g[0].to_string(), g[1].to_string())
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let target_list: Vec<String> = targets.iter().cloned().collect();
    let model = build_effects(
        &gene_names,
        &terms_of,
        &target_list,
        &pairs,
        &cfg.effects,
        seed,
    );
    let mut conditions = vec!["ctrl".to_string()];
    conditions.extend(perts.iter().cloned());
    let cell_condition = cells_per_condition(cfg, perts.len(), &mut rng);
    let genes = GeneParams::draw(gene_names.len(), &mut rng);
    let effect_of = effects_by_condition(&conditions, &model, &pairs);
    let counts = sample_counts(cfg.n_cells, &cell_condition, &effect_of, &genes, seed)?;
    let x = normalize_log1p(&counts);
    Ok(Synthetic {
        x,
        counts,
        gene_names,
        cell_condition,
        conditions,
        interacting_pairs: model.interacting.len(),
    })
}

/// The dataset's genes: the perturbation targets plus annotated background genes, shuffled.
fn choose_genes(
    cfg: &SynthConfig,
    text: &dyn GoAnnotations,
    targets: &BTreeSet<String>,
    rng: &mut StdRng,
) -> Result<Vec<String>> {
    if targets.len() > cfg.n_genes {
        return Err(DataError::new(
            "synth",
            format!(
                "{} targets do not fit in {} genes",
                targets.len(),
                cfg.n_genes
            ),
        ));
    }
    // Background genes: annotated symbols not already targets.
    let mut pool: Vec<&str> = text
        .annotated_genes()
        .into_iter()
        .filter(|g| !targets.contains(*g))
        .collect();
    pool.shuffle(rng);
    let mut gene_names: Vec<String> = targets.iter().cloned().collect();
    gene_names.extend(
        pool.into_iter()
            .take(cfg.n_genes - targets.len())
            .map(String::from),
    );
    gene_names.shuffle(rng);
    Ok(gene_names)
}

/// Each cell's condition (0 = ctrl): the ctrl share fixed, the rest by log-normal weights, at
/// least 2 cells per perturbation, shuffled.
fn cells_per_condition(cfg: &SynthConfig, n_perts: usize, rng: &mut StdRng) -> Vec<u32> {
    let n_ctrl = ((cfg.n_cells as f64) * cfg.ctrl_fraction).round() as usize;
    let lw = LogNormal::new(0.0, 0.4).expect("valid");
    let weights: Vec<f64> = (0..n_perts).map(|_| lw.sample(rng)).collect();
    let total_w: f64 = weights.iter().sum();
    let rest = cfg.n_cells.saturating_sub(n_ctrl);
    let mut sizes: Vec<usize> = vec![n_ctrl];
    sizes.extend(
        weights
            .iter()
            .map(|w| ((w / total_w) * rest as f64).floor().max(2.0) as usize),
    );
    let mut k = 1;
    while sizes.iter().sum::<usize>() < cfg.n_cells {
        sizes[k] += 1;
        k = 1 + k % n_perts.max(1);
    }
    let mut cell_condition: Vec<u32> = sizes
        .iter()
        .enumerate()
        .flat_map(|(k, n)| std::iter::repeat_n(k as u32, *n))
        .collect();
    cell_condition.shuffle(rng);
    cell_condition
}

/// Per-gene base means and negative-binomial sizes.
struct GeneParams {
    mu: Vec<f64>,
    size: Vec<f64>,
}

impl GeneParams {
    fn draw(g: usize, rng: &mut StdRng) -> Self {
        let mean_dist = LogNormal::new((0.04f64).ln(), 1.6).expect("valid");
        let mu: Vec<f64> = (0..g).map(|_| mean_dist.sample(rng).min(200.0)).collect();
        let size: Vec<f64> = (0..g)
            .map(|_| 1.0 / (0.1 + 0.9 * rng.random::<f64>()))
            .collect();
        GeneParams { mu, size }
    }
}

/// Per condition (ctrl first), gene index → log fold change.
fn effects_by_condition(
    conditions: &[String],
    model: &EffectModel,
    pairs: &[(String, String)],
) -> Vec<HashMap<usize, f64>> {
    conditions
        .iter()
        .map(|c| {
            let genes = condition_genes(c);
            let e = match genes.as_slice() {
                [] => Vec::new(),
                [a] => model.singles[*a].clone(),
                [a, b] => {
                    let key = if pairs.binary_search(&(a.to_string(), b.to_string())).is_ok() {
                        (a.to_string(), b.to_string())
                    } else {
                        (b.to_string(), a.to_string())
                    };
                    model.pairs[&key].clone()
                }
                _ => unreachable!("conditions have at most two genes"),
            };
            e.into_iter().collect()
        })
        .collect()
}

/// Negative-binomial counts (Gamma–Poisson), one independent stream per cell, in parallel.
fn sample_counts(
    n_cells: usize,
    cell_condition: &[u32],
    effect_of: &[HashMap<usize, f64>],
    genes: &GeneParams,
    seed: u64,
) -> Result<CsrMatrix> {
    let g = genes.mu.len();
    let rows: Vec<(Vec<u32>, Vec<f32>)> = cell_condition
        .par_iter()
        .enumerate()
        .map(|(cell, &k)| {
            let mut rng =
                StdRng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (cell as u64 + 1));
            let lib = LogNormal::new(0.0, 0.35).expect("valid").sample(&mut rng);
            // Knock-down/activation efficiency varies; some cells escape the perturbation.
            let eff = if k == 0 || rng.random::<f64>() < 0.08 {
                0.0
            } else {
                0.6 + 0.6 * rng.random::<f64>()
            };
            let effect = &effect_of[k as usize];
            let (mut idx, mut val) = (Vec::new(), Vec::new());
            for j in 0..g {
                let lfc = effect.get(&j).copied().unwrap_or(0.0) * eff;
                let m = lib * genes.mu[j] * lfc.exp();
                let lambda = Gamma::new(genes.size[j], m / genes.size[j])
                    .map(|d| d.sample(&mut rng))
                    .unwrap_or(0.0);
                if lambda > 0.0 {
                    let c = Poisson::new(lambda)
                        .map(|d| d.sample(&mut rng))
                        .unwrap_or(0.0);
                    if c > 0.0 {
                        idx.push(j as u32);
                        val.push(c as f32);
                    }
                }
            }
            (idx, val)
        })
        .collect();
    let mut indptr = vec![0u64];
    let (mut indices, mut data) = (Vec::new(), Vec::new());
    for (i, v) in rows {
        indices.extend(i);
        data.extend(v);
        indptr.push(data.len() as u64);
    }
    CsrMatrix::new(n_cells, g, indptr, indices, data).map_err(|e| DataError::new("synth", e))
}

/// scanpy `normalize_total` (target = median total) then `log1p`.
pub fn normalize_log1p(counts: &CsrMatrix) -> CsrMatrix {
    let totals: Vec<f64> = (0..counts.n_rows)
        .map(|r| counts.row(r).1.iter().map(|v| *v as f64).sum())
        .collect();
    let mut sorted: Vec<f64> = totals.iter().copied().filter(|t| *t > 0.0).collect();
    sorted.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    let target = if sorted.is_empty() {
        1.0
    } else if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
    };
    let mut x = counts.clone();
    for (r, total) in totals.iter().enumerate() {
        let (a, b) = (x.indptr[r] as usize, x.indptr[r + 1] as usize);
        let scale = if *total > 0.0 { target / total } else { 0.0 };
        for v in &mut x.data[a..b] {
            *v = ((*v as f64) * scale).ln_1p() as f32;
        }
    }
    x
}

/// What `write_synthetic` reports.
#[derive(Debug)]
pub struct SynthReport {
    pub n_cells: usize,
    pub n_genes: usize,
    pub n_conditions: usize,
    pub n_pairs: usize,
    pub interacting_pairs: usize,
    pub nonzero_fraction: f64,
}

/// Generates (effects following `text`'s GO annotations), computes the DE keys and writes a
/// GEARS-format h5ad (atomically).
pub fn write_synthetic(
    cfg: &SynthConfig,
    seed: u64,
    text: &dyn GoAnnotations,
    path: &Path,
) -> Result<SynthReport> {
    let s = generate(cfg, seed, text)?;
    let condition_names: Vec<String> = s
        .conditions
        .iter()
        .map(|c| format!("{CELL_TYPE}_{c}_{}", dose(c)))
        .collect();
    let gene_ids: Vec<String> = (0..s.gene_names.len())
        .map(|i| format!("SYN{:06}", i + 1))
        .collect();
    let de = compute_de_keys(&s.x, &s.cell_condition, &condition_names, 0, &gene_ids);
    let layers = if cfg.with_counts {
        vec![("counts", &s.counts)]
    } else {
        vec![]
    };
    AnnData {
        x: &s.x,
        layers,
        obs: synthetic_obs(&s, &condition_names),
        var: Frame::genes(&gene_ids, &s.gene_names),
        uns: synthetic_uns(cfg, seed, &de),
    }
    .write(path)?;
    Ok(SynthReport {
        n_cells: s.x.n_rows,
        n_genes: s.x.n_cols,
        n_conditions: s.conditions.len(),
        n_pairs: s.conditions.iter().filter(|c| !c.contains("ctrl")).count(),
        interacting_pairs: s.interacting_pairs,
        nonzero_fraction: s.x.nnz() as f64 / (s.x.n_rows as f64 * s.x.n_cols as f64),
    })
}

/// The cell type synthetic cells are labelled with (Norman's cells are K562).
const CELL_TYPE: &str = "K562";

/// GEARS' `dose_val`: `1` for ctrl, `1+1` for any perturbation.
fn dose(condition: &str) -> &'static str {
    if condition == "ctrl" {
        "1"
    } else {
        "1+1"
    }
}

/// obs as GEARS has it: condition, cell_type, dose_val, control, condition_name.
fn synthetic_obs(s: &Synthetic, condition_names: &[String]) -> Frame {
    let per_cell = |f: &dyn Fn(usize) -> String| -> Vec<String> {
        s.cell_condition.iter().map(|k| f(*k as usize)).collect()
    };
    let obs = Frame {
        index_name: "cell_barcode".into(),
        index: (0..s.x.n_rows)
            .map(|i| format!("synth_cell_{i:06}"))
            .collect(),
        columns: vec![
            (
                "condition".into(),
                FrameColumn::Categorical(per_cell(&|k| s.conditions[k].clone())),
            ),
            (
                "cell_type".into(),
                FrameColumn::Categorical(vec![CELL_TYPE.to_string(); s.x.n_rows]),
            ),
            (
                "dose_val".into(),
                FrameColumn::Categorical(per_cell(&|k| dose(&s.conditions[k]).to_string())),
            ),
            (
                "control".into(),
                FrameColumn::Int(s.cell_condition.iter().map(|k| (*k == 0) as i64).collect()),
            ),
            (
                "condition_name".into(),
                FrameColumn::Categorical(per_cell(&|k| condition_names[k].clone())),
            ),
        ],
    };
    obs
}

/// uns: the synthetic marker and config, and GEARS' DE keys.
fn synthetic_uns(cfg: &SynthConfig, seed: u64, de: &DeKeys) -> Vec<(String, UnsValue)> {
    let strings = |m: &std::collections::BTreeMap<String, Vec<String>>| {
        UnsValue::Dict(
            m.iter()
                .map(|(k, v)| (k.clone(), UnsValue::Strings(v.clone())))
                .collect(),
        )
    };
    let ints = |m: &std::collections::BTreeMap<String, Vec<usize>>| {
        UnsValue::Dict(
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        UnsValue::Ints(v.iter().map(|i| *i as i64).collect()),
                    )
                })
                .collect(),
        )
    };
    let params = serde_json::to_string(cfg).expect("config serialises");
    vec![
        (
            "synthetic".to_string(),
            UnsValue::Strings(vec![format!(
                "SYNTHETIC data from `scgenept data synth --preset {} --seed {seed}` (scgenept {}): a testbed, not biological measurements",
                cfg.preset,
                env!("CARGO_PKG_VERSION")
            )]),
        ),
        ("synthetic_config".to_string(), UnsValue::Strings(vec![params])),
        ("rank_genes_groups_cov_all".to_string(), strings(&de.rank_genes_groups_cov_all)),
        ("top_non_dropout_de_20".to_string(), strings(&de.top_non_dropout_de_20)),
        ("top_non_zero_de_20".to_string(), strings(&de.top_non_zero_de_20)),
        ("non_dropout_gene_idx".to_string(), ints(&de.non_dropout_gene_idx)),
        ("non_zeros_gene_idx".to_string(), ints(&de.non_zeros_gene_idx)),
    ]
}
