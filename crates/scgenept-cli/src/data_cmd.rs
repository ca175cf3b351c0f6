//! `scgenept data …`: synthetic datasets, dataset inspection, the GEARS split, and fetching the
//! real GEARS datasets.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};

use scgenept_data::condition::{is_pair, is_single, CTRL};
use scgenept_data::h5ad::{column_strings, H5ad};
use scgenept_data::split_file::save_split_json;
use scgenept_data::synth::config::{SynthConfig, SynthPreset};
use scgenept_data::synth::write::write_synthetic;
use scgenept_data::{GearsSplit, ObsColumns, PerturbData, SimulationSplitConfig};
use scgenept_model::vocab::{GeneVocab, OovMode};

use crate::fetch_cmd;

/// Where the GEARS fields live in an h5ad (defaults: GEARS' names).
#[derive(Args, Clone, Debug)]
pub struct ColumnArgs {
    /// obs column with each cell's perturbation (`A+ctrl`, `A+B`, or bare `A`).
    #[arg(long, default_value = "condition")]
    pub perturbation_column: String,
    /// Value of that column marking control cells.
    #[arg(long, default_value = CTRL)]
    pub control_label: String,
    /// var column with gene symbols ("" = var_names).
    #[arg(long, default_value = "gene_name")]
    pub gene_symbol_column: String,
}

impl ColumnArgs {
    pub fn obs_columns(&self) -> ObsColumns {
        ObsColumns {
            perturbation: self.perturbation_column.clone(),
            control_label: self.control_label.clone(),
            gene_symbol: self.gene_symbol_column.clone(),
            ..ObsColumns::default()
        }
    }
}

#[derive(Subcommand)]
pub enum DataCommand {
    /// Write a seeded synthetic GEARS-format Perturb-seq h5ad (a testbed, marked synthetic).
    Synth {
        /// tiny (tests), demo (README), adamson, norman, replogle_k562 or replogle_rpe1 (the
        /// real datasets' sizes; written a block of cells at a time, in bounded memory).
        #[arg(long, default_value = "demo")]
        preset: SynthPreset,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Another number of cells than the preset's (same genes and conditions for a seed: a
        /// quarter-size file for a memory comparison).
        #[arg(long)]
        cells: Option<usize>,
        /// Share of each perturbation's effect predictable from GO annotations (0–1).
        #[arg(long)]
        predictability: Option<f64>,
        /// Skip layers["counts"] (halves the file).
        #[arg(long)]
        no_counts: bool,
        #[arg(long)]
        out: PathBuf,
    },
    /// Cells, genes, conditions, control cells, encoding, DE keys and scGPT vocab coverage.
    Inspect {
        file: PathBuf,
        #[command(flatten)]
        columns: ColumnArgs,
    },
    /// GEARS' simulation split of a dataset, written as JSON.
    Split {
        #[arg(long)]
        data: PathBuf,
        /// GEARS split seed (scGenePT uses 1).
        #[arg(long, default_value_t = 1)]
        seed: u32,
        #[arg(long, default_value_t = 0.75)]
        train_gene_set_size: f64,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        columns: ColumnArgs,
    },
    /// Download a GEARS dataset (Harvard Dataverse) and unpack it: data/<name>/perturb_processed.h5ad.
    Fetch(fetch_cmd::FetchArgs),
}

pub fn run(cmd: DataCommand) -> Result<()> {
    match cmd {
        DataCommand::Synth {
            preset,
            seed,
            cells,
            predictability,
            no_counts,
            out,
        } => {
            let mut cfg = SynthConfig::preset(preset);
            if let Some(n) = cells {
                if n < 100 {
                    bail!("--cells {n} is too few; give at least 100 (each perturbation gets two or more cells)");
                }
                cfg.n_cells = n;
            }
            synth(cfg, seed, predictability, no_counts, &out)
        }
        DataCommand::Inspect { file, columns } => inspect(&file, &columns.obs_columns()),
        DataCommand::Split {
            data,
            seed,
            train_gene_set_size,
            out,
            columns,
        } => {
            if !(0.0..=1.0).contains(&train_gene_set_size) {
                bail!("--train-gene-set-size must be within 0..1 (GEARS default 0.75)");
            }
            if out.extension().is_none_or(|e| e != "json") {
                bail!(
                    "{}: a split is written as JSON; name the file .json (GEARS' .pkl splits \
                     are read, not written)",
                    out.display()
                );
            }
            let d = PerturbData::load(&data, &columns.obs_columns())?;
            let split = GearsSplit::simulation(
                &d.conditions,
                SimulationSplitConfig {
                    seed,
                    train_gene_set_size,
                    ..SimulationSplitConfig::default()
                },
            );
            save_split_json(&split, &out)?;
            print!("{}", split.composition());
            println!("wrote {}", out.display());
            Ok(())
        }
        DataCommand::Fetch(a) => fetch_cmd::run(a),
    }
}

fn synth(
    mut cfg: SynthConfig,
    seed: u64,
    predictability: Option<f64>,
    no_counts: bool,
    out: &Path,
) -> Result<()> {
    let preset = cfg.preset.clone();
    if let Some(p) = predictability {
        if !(0.0..=1.0).contains(&p) {
            bail!("--predictability must be within 0..1");
        }
        cfg.effects.predictability = p;
    }
    cfg.with_counts = !no_counts;
    let t = Instant::now();
    tracing::info!(
        "generating preset '{preset}' (seed {seed}); presets: {}",
        SynthPreset::names()
    );
    let text = scgenept_knowledge::GeneText::embedded();
    let r = write_synthetic(&cfg, seed, &text, out)?;
    println!(
        "wrote {}: {} cells × {} genes, {} conditions ({} pairs, {} with an interaction), {:.1}% non-zero, {:.1} s — SYNTHETIC data",
        out.display(),
        r.n_cells,
        r.n_genes,
        r.n_conditions,
        r.n_pairs,
        r.interacting_pairs,
        100.0 * r.nonzero_fraction,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Our own outputs (`predictions.h5ad`, `predict --out *.h5ad`): marked in `uns`, or (files
/// written before the marker) an obs with nothing but `condition` and `subgroup`.
fn output_kind(f: &H5ad) -> Option<String> {
    use scgenept_data::h5ad_write::OUTPUT_KIND_KEY;
    f.uns_string(OUTPUT_KIND_KEY).or_else(|| {
        let cols = f.columns("obs").ok()?;
        let ours = cols.iter().any(|c| c == "condition")
            && cols.iter().all(|c| c == "condition" || c == "subgroup");
        ours.then(|| "predictions".to_string())
    })
}

/// What a prediction file holds. Negative values are legitimate there (a predicted mean can dip
/// below zero), so nothing is validated as counts.
fn inspect_output(f: &H5ad, file: &Path, kind: &str) -> Result<()> {
    let x = f.read_matrix("X")?;
    let conditions = column_strings(f.column("obs", "condition")?, file, "obs/condition")?;
    let mut distinct = conditions.clone();
    distinct.sort();
    distinct.dedup();
    let mut row = vec![0f32; x.n_cols];
    let (mut lo, mut hi, mut negative) = (f32::INFINITY, f32::NEG_INFINITY, 0usize);
    for r in 0..x.n_rows {
        x.row_into(r, &mut row);
        for v in &row {
            (lo, hi) = (lo.min(*v), hi.max(*v));
            negative += usize::from(*v < 0.0);
        }
    }
    println!("file        {}", file.display());
    println!("kind        scgenept output: {kind}");
    println!("rows        {}", x.n_rows);
    println!("genes       {}", x.n_cols);
    println!(
        "conditions  {} ({})",
        distinct.len(),
        scgenept_data::perturb_data::preview(&distinct)
    );
    if let Ok(c) = f.column("obs", "subgroup") {
        let mut groups = column_strings(c, file, "obs/subgroup")?;
        groups.sort();
        groups.dedup();
        println!("subgroups   {}", groups.join(", "));
    }
    if x.n_rows > 0 && x.n_cols > 0 {
        println!("values      {lo:.4} … {hi:.4} ({negative} negative)");
    }
    Ok(())
}

fn inspect(file: &Path, cols: &ObsColumns) -> Result<()> {
    let t = Instant::now();
    if let Ok(f) = H5ad::open(file) {
        if let Some(kind) = output_kind(&f) {
            return inspect_output(&f, file, &kind);
        }
    }
    let d = PerturbData::load(file, cols)?;
    let by = d.cells_by_condition();
    let ctrl = d.control_index();
    let singles = d.conditions.iter().filter(|c| is_single(c)).count();
    let doubles = d.conditions.iter().filter(|c| is_pair(c)).count();
    let vocab = GeneVocab::scgpt();
    let mapping = vocab.map_genes(&d.gene_names, OovMode::SharedPad);
    println!("file        {}", file.display());
    println!("encoding    {}", d.encoding);
    println!("cells       {}", d.n_cells());
    println!("genes       {}", d.n_genes());
    println!(
        "non-zeros   {} ({:.1}%)",
        d.x.nnz(),
        100.0 * d.x.nnz() as f64 / (d.n_cells() as f64 * d.n_genes() as f64)
    );
    println!(
        "conditions  {} (ctrl, {singles} single labels, {doubles} pairs)",
        d.conditions.len()
    );
    println!("control     {} cells", by[ctrl].len());
    println!(
        "DE keys     {}",
        if d.de_computed {
            "absent in the file; computed (GEARS t-test)"
        } else {
            "present"
        }
    );
    println!(
        "scGPT vocab {}/{} genes ({} share the <pad> token in the reference OOV mode)",
        mapping.n_in_vocab(),
        d.n_genes(),
        d.n_genes() - mapping.n_in_vocab()
    );
    if let Some(s) = &d.synthetic {
        println!("synthetic   {s}");
    }
    if let Some(max) = d.x.looks_like_counts() {
        println!(
            "warning     X holds whole numbers up to {max}: raw counts? scGenePT expects \
             log-normalised expression (as GEARS prepares it: normalize_total, then log1p)"
        );
    }
    println!("read in     {:.2} s", t.elapsed().as_secs_f64());
    Ok(())
}
