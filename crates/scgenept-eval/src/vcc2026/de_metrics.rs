//! The DE members of the vcc2026 profile, from both sides' tables (docs/evaluation.md,
//! "vcc2026"): the Jaccard index of the significant sets (`de_wilcoxon_sig_jaccard`), the
//! normalised error of the predicted fold changes over the real significant genes
//! (`de_wilcoxon_lfc_nmae`), and how many of the real significant genes the prediction gets the
//! direction of (`de_wilcoxon_direction_fidelity_yield_raw`, `de_wilcoxon_direction_reach_raw`).
//! Each perturbation's own gene is left out on both sides when the real table has it.

use super::de::DeTable;
use super::targets::Targets;

/// `p_adj` below this is significant (`de.p_adj_threshold`).
const ALPHA: f64 = 0.05;
/// `de_lfc_nmae` scores a perturbation with at least this many gated genes.
const MIN_GATE_SIZE: usize = 10;
/// `de_direction_reach_raw`'s purity floor (`REACH_PURITY_FLOOR`).
const REACH_PURITY_FLOOR: f64 = 0.9;

/// Per perturbation (the tables' order), each member; `None` where cell-eval2 writes no row.
pub struct DeScores {
    pub perts: Vec<String>,
    pub sig_jaccard: Vec<f64>,
    pub lfc_nmae: Vec<Option<f64>>,
    pub fidelity_yield_raw: Vec<f64>,
    pub reach_raw: Vec<f64>,
}

/// One perturbation's rows on both sides (the tables list the same perturbations, so it is row
/// `i` of each).
struct Target<'a> {
    real: &'a DeTable,
    pred: &'a DeTable,
    i: usize,
    own: Option<usize>,
}

pub fn de_scores(real: &DeTable, pred: &DeTable, targets: &Targets) -> anyhow::Result<DeScores> {
    if real.targets != pred.targets {
        anyhow::bail!("the predicted and real DE tables name different perturbations");
    }
    let mut out = DeScores {
        perts: real.targets.clone(),
        sig_jaccard: Vec::new(),
        lfc_nmae: Vec::new(),
        fidelity_yield_raw: Vec::new(),
        reach_raw: Vec::new(),
    };
    let own: Vec<Option<usize>> = (real.targets.iter())
        .map(|t| targets.column(t).filter(|&g| real.position[g].is_some()))
        .collect();
    if !real.targets.is_empty() && own.iter().all(Option::is_none) {
        anyhow::bail!(
            "no perturbation's target gene is among the genes the real DE tested (e.g. '{}'): the \
             DE members leave each perturbation's own gene out, so label perturbations by their \
             target gene and keep those genes in var_names",
            real.targets[0]
        );
    }
    for (i, own) in own.into_iter().enumerate() {
        let t = Target { real, pred, i, own };
        out.sig_jaccard.push(sig_jaccard(&t));
        out.lfc_nmae.push(lfc_nmae(&t));
        let frame = direction_frame(&t);
        let n_conf = t.real_sig().count();
        out.fidelity_yield_raw
            .push(fidelity_yield_raw(&frame, n_conf));
        out.reach_raw.push(reach_raw(frame, n_conf, &real.genes));
    }
    Ok(out)
}

impl Target<'_> {
    /// The real table's kept genes, but the perturbation's own.
    fn real_genes(&self) -> impl Iterator<Item = usize> + '_ {
        self.real
            .kept
            .iter()
            .copied()
            .filter(move |g| Some(*g) != self.own)
    }

    /// The real significant genes (own gene left out).
    fn real_sig(&self) -> impl Iterator<Item = usize> + '_ {
        self.real_genes()
            .filter(move |&g| self.real.get(self.i, g).is_some_and(|c| c.p_adj < ALPHA))
    }
}

fn sig_jaccard(t: &Target) -> f64 {
    let real: std::collections::BTreeSet<usize> = t.real_sig().collect();
    let pred: Vec<usize> = (t.pred.kept.iter().copied())
        .filter(|&g| Some(g) != t.own)
        .filter(|&g| t.pred.get(t.i, g).is_some_and(|c| c.p_adj < ALPHA))
        .collect();
    let tp = pred.iter().filter(|g| real.contains(g)).count();
    let union = real.len() + pred.len() - tp;
    match union {
        0 => 1.0,
        u => tp as f64 / u as f64,
    }
}

/// `mean |pred − real| / mean |real|` of the fold changes over the real significant genes with a
/// finite fold change (a missing or non-finite prediction counts as 0); none where fewer than
/// `MIN_GATE_SIZE` genes pass or the real mean is 0.
fn lfc_nmae(t: &Target) -> Option<f64> {
    let (mut num, mut den, mut n) = (0f64, 0f64, 0usize);
    for g in t.real_sig() {
        let real = t.real.get(t.i, g).map_or(f64::NAN, |c| c.lfc);
        if !real.is_finite() {
            continue;
        }
        let pred = (t.pred.get(t.i, g).map(|c| c.lfc))
            .filter(|v| v.is_finite())
            .unwrap_or(0.0);
        num += (pred - real).abs();
        den += real.abs();
        n += 1;
    }
    let den = den / n as f64;
    (n >= MIN_GATE_SIZE && den.is_finite() && den != 0.0).then(|| num / n as f64 / den)
}

/// A gene both tables kept (own gene left out), as cell-eval2's direction frame holds it.
struct Row {
    gene: usize,
    p_adj_real: f64,
    p_adj_pred: f64,
    p_value_pred: f64,
    abs_lfc_pred: f64,
    /// The real fold change is defined (not NaN, not 0).
    in_denom: bool,
    /// ... and the predicted one is defined and has its sign.
    matches: bool,
}

fn defined(v: f64) -> bool {
    !v.is_nan() && v != 0.0
}

fn direction_frame(t: &Target) -> Vec<Row> {
    t.real_genes()
        .filter_map(|g| {
            let (real, pred) = (t.real.get(t.i, g)?, t.pred.get(t.i, g)?);
            let in_denom = defined(real.lfc);
            Some(Row {
                gene: g,
                p_adj_real: real.p_adj,
                p_adj_pred: pred.p_adj,
                p_value_pred: pred.p_value,
                abs_lfc_pred: if pred.lfc.is_nan() {
                    f64::NEG_INFINITY
                } else {
                    pred.lfc.abs()
                },
                in_denom,
                matches: in_denom && defined(pred.lfc) && pred.lfc.signum() == real.lfc.signum(),
            })
        })
        .collect()
}

/// `k / max(n_pred, n_conf)`: the predicted significant genes with the real direction over the
/// larger of the predicted and real significant sets.
fn fidelity_yield_raw(frame: &[Row], n_conf: usize) -> f64 {
    let scored = frame.iter().filter(|r| r.p_adj_pred < ALPHA && r.in_denom);
    let (n_pred, k) = scored.fold((0usize, 0usize), |(n, k), r| {
        (n + 1, k + r.matches as usize)
    });
    match n_pred.max(n_conf) {
        0 => f64::NAN,
        d => k as f64 / d as f64,
    }
}

/// The real significant genes ranked by the prediction (its significant ones first, then by
/// adjusted p-value, p-value, |fold change|, name): the longest prefix whose direction purity is
/// at least `REACH_PURITY_FLOOR`, over the real significant count.
fn reach_raw(frame: Vec<Row>, n_conf: usize, genes: &[String]) -> f64 {
    if n_conf == 0 {
        return f64::NAN;
    }
    let rank = |v: f64| if v.is_nan() { f64::INFINITY } else { v };
    let mut curve: Vec<Row> = frame.into_iter().filter(|r| r.p_adj_real < ALPHA).collect();
    curve.sort_by(|a, b| {
        let sig = |r: &Row| r.p_adj_pred < ALPHA;
        (sig(b).cmp(&sig(a)))
            .then(rank(a.p_adj_pred).total_cmp(&rank(b.p_adj_pred)))
            .then(rank(a.p_value_pred).total_cmp(&rank(b.p_value_pred)))
            .then(b.abs_lfc_pred.total_cmp(&a.abs_lfc_pred))
            .then(genes[a.gene].cmp(&genes[b.gene]))
    });
    let (mut n_denom, mut n_match, mut k_star) = (0usize, 0usize, 0usize);
    for r in &curve {
        n_denom += r.in_denom as usize;
        n_match += r.matches as usize;
        if n_denom > 0 && n_match as f64 / n_denom as f64 >= REACH_PURITY_FLOOR {
            k_star = k_star.max(n_denom);
        }
    }
    k_star as f64 / n_conf as f64
}
