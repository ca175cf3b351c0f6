//! A synthetic dataset written as a GEARS-format h5ad: its `obs` (condition, cell type, dose),
//! its `uns` (the DE keys, the generator's settings, the SYNTHETIC mark).

use std::ops::Range;
use std::path::Path;

use super::config::SynthConfig;
use super::counts::{median_total, normalize_block, row_totals};
use super::{plan, GoAnnotations, Plan};
use crate::condition::{is_control, is_pair};
use crate::csr::CsrMatrix;
use crate::de::{de_keys_from_stats, DeKeys, GroupSums};
use crate::error::{DataError, Result};
use crate::files::write_atomic_with;
use crate::h5ad_write::{
    AnnDataSkeleton, Frame, FrameColumn, SparseAppender, SparseShape, UnsValue,
};
use crate::progress::terminal_bar;

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

/// Cells per block: what the writer holds at once (counts and log-normalised values).
const BLOCK_CELLS: usize = 8192;

/// Generates (effects following `text`'s GO annotations), computes the DE keys and writes a
/// GEARS-format h5ad (atomically), in memory that tracks one block of cells and the DE keys,
/// not the file: the counts are drawn three times from the same per-cell streams (the cells'
/// totals for the median, the DE statistics, the values written), `docs/data.md`.
pub fn write_synthetic(
    cfg: &SynthConfig,
    seed: u64,
    text: &dyn GoAnnotations,
    path: &Path,
) -> Result<SynthReport> {
    let plan = plan(cfg, seed, text)?;
    let n = plan.n_cells();
    let g = plan.gene_names.len();
    let blocks: Vec<Range<usize>> = (0..n)
        .step_by(BLOCK_CELLS)
        .map(|a| a..(a + BLOCK_CELLS).min(n))
        .collect();
    let bar = terminal_bar(
        3 * n as u64,
        "synth {bar:30} {pos}/{len} cell passes [{elapsed_precise} < {eta}]",
    );
    let (mut totals, mut nnz) = (Vec::with_capacity(n), 0u64);
    for r in &blocks {
        let counts = plan.sample_rows(r.clone())?;
        totals.extend(row_totals(&counts));
        nnz += counts.nnz() as u64;
        bar.inc(r.len() as u64);
    }
    let target = median_total(&totals);
    let block = |r: &Range<usize>| -> Result<(CsrMatrix, CsrMatrix)> {
        let counts = plan.sample_rows(r.clone())?;
        let x = normalize_block(&counts, &totals[r.clone()], target);
        bar.inc(r.len() as u64);
        Ok((counts, x))
    };
    let condition_names: Vec<String> = plan
        .conditions
        .iter()
        .map(|c| format!("{}_{c}_{}", cfg.cell_type, dose(c)))
        .collect();
    let mut sums = GroupSums::new(plan.conditions.len(), g);
    for r in &blocks {
        let (_, x) = block(r)?;
        for (i, cell) in r.clone().enumerate() {
            let (cols, vals) = x.row(i);
            sums.add_row(plan.cell_condition[cell] as usize, cols, vals);
        }
    }
    let gene_ids: Vec<String> = (0..g).map(|i| format!("SYN{:06}", i + 1)).collect();
    let de = de_keys_from_stats(&sums.finish(), &condition_names, 0, &gene_ids);
    let shape = SparseShape {
        n_rows: n,
        n_cols: g,
        nnz,
    };
    let layers = if cfg.with_counts {
        vec!["counts"]
    } else {
        vec![]
    };
    let skeleton = AnnDataSkeleton {
        shape,
        layers,
        obs: synthetic_obs(&plan, &cfg.cell_type, &condition_names),
        var: Frame::genes(&gene_ids, &plan.gene_names),
        uns: synthetic_uns(cfg, seed, de),
    };
    write_atomic_with(path, |tmp| {
        skeleton.write(tmp)?;
        drop(skeleton); // the DE keys are in the file; hold only blocks from here on
        let keys: Vec<&str> = std::iter::once("X")
            .chain(cfg.with_counts.then_some("layers/counts"))
            .collect();
        let mut out = SparseAppender::open(tmp, shape, &keys)?;
        for r in &blocks {
            let (counts, x) = block(r).map_err(std::io::Error::other)?;
            out.append("X", &x)?;
            if cfg.with_counts {
                out.append("layers/counts", &counts)?;
            }
        }
        out.finish()
    })
    .map_err(|e| DataError::from_write(path, e))?;
    bar.finish_and_clear();
    Ok(SynthReport {
        n_cells: n,
        n_genes: g,
        n_conditions: plan.conditions.len(),
        n_pairs: plan.conditions.iter().filter(|c| is_pair(c)).count(),
        interacting_pairs: plan.interacting_pairs,
        nonzero_fraction: nnz as f64 / (n as f64 * g as f64),
    })
}

/// GEARS' `dose_val`: `1` for ctrl, `1+1` for any perturbation.
fn dose(condition: &str) -> &'static str {
    if is_control(condition) {
        "1"
    } else {
        "1+1"
    }
}

/// obs as GEARS has it: condition, cell_type, dose_val, control, condition_name.
fn synthetic_obs(s: &Plan, cell_type: &str, condition_names: &[String]) -> Frame {
    let per_cell = |f: &dyn Fn(usize) -> String| -> Vec<String> {
        s.cell_condition.iter().map(|k| f(*k as usize)).collect()
    };
    let obs = Frame {
        index_name: "cell_barcode".into(),
        index: (0..s.n_cells())
            .map(|i| format!("synth_cell_{i:06}"))
            .collect(),
        columns: vec![
            (
                "condition".into(),
                FrameColumn::Categorical(per_cell(&|k| s.conditions[k].clone())),
            ),
            (
                "cell_type".into(),
                FrameColumn::Categorical(vec![cell_type.to_string(); s.n_cells()]),
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
fn synthetic_uns(cfg: &SynthConfig, seed: u64, de: DeKeys) -> Vec<(String, UnsValue)> {
    // Moved, not copied: at Replogle size the ranked lists are 17.6 M strings.
    let strings = |m: std::collections::BTreeMap<String, Vec<String>>| {
        UnsValue::Dict(
            m.into_iter()
                .map(|(k, v)| (k, UnsValue::Strings(v)))
                .collect(),
        )
    };
    let ints = |m: std::collections::BTreeMap<String, Vec<usize>>| {
        UnsValue::Dict(
            m.into_iter()
                .map(|(k, v)| (k, UnsValue::Ints(v.into_iter().map(|i| i as i64).collect())))
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
        ("rank_genes_groups_cov_all".to_string(), strings(de.rank_genes_groups_cov_all)),
        ("top_non_dropout_de_20".to_string(), strings(de.top_non_dropout_de_20)),
        ("top_non_zero_de_20".to_string(), strings(de.top_non_zero_de_20)),
        ("non_dropout_gene_idx".to_string(), ints(de.non_dropout_gene_idx)),
        ("non_zeros_gene_idx".to_string(), ints(de.non_zeros_gene_idx)),
    ]
}
