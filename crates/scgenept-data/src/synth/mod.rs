//! `scgenept data synth`: a seeded generator of GEARS-format Perturb-seq h5ad files, for tests,
//! the demo and benchmarks — a testbed, never a claim about biology (every file says so in `uns`).
//!
//! Real gene symbols (the real Norman/Adamson targets and conditions, the rest drawn from genes
//! with GO annotations), negative-binomial counts with per-gene means and dispersions and per-cell
//! library sizes, then `normalize_total` (median) + `log1p` as GEARS did. Effects come from
//! `effects.rs`. The DE keys are computed by the same code as for user data.
//!
//! `config.rs` holds what to generate (presets, condition sets), `effects.rs` the effects,
//! `counts.rs` the counts and their normalisation, `write.rs` the h5ad and its `obs`/`uns`.

pub mod config;
pub mod counts;
pub mod effects;
pub mod write;

use std::collections::{BTreeSet, HashMap};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::condition::{condition_genes, is_pair, CTRL};
use crate::csr::CsrMatrix;
use crate::error::{DataError, Result};
use config::{choose_conditions, SynthConfig};
use counts::{cells_per_condition, effects_by_condition, normalize_log1p, sample_rows, GeneParams};
use effects::build_effects;

/// A generated dataset, before writing.
pub struct Synthetic {
    pub x: CsrMatrix,
    pub counts: CsrMatrix,
    pub plan: Plan,
}

/// Everything about a dataset drawn before any count: its genes, conditions, each cell's
/// condition, the effects and the genes' count parameters. The counts follow from it a cell at a
/// time ([`Plan::sample_rows`]), so a file of any size is written a block of cells at a time.
pub struct Plan {
    pub gene_names: Vec<String>,
    /// `ctrl` first, then the perturbations.
    pub conditions: Vec<String>,
    pub cell_condition: Vec<u32>,
    pub interacting_pairs: usize,
    effect_of: Vec<HashMap<usize, f64>>,
    genes: GeneParams,
    seed: u64,
}

impl Plan {
    pub fn n_cells(&self) -> usize {
        self.cell_condition.len()
    }

    /// Raw counts of the cells `rows`; the same whichever blocks are drawn before.
    pub fn sample_rows(&self, rows: std::ops::Range<usize>) -> Result<CsrMatrix> {
        sample_rows(
            &self.cell_condition,
            &self.effect_of,
            &self.genes,
            self.seed,
            rows,
        )
    }
}

/// The GO annotations the synthetic effects follow: the knowledge crate's `GeneText` (the data
/// crate knows no gene text of its own).
pub trait GoAnnotations {
    /// Every gene with GO annotations, sorted.
    fn annotated_genes(&self) -> Vec<&str>;
    /// A gene's GO terms, all aspects (empty when it has none).
    fn go_terms(&self, gene: &str) -> Vec<String>;
}

/// Generates the dataset in memory; deterministic for a given config and seed, whatever the
/// thread count. `write::write_synthetic` writes the same values a block at a time.
pub fn generate(cfg: &SynthConfig, seed: u64, text: &dyn GoAnnotations) -> Result<Synthetic> {
    let plan = plan(cfg, seed, text)?;
    let counts = plan.sample_rows(0..plan.n_cells())?;
    let x = normalize_log1p(&counts);
    Ok(Synthetic { x, counts, plan })
}

/// Draws the [`Plan`]. Every draw from `rng` happens in this function's order (conditions,
/// genes, cells per condition, gene parameters), so a seed always gives the same dataset.
pub fn plan(cfg: &SynthConfig, seed: u64, text: &dyn GoAnnotations) -> Result<Plan> {
    let mut rng = StdRng::seed_from_u64(seed);
    let perts = choose_conditions(&cfg.conditions, &text.annotated_genes(), &mut rng);
    let targets: BTreeSet<String> = perts
        .iter()
        .flat_map(|c| condition_genes(c).into_iter().map(String::from))
        .collect();
    let gene_names = choose_genes(cfg, text, &targets, &mut rng)?;
    let terms_of = |g: &str| -> Vec<String> { text.go_terms(g) };
    let pairs: Vec<(String, String)> = perts
        .iter()
        .filter(|c| is_pair(c))
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
    let mut conditions = vec![CTRL.to_string()];
    conditions.extend(perts.iter().cloned());
    let cell_condition = cells_per_condition(cfg, perts.len(), &mut rng);
    let genes = GeneParams::draw(gene_names.len(), &mut rng);
    let effect_of = effects_by_condition(&conditions, &model, &pairs);
    Ok(Plan {
        gene_names,
        conditions,
        cell_condition,
        interacting_pairs: model.interacting.len(),
        effect_of,
        genes,
        seed,
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
