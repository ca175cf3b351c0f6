//! The vcc2026 score (docs/evaluation.md, "vcc2026"): each scored member's aggregate placed on
//! the scale from the baseline arm (0) to the replicate anchor (1), as cell-eval2's `score
//! --real-bundle` places it (`from_replicate`), and on the catalog's fixed scale
//! (`from_baseline`: the anchor is the metric's best value). The competition score is the mean
//! of the six `from_replicate` values.

/// Whether a member improves upward or downward.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Higher,
    Lower,
}

/// A scored member's policy (cell-eval2's catalog `Scoring`).
struct Policy {
    name: &'static str,
    direction: Direction,
    /// The best value: the fixed anchor of `from_baseline`.
    best: f64,
    /// A score below 0 is bent by Box-Cox (`1 − (r² − 1)/2`, floored at −6), not linear.
    boxcox: bool,
    clamp: (f64, f64),
}

const INF: f64 = f64::INFINITY;
const PENALTY_EXPONENT: f64 = 2.0;
const PENALTY_CAP: f64 = 6.0;

/// The six scored members, in the order cell-eval2 writes them.
const POLICIES: [Policy; 6] = [
    Policy {
        name: "de_wilcoxon_lfc_nmae",
        direction: Direction::Lower,
        best: 0.0,
        boxcox: false,
        clamp: (-6.0, INF),
    },
    Policy {
        name: "expr_mse_unbiased_capped_norm",
        direction: Direction::Lower,
        best: 0.0,
        boxcox: true,
        clamp: (0.0, 1.0),
    },
    Policy {
        name: "de_wilcoxon_direction_fidelity_yield_raw",
        direction: Direction::Higher,
        best: 1.0,
        boxcox: false,
        clamp: (-INF, INF),
    },
    Policy {
        name: "de_wilcoxon_direction_reach_raw",
        direction: Direction::Higher,
        best: 1.0,
        boxcox: false,
        clamp: (-INF, INF),
    },
    Policy {
        name: "de_wilcoxon_sig_jaccard",
        direction: Direction::Higher,
        best: 1.0,
        boxcox: false,
        clamp: (-INF, INF),
    },
    Policy {
        name: "pds_cosine",
        direction: Direction::Higher,
        best: 1.0,
        boxcox: false,
        clamp: (-INF, INF),
    },
];

/// The higher-is-better members' lowest possible value (`metric_min`): a missing value scores as
/// this would.
const METRIC_MIN: f64 = 0.0;

/// One member's scores; `from_baseline` is `None` where the fixed scale is degenerate.
pub struct ScoredMetric {
    pub metric: &'static str,
    pub from_baseline: Option<f64>,
    pub from_replicate: f64,
}

/// Scores `user` (each metric's aggregate) between `baseline` and `replicate`; returns the rows
/// and the average of `from_replicate`. A member whose anchor is not above its baseline has no
/// scale: an error, as cell-eval2 refuses it.
pub fn score(
    user: &[(&str, f64)],
    baseline: &[(&str, f64)],
    replicate: &[(&str, f64)],
) -> anyhow::Result<(Vec<ScoredMetric>, f64)> {
    let get = |set: &[(&str, f64)], name: &str, what: &str| -> anyhow::Result<f64> {
        (set.iter().find(|m| m.0 == name).map(|m| m.1))
            .ok_or_else(|| anyhow::anyhow!("the {what} has no value for {name}"))
    };
    let mut rows = Vec::new();
    for p in &POLICIES {
        let (u, b) = (
            get(user, p.name, "prediction")?,
            get(baseline, p.name, "baseline")?,
        );
        let rep = get(replicate, p.name, "replicate anchor")?;
        if degenerate(p, b, rep) {
            anyhow::bail!(
                "{}: the replicate anchor ({rep:.6}) leaves no headroom over the baseline \
                 ({b:.6}), so the vcc2026 scale is undefined for this real data",
                p.name
            );
        }
        rows.push(ScoredMetric {
            metric: p.name,
            from_baseline: (!degenerate(p, b, p.best)).then(|| score_one(p, u, b, p.best)),
            from_replicate: score_one(p, u, b, rep),
        });
    }
    let avg = rows.iter().map(|r| r.from_replicate).sum::<f64>() / rows.len() as f64;
    Ok((rows, avg))
}

/// No room between the baseline `b` and the anchor `a` in the member's direction.
fn degenerate(p: &Policy, b: f64, a: f64) -> bool {
    let d = match p.direction {
        Direction::Higher => a - b,
        Direction::Lower => b - a,
    };
    !b.is_finite() || !d.is_finite() || d <= 0.0
}

/// cell-eval2's `score_one`: `(u − b)/(a − b)` upward, `1 − (u − a)/(b − a)` downward (Box-Cox
/// bent below 0 where the member says so), clipped; a missing value scores as the lowest
/// possible value would.
fn score_one(p: &Policy, u: f64, b: f64, a: f64) -> f64 {
    let core = |u: f64| match p.direction {
        Direction::Higher => (u - b) / (a - b),
        Direction::Lower => {
            let r = (u - a) / (b - a);
            let s = 1.0 - r;
            match s < 0.0 && p.boxcox {
                true => (-(r.powf(PENALTY_EXPONENT) - 1.0) / PENALTY_EXPONENT).max(-PENALTY_CAP),
                false => s,
            }
        }
    };
    let (low, high) = p.clamp;
    let clip = |x: f64| match x {
        x if !x.is_finite() || x <= low => low,
        x if x >= high => high,
        x => x,
    };
    let unusable = || match low.is_finite() || p.direction == Direction::Lower {
        true => clip(f64::NEG_INFINITY),
        false => clip(core(METRIC_MIN)),
    };
    if !u.is_finite() {
        return unusable();
    }
    match core(u) {
        s if s.is_finite() => clip(s),
        _ => unusable(),
    }
}
