//! `scgenept screen`: an in-silico combinatorial screen from an exported bundle. Every gene of a
//! list is predicted alone and every pair (or the listed pairs) together, from the bundle's
//! control pool, and each pair gets GEARS' genetic-interaction scores (`gi.rs`) from its
//! predicted change beside its singles' (docs/features.md, "Screening pairs").
//!
//! The work is resumable: `<out>.parts/` holds the plan's fingerprint, the singles' predictions
//! and one CSV per chunk of pairs, each written atomically. A rerun of the same screen reads them
//! and predicts only what is missing; a different screen (other genes, bundle, seed, …) is
//! refused there rather than mixed in.

pub mod draws;
pub mod plot;
pub mod rows;
pub mod run;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use scgenept_data::csr::CsrMatrix;
use scgenept_data::files::sha256_hex;

use crate::infer::bundle::{open_bundle, why_unusable, BundleMeta};
use crate::infer::predict::{control_cells, Pool};

/// Pairs per chunk: the unit of work that is saved, and so what an interrupted screen redoes.
pub const CHUNK_PAIRS: usize = 32;

/// Which pairs to screen.
#[derive(Clone, Debug)]
pub enum Pairs {
    /// Every pair of the genes.
    All,
    /// The pairs listed in a file, one per line: `A+B`, `A,B` or `A B`.
    File(PathBuf),
}

/// What the user asked for.
#[derive(Clone, Debug)]
pub struct ScreenRequest {
    pub bundle: PathBuf,
    pub genes: PathBuf,
    pub pairs: Pairs,
    /// Drop genes the model cannot perturb instead of refusing to start.
    pub skip_unknown: bool,
    /// Genes the interaction scores are computed over (GEARS' `GI_genes_file`); all by default.
    pub gi_genes: Option<PathBuf>,
    /// A dataset whose control cells replace the bundle's pool.
    pub controls: Option<PathBuf>,
    pub pool: Pool,
}

/// A listed gene the model cannot perturb, and why (`bundle::why_unusable`).
pub type Dropped = (String, String);

/// The screen, resolved and checked before any prediction.
pub struct ScreenPlan {
    pub meta: BundleMeta,
    pub controls: CsrMatrix,
    /// Each gene's mean over the control cells (GEARS subtracts it from every prediction).
    pub control_mean: Vec<f64>,
    /// Screened genes, in the list's order.
    pub genes: Vec<String>,
    /// Genes dropped by `--skip-unknown`.
    pub dropped: Vec<Dropped>,
    /// Pairs as indices into `genes`.
    pub pairs: Vec<(usize, usize)>,
    /// Positions (in the bundle's genes) the scores are computed over.
    pub gi_positions: Vec<usize>,
    /// Identifies the screen: bundle, genes, pairs, controls, pool and score genes.
    pub fingerprint: String,
}

/// One gene name per line (blank lines and `#` comments skipped), duplicates removed.
pub fn read_gene_list(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the gene list", path.display()))?;
    let mut genes: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim) {
        if !line.is_empty() && !line.starts_with('#') && !genes.iter().any(|g| g == line) {
            genes.push(line.to_string());
        }
    }
    Ok(genes)
}

impl ScreenRequest {
    /// Reads and checks everything; fails with one line naming the file and the fix.
    pub fn plan(&self) -> Result<ScreenPlan> {
        let meta = open_bundle(&self.bundle)?;
        let listed = read_gene_list(&self.genes)?;
        let (genes, dropped) = self.usable_genes(&meta, &listed)?;
        let pairs = self.pairs(&genes)?;
        if pairs.is_empty() {
            bail!(
                "{}: no pair to screen ({} usable gene(s)); list at least two genes",
                self.genes.display(),
                genes.len()
            );
        }
        let gi_positions = self.gi_positions(&meta)?;
        let controls = control_cells(&meta, &self.bundle, self.controls.as_deref())?;
        let control_mean = column_means(&controls);
        let fingerprint = self.fingerprint(&genes, &pairs, &gi_positions, &control_mean)?;
        Ok(ScreenPlan {
            meta,
            controls,
            control_mean,
            genes,
            dropped,
            pairs,
            gi_positions,
            fingerprint,
        })
    }

    /// The listed genes the model can perturb. Unusable ones are all named at once and stop the
    /// screen, unless `skip_unknown` drops them.
    fn usable_genes(
        &self,
        meta: &BundleMeta,
        listed: &[String],
    ) -> Result<(Vec<String>, Vec<Dropped>)> {
        let (mut genes, mut dropped) = (Vec::new(), Vec::new());
        for g in listed {
            match why_unusable(meta, g) {
                Some(why) => dropped.push((g.clone(), why)),
                None => genes.push(g.clone()),
            }
        }
        if !dropped.is_empty() && !self.skip_unknown {
            let list: Vec<String> = (dropped.iter())
                .map(|(g, why)| format!("{g} ({why})"))
                .collect();
            bail!(
                "{}: {} gene(s) the model cannot perturb: {}; fix the list or pass --skip-unknown",
                self.genes.display(),
                dropped.len(),
                list.join(", ")
            );
        }
        Ok((genes, dropped))
    }

    fn pairs(&self, genes: &[String]) -> Result<Vec<(usize, usize)>> {
        let path = match &self.pairs {
            Pairs::All => {
                let n = genes.len();
                return Ok((0..n)
                    .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
                    .collect());
            }
            Pairs::File(p) => p,
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read the pair list", path.display()))?;
        let index = |g: &str| genes.iter().position(|x| x == g);
        let mut pairs = Vec::new();
        for (n, line) in text.lines().map(str::trim).enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parts: Vec<&str> = (line.split(['+', ',', ' ', '\t']))
                .filter(|s| !s.is_empty())
                .collect();
            let [a, b] = parts[..] else {
                bail!(
                    "{}:{}: '{line}' is not a pair; write A+B",
                    path.display(),
                    n + 1
                );
            };
            match (index(a), index(b)) {
                (Some(i), Some(j)) if i != j => pairs.push((i.min(j), i.max(j))),
                (Some(_), Some(_)) => {
                    bail!(
                        "{}:{}: '{line}' pairs a gene with itself",
                        path.display(),
                        n + 1
                    )
                }
                _ => bail!(
                    "{}:{}: '{line}' names a gene that is not among the screened genes of {}",
                    path.display(),
                    n + 1,
                    self.genes.display()
                ),
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        Ok(pairs)
    }

    fn gi_positions(&self, meta: &BundleMeta) -> Result<Vec<usize>> {
        let Some(path) = &self.gi_genes else {
            return Ok((0..meta.genes.len()).collect());
        };
        let wanted = read_gene_list(path)?;
        let positions: Vec<usize> = (meta.genes.iter().enumerate())
            .filter(|(_, g)| wanted.contains(g))
            .map(|(i, _)| i)
            .collect();
        if positions.len() < 3 {
            bail!(
                "{}: only {} of its genes are the model's; the scores need at least 3",
                path.display(),
                positions.len()
            );
        }
        Ok(positions)
    }

    fn fingerprint(
        &self,
        genes: &[String],
        pairs: &[(usize, usize)],
        gi: &[usize],
        control_mean: &[f64],
    ) -> Result<String> {
        let model = scgenept_data::files::file_sha256(&self.bundle.join("model.safetensors"))
            .with_context(|| format!("{}: cannot read the model", self.bundle.display()))?;
        let text = serde_json::json!({
            "model": model,
            "genes": genes,
            "pairs": pairs,
            "gi_positions": gi,
            "control_mean": control_mean,
            "pool": [self.pool.size as u64, self.pool.seed],
        });
        Ok(sha256_hex(text.to_string().as_bytes()))
    }
}

/// Per-gene mean over the rows of `m`.
fn column_means(m: &CsrMatrix) -> Vec<f64> {
    let mut sum = vec![0f64; m.n_cols];
    let mut row = vec![0f32; m.n_cols];
    for r in 0..m.n_rows {
        m.row_into(r, &mut row);
        sum.iter_mut().zip(&row).for_each(|(s, v)| *s += *v as f64);
    }
    sum.iter().map(|s| s / m.n_rows.max(1) as f64).collect()
}
