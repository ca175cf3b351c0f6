//! Running a planned screen (`screen/mod.rs`) on a device: the singles, then the pairs chunk by
//! chunk into `<out>.parts/`, then the ranked table (and figure) from all chunks.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::tensor::backend::AutodiffBackend;

use scgenept_data::condition::single;
use scgenept_data::files::write_atomic;
use scgenept_model::load_checkpoint;

use crate::device::WithBackend;
use crate::infer::batch::cells_per_batch;
use crate::infer::predict::{Pool, Prediction};
use crate::screen::{ScreenPlan, CHUNK_PAIRS};
use scgenept_eval::gi::{gi_scores, GiScores, Subsets};

/// How the table is ordered: by one score column, largest first unless `ascending`.
#[derive(Clone, Copy, Debug)]
pub struct Ranking {
    pub column: usize,
    pub ascending: bool,
}

impl std::str::FromStr for Ranking {
    type Err = anyhow::Error;

    /// A column of [`GiScores::NAMES`], largest first.
    fn from_str(s: &str) -> Result<Self> {
        match GiScores::NAMES.iter().position(|n| *n == s) {
            Some(column) => Ok(Ranking {
                column,
                ascending: false,
            }),
            None => bail!(
                "'{s}' is not a score; rank by one of {}",
                GiScores::NAMES.join(", ")
            ),
        }
    }
}

/// One screened pair.
#[derive(Clone, Debug)]
pub struct PairRow {
    pub a: String,
    pub b: String,
    pub scores: [f64; 10],
}

/// A screen to run: the plan, where it goes, and how the table is ranked.
pub struct ScreenJob {
    pub plan: ScreenPlan,
    pub bundle: PathBuf,
    pub pool: Pool,
    pub out: PathBuf,
    pub ranking: Ranking,
    /// Cells per forward; `None` sizes batches to the device.
    pub batch: Option<usize>,
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
        claim_parts(&parts, &self.plan.fingerprint)?;
        let model = load_checkpoint::<B::InnerBackend>(&self.bundle, &device)?;
        let kind: crate::Device = label.parse()?;
        let plan = &self.plan;
        let predict = Prediction {
            model: &model,
            meta: &plan.meta,
            controls: &plan.controls,
            perts: &[],
            pool: self.pool,
            batch: (self.batch)
                .unwrap_or_else(|| cells_per_batch(&kind, model.config(), plan.meta.genes.len())),
            device: &device,
        };
        let singles = singles(&predict, plan, &parts.join("singles.f64"))?;
        let subsets = Subsets::new(plan.gi_positions.len());
        let chunks: Vec<&[(usize, usize)]> = plan.pairs.chunks(CHUNK_PAIRS).collect();
        let bar = progress(plan.pairs.len());
        let mut resumed = 0;
        for (c, pairs) in chunks.iter().enumerate() {
            let path = parts.join(format!("chunk-{c:06}.csv"));
            if path.exists() {
                resumed += pairs.len();
                bar.inc(pairs.len() as u64);
                bar.reset_eta();
                continue;
            }
            let rows = score_chunk(&predict, plan, pairs, &singles, &subsets)?;
            write_atomic(&path, rows_csv(&rows, false).as_bytes())
                .with_context(|| path.display().to_string())?;
            bar.inc(pairs.len() as u64);
            tracing::info!("screen: {}/{} pairs", bar.position(), plan.pairs.len());
        }
        bar.finish_and_clear();
        let mut rows = Vec::with_capacity(plan.pairs.len());
        for c in 0..chunks.len() {
            rows.extend(read_rows(&parts.join(format!("chunk-{c:06}.csv")))?);
        }
        rank(&mut rows, self.ranking);
        write_atomic(&self.out, rows_csv(&rows, true).as_bytes())
            .with_context(|| format!("{}: cannot write", self.out.display()))?;
        crate::infer::outputs::write_provenance_sidecar(
            &self.out,
            &crate::infer::outputs::provenance(&predict),
        )?;
        Ok(ScreenDone {
            genes: plan.genes.len(),
            pairs: plan.pairs.len(),
            resumed,
            seconds: t0.elapsed().as_secs_f64(),
            rows,
            synthetic: plan.meta.synthetic().is_some(),
        })
    }
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
        })
        .collect())
}

/// The table as CSV: `gene_a,gene_b,<scores>`, with a leading `rank` column when `ranked`.
/// Floats are written in full (shortest round-trip form), NaN as `NaN`.
pub fn rows_csv(rows: &[PairRow], ranked: bool) -> String {
    let mut s = String::new();
    if ranked {
        s.push_str("rank,");
    }
    s.push_str(&format!("gene_a,gene_b,{}\n", GiScores::NAMES.join(",")));
    for (r, row) in rows.iter().enumerate() {
        if ranked {
            s.push_str(&format!("{},", r + 1));
        }
        let scores: Vec<String> = row.scores.iter().map(|v| v.to_string()).collect();
        s.push_str(&format!("{},{},{}\n", row.a, row.b, scores.join(",")));
    }
    s
}

/// Reads a chunk written by [`rows_csv`] (unranked).
fn read_rows(path: &Path) -> Result<Vec<PairRow>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let damaged = || {
        format!(
            "{}: damaged; delete it and rerun the screen",
            path.display()
        )
    };
    (text.lines().skip(1))
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != 2 + GiScores::NAMES.len() {
                bail!(damaged());
            }
            let mut scores = [0f64; 10];
            for (s, v) in scores.iter_mut().zip(&f[2..]) {
                *s = v.parse().with_context(damaged)?;
            }
            Ok(PairRow {
                a: f[0].to_string(),
                b: f[1].to_string(),
                scores,
            })
        })
        .collect()
}

/// Orders rows by the ranking's column (NaN last), ties in screen order.
pub fn rank(rows: &mut [PairRow], r: Ranking) {
    rows.sort_by(|x, y| {
        let (a, b) = (x.scores[r.column], y.scores[r.column]);
        match (a.is_nan(), b.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ if r.ascending => a.total_cmp(&b),
            _ => b.total_cmp(&a),
        }
    });
}

/// Pairs done, pairs/s and the time left, when stderr is a terminal.
fn progress(pairs: usize) -> indicatif::ProgressBar {
    crate::train::progress::terminal_bar(
        pairs as u64,
        "screen {bar:40} {pos}/{len} pairs {per_sec} eta {eta}",
    )
}
