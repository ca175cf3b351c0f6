//! Running a planned screen (`screen/mod.rs`) on a device: the singles, then the pairs chunk by
//! chunk into `<out>.parts/` (one folder per control draw with `--draws`), then the ranked table
//! (and figure) from all chunks.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::tensor::backend::AutodiffBackend;

use scgenept_data::condition::single;
use scgenept_data::files::{sha256_hex, write_atomic};
use scgenept_model::load_checkpoint;

use crate::device::WithBackend;
use crate::infer::batch::cells_per_batch;
use crate::infer::predict::{Pool, Prediction};
use crate::screen::draws::{combine, Stability};
use crate::screen::rows::{rank, read_rows, rows_csv, PairRow, Ranking};
use crate::screen::{ScreenPlan, CHUNK_PAIRS};
use scgenept_eval::gi::{gi_scores, Subsets};

/// A screen to run: the plan, where it goes, and how the table is ranked.
pub struct ScreenJob {
    pub plan: ScreenPlan,
    pub bundle: PathBuf,
    pub pool: Pool,
    pub out: PathBuf,
    pub ranking: Ranking,
    /// Cells per forward; `None` sizes batches to the device.
    pub batch: Option<usize>,
    /// Control draws (pool seeds `seed`, `seed + 1`, …); more than one gives intervals.
    pub draws: usize,
}

/// What a screen did.
#[derive(Clone, Debug)]
pub struct ScreenDone {
    pub genes: usize,
    pub pairs: usize,
    /// Pairs found in `<out>.parts/` from an earlier, interrupted run.
    pub resumed: usize,
    pub seconds: f64,
    /// The ranked table.
    pub rows: Vec<PairRow>,
    /// The bundle's model was trained on synthetic data (its figure and output say so).
    pub synthetic: bool,
    /// Over several control draws: how stable the ranking is.
    pub stability: Option<Stability>,
}

/// `screen.csv` → `screen.csv.parts/`.
pub fn parts_dir(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".parts");
    out.with_file_name(name)
}

impl WithBackend for ScreenJob {
    type Output = ScreenDone;

    fn run<B: AutodiffBackend>(self, device: B::Device, label: &str) -> Result<ScreenDone> {
        let t0 = Instant::now();
        let parts = parts_dir(&self.out);
        let model = load_checkpoint::<B::InnerBackend>(&self.bundle, &device)?;
        let kind: crate::Device = label.parse()?;
        let plan = &self.plan;
        let first = Prediction {
            model: &model,
            meta: &plan.meta,
            controls: &plan.controls,
            perts: &[],
            pool: self.pool,
            batch: (self.batch)
                .unwrap_or_else(|| cells_per_batch(&kind, model.config(), plan.meta.genes.len())),
            device: &device,
        };
        let (mut draws, mut resumed) = (Vec::new(), 0);
        for d in 0..self.draws.max(1) {
            let pool = Pool {
                seed: self.pool.seed + d as u64,
                ..self.pool
            };
            // One draw keeps its parts where a screen always has; several get a folder each.
            let (dir, mark) = match self.draws > 1 {
                false => (parts.clone(), plan.fingerprint.clone()),
                true => (
                    parts.join(format!("draw-{d}")),
                    sha256_hex(format!("{}:draw:{}", plan.fingerprint, pool.seed).as_bytes()),
                ),
            };
            claim_parts(&dir, &mark)?;
            let (rows, r) = one_draw(&Prediction { pool, ..first }, plan, &dir)?;
            draws.push(rows);
            resumed += r;
        }
        let (rows, stability) = match draws.len() {
            1 => {
                let mut rows = draws.pop().unwrap_or_default();
                rank(&mut rows, self.ranking);
                (rows, None)
            }
            _ => {
                let (rows, s) = combine(&draws, self.ranking);
                (rows, Some(s))
            }
        };
        write_atomic(&self.out, rows_csv(&rows, true).as_bytes())
            .with_context(|| format!("{}: cannot write", self.out.display()))?;
        let mut stamp = crate::infer::outputs::provenance(&first);
        if let Some(s) = &stability {
            stamp.push(("control_draws".into(), s.draws.to_string()));
            stamp.push(("rank_spearman_mean".into(), format!("{:.4}", s.mean())));
            stamp.push(("rank_spearman_min".into(), format!("{:.4}", s.min())));
        }
        crate::infer::outputs::write_provenance_sidecar(&self.out, &stamp)?;
        Ok(ScreenDone {
            genes: plan.genes.len(),
            pairs: plan.pairs.len(),
            resumed,
            seconds: t0.elapsed().as_secs_f64(),
            rows,
            synthetic: plan.meta.synthetic().is_some(),
            stability,
        })
    }
}

/// One control draw: the singles, then every chunk of pairs (those `dir` already holds are
/// read back); the rows in screen order and how many pairs were resumed.
fn one_draw<B: burn::tensor::backend::Backend>(
    predict: &Prediction<'_, B>,
    plan: &ScreenPlan,
    dir: &Path,
) -> Result<(Vec<PairRow>, usize)> {
    let singles = singles(predict, plan, &dir.join("singles.f64"))?;
    let subsets = Subsets::new(plan.gi_positions.len());
    let chunks: Vec<&[(usize, usize)]> = plan.pairs.chunks(CHUNK_PAIRS).collect();
    let bar = progress(plan.pairs.len());
    let mut resumed = 0;
    for (c, pairs) in chunks.iter().enumerate() {
        let path = dir.join(format!("chunk-{c:06}.csv"));
        if path.exists() {
            resumed += pairs.len();
            bar.inc(pairs.len() as u64);
            bar.reset_eta();
            continue;
        }
        let rows = score_chunk(predict, plan, pairs, &singles, &subsets)?;
        write_atomic(&path, rows_csv(&rows, false).as_bytes())
            .with_context(|| path.display().to_string())?;
        bar.inc(pairs.len() as u64);
        tracing::info!("screen: {}/{} pairs", bar.position(), plan.pairs.len());
    }
    bar.finish_and_clear();
    let mut rows = Vec::with_capacity(plan.pairs.len());
    for c in 0..chunks.len() {
        rows.extend(read_rows(&dir.join(format!("chunk-{c:06}.csv")))?);
    }
    Ok((rows, resumed))
}

/// Makes `parts` this screen's: a new directory gets the fingerprint; an existing one must hold
/// the same.
fn claim_parts(parts: &Path, fingerprint: &str) -> Result<()> {
    let mark = parts.join("plan.sha256");
    match std::fs::read_to_string(&mark) {
        Ok(found) if found.trim() == fingerprint => Ok(()),
        Ok(_) => bail!(
            "{}: holds the parts of a different screen (other genes, pairs, bundle, controls or \
             seed); remove it or write to another --out",
            parts.display()
        ),
        Err(_) => write_atomic(&mark, fingerprint.as_bytes())
            .with_context(|| format!("{}: cannot write", mark.display())),
    }
}

/// Each gene's predicted change alone (mean − control mean) at the score genes, read from
/// `path` when an earlier run saved it: raw little-endian f64, one row per gene, so a resumed
/// screen scores with bit-identical singles.
fn singles<B: burn::tensor::backend::Backend>(
    predict: &Prediction<'_, B>,
    plan: &ScreenPlan,
    path: &Path,
) -> Result<Vec<Vec<f64>>> {
    let width = plan.gi_positions.len();
    if let Ok(bytes) = std::fs::read(path) {
        if bytes.len() != plan.genes.len() * width * 8 {
            bail!(
                "{}: damaged; delete it and rerun the screen",
                path.display()
            );
        }
        let values: Vec<f64> = (bytes.chunks_exact(8))
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect();
        return Ok(values.chunks(width.max(1)).map(<[f64]>::to_vec).collect());
    }
    let perts: Vec<String> = plan.genes.iter().map(|g| single(g)).collect();
    let changes = changes(predict, plan, &perts)?;
    let bytes: Vec<u8> = changes
        .iter()
        .flatten()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    write_atomic(path, &bytes).with_context(|| path.display().to_string())?;
    Ok(changes)
}

/// Predicted mean minus the control mean, at the score genes, per perturbation.
fn changes<B: burn::tensor::backend::Backend>(
    predict: &Prediction<'_, B>,
    plan: &ScreenPlan,
    perts: &[String],
) -> Result<Vec<Vec<f64>>> {
    let means = Prediction { perts, ..*predict }.means()?;
    Ok((means.iter())
        .map(|m| {
            (plan.gi_positions.iter())
                .map(|&j| m[j] - plan.control_mean[j])
                .collect()
        })
        .collect())
}

fn score_chunk<B: burn::tensor::backend::Backend>(
    predict: &Prediction<'_, B>,
    plan: &ScreenPlan,
    pairs: &[(usize, usize)],
    singles: &[Vec<f64>],
    subsets: &Subsets,
) -> Result<Vec<PairRow>> {
    let names: Vec<String> = (pairs.iter())
        .map(|&(i, j)| format!("{}+{}", plan.genes[i], plan.genes[j]))
        .collect();
    let doubles = changes(predict, plan, &names)?;
    Ok((pairs.iter().zip(&doubles))
        .map(|(&(i, j), ab)| PairRow {
            a: plan.genes[i].clone(),
            b: plan.genes[j].clone(),
            scores: gi_scores(subsets, &singles[i], &singles[j], ab).values(),
            spread: None,
        })
        .collect())
}

/// Pairs done, pairs/s and the time left, when stderr is a terminal.
fn progress(pairs: usize) -> indicatif::ProgressBar {
    crate::train::progress::terminal_bar(
        pairs as u64,
        "screen {bar:40} {pos}/{len} pairs {per_sec} eta {eta}",
    )
}
