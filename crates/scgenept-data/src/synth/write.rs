//! A synthetic dataset written as a GEARS-format h5ad: its `obs` (condition, cell type, dose),
//! its `uns` (the DE keys, the generator's settings, the SYNTHETIC mark).

use std::path::Path;

use super::config::SynthConfig;
use super::{generate, GoAnnotations, Synthetic};
use crate::condition::{is_control, is_pair};
use crate::de::{compute_de_keys, DeKeys};
use crate::error::Result;
use crate::h5ad_write::{AnnData, Frame, FrameColumn, UnsValue};

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
        n_pairs: s.conditions.iter().filter(|c| is_pair(c)).count(),
        interacting_pairs: s.interacting_pairs,
        nonzero_fraction: s.x.nnz() as f64 / (s.x.n_rows as f64 * s.x.n_cols as f64),
    })
}

/// The cell type synthetic cells are labelled with (Norman's cells are K562).
const CELL_TYPE: &str = "K562";

/// GEARS' `dose_val`: `1` for ctrl, `1+1` for any perturbation.
fn dose(condition: &str) -> &'static str {
    if is_control(condition) {
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
