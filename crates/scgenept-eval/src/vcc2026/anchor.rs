//! The 1 end of the vcc2026 scale: cell-eval2's split-half replicate anchor (docs/evaluation.md,
//! "vcc2026"). Five seeds from numpy's `SeedSequence(0)`; for each, every group of real cells
//! shuffled (`default_rng(seed).permutation`) and cut into two halves of ⌊n/2⌋ cells, the second
//! half scored as a prediction of the first (each half against its own control cells); the
//! anchor is the mean of the five aggregates. `de_wilcoxon_lfc_nmae` has its own estimator: the
//! two halves' fold changes compared over the full data's significant genes.

use scgenept_data::numpy_pcg64::{Pcg64, SeedSequence};

use super::de::DeTable;
use super::targets::Targets;
use super::{score_pair, table, Reference};
use crate::pair::Cells;

/// The anchor's seeds derive from this (`BASE_SEED`), this many splits (`N_SPLITS`).
pub const BASE_SEED: u64 = 0;
pub const N_SPLITS: usize = 5;
const LFC_NMAE: &str = "de_wilcoxon_lfc_nmae";
const MIN_GATE_SIZE: usize = 10;
const ALPHA: f64 = 0.05;

/// Each split's aggregate, and their mean per metric (metric names in name order).
pub struct Anchor {
    pub seeds: Vec<u64>,
    /// `splits[i]`: split `i`'s value per metric.
    pub splits: Vec<Vec<(&'static str, f64)>>,
}

impl Anchor {
    /// The replicate value (the mean over splits) of each metric.
    pub fn replicate(&self) -> Vec<(&'static str, f64)> {
        (self.splits[0].iter().enumerate())
            .map(|(m, (name, _))| {
                let sum: f64 = self.splits.iter().map(|s| s[m].1).sum();
                (*name, sum / self.splits.len() as f64)
            })
            .collect()
    }
}

/// The anchor of `real`, whose DE table (against its control cells) is `full`.
pub fn anchor(real: &Cells, full: &DeTable, control: &str) -> anyhow::Result<Anchor> {
    let groups = real.rows_by_label();
    if let Some((label, _)) = groups.iter().find(|(_, rows)| rows.len() < 2) {
        anyhow::bail!(
            "'{label}' has fewer than 2 real cells: the replicate anchor splits every group in \
             two; leave such groups out of the real data"
        );
    }
    let seeds: Vec<u64> = (SeedSequence::new(BASE_SEED)
        .generate_state(N_SPLITS)
        .into_iter())
    .map(u64::from)
    .collect();
    let mut splits = Vec::new();
    for (i, &seed) in seeds.iter().enumerate() {
        let t = std::time::Instant::now();
        let (a, b) = halves(real, seed);
        let half_a = Reference::of(&a, control);
        let scored = score_pair(&half_a, &b, control)?;
        let mut values = table::aggregate(&scored.scores)?;
        let reference = lfc_nmae_reference(full, &half_a.de, &scored.de_pred)?;
        for v in values.iter_mut().filter(|v| v.0 == LFC_NMAE) {
            v.1 = reference;
        }
        if let Some((m, _)) = values.iter().find(|v| !v.1.is_finite()) {
            anyhow::bail!("anchor split {i} (seed {seed}) has no usable value for {m}");
        }
        tracing::info!(
            "anchor split {} of {N_SPLITS} ({:.1} s)",
            i + 1,
            t.elapsed().as_secs_f64()
        );
        splits.push(values);
    }
    Ok(Anchor { seeds, splits })
}

/// Two disjoint halves: each group (in pandas' group order) permuted and cut at ⌊n/2⌋, an odd
/// cell out.
pub fn halves(real: &Cells, seed: u64) -> (Cells, Cells) {
    let mut rng = Pcg64::seed(seed);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (_, rows) in real.rows_in_group_order() {
        let perm = rng.permutation(&rows);
        let h = perm.len() / 2;
        a.extend_from_slice(&perm[..h]);
        b.extend_from_slice(&perm[h..2 * h]);
    }
    (real.select(&a), real.select(&b))
}

/// cell-eval2's `lfc_nmae` reference for one split: per perturbation, over the full data's
/// significant genes with a finite fold change (own gene left out), the mean |A − B| of the two
/// halves' fold changes (missing or non-finite counts as 0) over the mean |full|; the mean over
/// perturbations with at least `MIN_GATE_SIZE` such genes.
fn lfc_nmae_reference(full: &DeTable, a: &DeTable, b: &DeTable) -> anyhow::Result<f64> {
    let targets = Targets::new(&full.genes);
    let mut raw = Vec::new();
    for (t, name) in full.targets.iter().enumerate() {
        let own = targets.column(name).filter(|&g| full.position[g].is_some());
        let (ia, ib) = (a.target(name), b.target(name));
        let half = |d: &DeTable, i: Option<usize>, g: usize| -> f64 {
            (i.and_then(|i| d.get(i, g)).map(|c| c.lfc))
                .filter(|v| v.is_finite())
                .unwrap_or(0.0)
        };
        let (mut num, mut den, mut n) = (0f64, 0f64, 0usize);
        for &g in full.kept.iter().filter(|g| Some(**g) != own) {
            let c = full.rows[t][full.position[g].expect("kept")];
            if !(c.p_adj < ALPHA && c.lfc.is_finite()) {
                continue;
            }
            num += (half(a, ia, g) - half(b, ib, g)).abs();
            den += c.lfc.abs();
            n += 1;
        }
        if n > 0 && (a.kept.is_empty() || b.kept.is_empty()) {
            anyhow::bail!(
                "perturbation '{name}' has no tested gene in a split half (the 5 CPM gate left \
                 none), so the lfc_nmae reference cannot measure it"
            );
        }
        let den = den / n as f64;
        if n >= MIN_GATE_SIZE && den.is_finite() && den != 0.0 {
            raw.push(num / n as f64 / den);
        }
    }
    if raw.is_empty() {
        anyhow::bail!(
            "the lfc_nmae reference scored no perturbation: none has {MIN_GATE_SIZE} significant \
             genes in the real data, so de_wilcoxon_lfc_nmae has no replicate anchor"
        );
    }
    Ok(raw.iter().sum::<f64>() / raw.len() as f64)
}
