//! `scgenept baselines`: the field's simple baselines on a dataset's GEARS test split, scored with
//! GEARS' metrics per subgroup — the rows a model has to beat.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use scgenept_data::split_file::load_split;
use scgenept_data::{GearsSplit, PerturbData, SimulationSplitConfig};
use scgenept_eval::baselines::{evaluate_baselines, GeneVectors};
use scgenept_eval::metric_key::to_strings;

use crate::data_cmd::ColumnArgs;

#[derive(Args)]
pub struct BaselinesArgs {
    /// A GEARS-format h5ad.
    #[arg(long)]
    data: PathBuf,
    /// A split (.json from `scgenept data split`, or GEARS/scGenePT .pkl); default: GEARS'
    /// simulation split with --split-seed.
    #[arg(long)]
    split: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    split_seed: u32,
    /// Seed of the random-training-perturbation baseline (default: a training run's default
    /// seed, so both report the same row).
    #[arg(long, default_value_t = scgenept_train::train_config::DEFAULT_SEED)]
    seed: u64,
    /// A knowledge table (.safetensors from `scgenept knowledge build/import`): adds the ridge and
    /// kNN baselines over gene embeddings.
    #[arg(long)]
    knowledge: Option<PathBuf>,
    /// Also write every summary metric as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    #[command(flatten)]
    columns: ColumnArgs,
}

pub fn run(a: BaselinesArgs) -> Result<()> {
    let data = PerturbData::load(&a.data, &a.columns.obs_columns())?;
    let split = match &a.split {
        Some(p) => load_split(p, &data.conditions)?,
        None => GearsSplit::simulation(
            &data.conditions,
            SimulationSplitConfig {
                seed: a.split_seed,
                ..SimulationSplitConfig::default()
            },
        ),
    };
    if split.test.is_empty() {
        anyhow::bail!(
            "{}: the split has no test conditions; nothing to evaluate",
            a.data.display()
        );
    }
    let table = match &a.knowledge {
        Some(p) => {
            Some(scgenept_knowledge::KnowledgeTable::load(p).map_err(|e| anyhow::anyhow!("{e}"))?)
        }
        None => None,
    };
    let vectors = table.as_ref().map(|t| t as &dyn GeneVectors);
    let reports = evaluate_baselines(&data, &split, a.seed, vectors);
    let rows: Vec<(String, &_)> = reports.iter().map(|(k, r)| (k.to_string(), r)).collect();
    crate::report::print_tables(&rows, &split, data.synthetic.is_some());
    if let Some(path) = a.json {
        let all: std::collections::BTreeMap<_, _> = reports
            .iter()
            .map(|(k, r)| (*k, to_strings(&r.summary)))
            .collect();
        scgenept_data::files::write_atomic(
            &path,
            (serde_json::to_string_pretty(&all)? + "\n").as_bytes(),
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    Ok(())
}
