//! The sweep's second answer, the one the field asks since 2025 (Ahlmann-Eltze et al.; Systema;
//! GEARS#82): does a model beat the **strongest simple baseline**? Per test subgroup, the baseline
//! with the best mean over seeds (the split-half replicate excluded: it is the ceiling, it reads
//! test cells); each model minus it per seed, as the mean with its 95% t-interval and a verdict;
//! and how far the model gets from the mean baseline (`non_ctrl_mean`, 0) towards the split-half
//! replicate (1), the scale of the Virtual Cell Challenge 2026 (docs/evaluation.md).

use std::collections::BTreeMap;

use crate::run::finished::FinishedRun;
use crate::sweep::table::{baseline_row_name, SeedStat};
use crate::sweep::verdict::Verdict;
use scgenept_eval::method::{Baseline, Method};
use scgenept_eval::metric_key::{direction, higher_is_better, MetricKey, SUBGROUP_ORDER};

/// Name → seed → value.
type BySeed = BTreeMap<String, BTreeMap<u64, f64>>;

/// One model against the best baseline in one subgroup.
#[derive(Clone, Debug)]
pub struct AgainstBest {
    pub model: String,
    pub subgroup: String,
    /// The best baseline's name and its mean over seeds.
    pub best: (String, f64),
    /// The model's mean over seeds.
    pub model_mean: f64,
    /// Of the per-seed differences model − best baseline.
    pub diff: SeedStat,
    pub verdict: Verdict,
    /// Per seed, (model − mean baseline) / (replicate − mean baseline); `None` without both.
    pub ceiling_share: Option<SeedStat>,
    /// The split-half replicate's mean over seeds.
    pub ceiling: Option<f64>,
}

/// The models' (by label) and the baselines' (by row name) values of `metric` in `subgroup`,
/// per seed; a baseline's mean over part of the subgroup is left out, as in the tables.
fn values(runs: &[FinishedRun], subgroup: &str, metric: &str) -> (BySeed, BySeed) {
    let key = MetricKey::new(subgroup, metric);
    let (mut models, mut baselines) = (BySeed::new(), BySeed::new());
    for run in runs {
        for (method, summary) in &run.methods {
            let Some(v) = summary.get(&key) else {
                continue;
            };
            if *method == Method::Model {
                let m = models.entry(run.label.clone()).or_default();
                m.insert(run.seed, *v);
                continue;
            }
            let partial = run.partial.get(method);
            if partial.is_some_and(|p| p.iter().any(|(sg, _, _)| sg == subgroup)) {
                continue;
            }
            let row = baselines
                .entry(baseline_row_name(*method, run))
                .or_default();
            row.entry(run.seed).or_insert(*v);
        }
    }
    (models, baselines)
}

fn mean(v: &BTreeMap<u64, f64>) -> f64 {
    v.values().sum::<f64>() / v.len().max(1) as f64
}

/// Every model (`labels`, in order) against the best baseline, per subgroup (paper order).
pub fn against_best(runs: &[FinishedRun], labels: &[String], metric: &str) -> Vec<AgainstBest> {
    let sign = if higher_is_better(metric) { 1.0 } else { -1.0 };
    let ceiling_name = Baseline::SplitHalfReplicate.name();
    let mut out = Vec::new();
    for sg in SUBGROUP_ORDER {
        let (models, baselines) = values(runs, sg, metric);
        let best = (baselines.iter())
            .filter(|(name, v)| name.as_str() != ceiling_name && !v.is_empty())
            .map(|(name, v)| (name.clone(), mean(v)))
            .filter(|(_, m)| m.is_finite())
            .max_by(|a, b| (sign * a.1).total_cmp(&(sign * b.1)));
        let Some(best) = best else {
            continue;
        };
        let best_by_seed = &baselines[&best.0];
        let anchor = baselines.get(Baseline::NonCtrlMean.name());
        let ceiling = baselines.get(ceiling_name);
        for label in labels {
            let Some(model) = models.get(label) else {
                continue;
            };
            let diffs: Vec<f64> = (model.iter())
                .filter_map(|(s, m)| Some(m - best_by_seed.get(s)?))
                .collect();
            let Some(diff) = SeedStat::of(&diffs) else {
                continue;
            };
            // The mean baseline's correlation is undefined where its shift is zero (Systema's
            // `_allpert` metrics, whose reference it is): the scale's 0 is then 0.
            let undefined = (sign > 0.0).then_some(0.0);
            let shares: Vec<f64> = (model.iter())
                .filter_map(|(s, m)| {
                    let a = anchor.and_then(|a| a.get(s).copied()).or(undefined)?;
                    let c = ceiling?.get(s)?;
                    let span = c - a;
                    (span.abs() > 1e-12).then(|| (m - a) / span)
                })
                .collect();
            out.push(AgainstBest {
                model: label.clone(),
                subgroup: sg.to_string(),
                best: best.clone(),
                model_mean: mean(model),
                verdict: Verdict::of(&diff, metric),
                diff,
                ceiling_share: SeedStat::of(&shares),
                ceiling: ceiling.map(mean),
            });
        }
    }
    out
}

fn interval(s: &SeedStat, signed: bool) -> String {
    let v = if signed {
        format!("{:+.4}", s.mean)
    } else {
        format!("{:.2}", s.mean)
    };
    match (s.ci95.is_finite(), signed) {
        (true, true) => format!("{v} ± {:.4}", s.ci95),
        (true, false) => format!("{v} ± {:.2}", s.ci95),
        (false, _) => v,
    }
}

fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Better => "▲ ",
        Verdict::Worse => "▼ ",
        Verdict::NoClearDifference => "≈ ",
        Verdict::TooFewSeeds => "",
    }
}

/// The Markdown section: the best baseline and the ceiling per subgroup, then per model its
/// difference from the best baseline and its share of the ceiling; a sentence per model.
pub fn markdown(results: &[AgainstBest], labels: &[String], metric: &str) -> String {
    if results.is_empty() {
        return String::new();
    }
    let groups: Vec<&str> = (SUBGROUP_ORDER.iter().copied())
        .filter(|g| results.iter().any(|r| r.subgroup == *g))
        .collect();
    let first = |g: &str| results.iter().find(|r| r.subgroup == g);
    let row = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut s = format!(
        "## Against the strongest baseline: {metric}\n\n{metric} {}, per test subgroup: the simple baseline \
         with the best mean over seeds (the split-half replicate is the ceiling, not a baseline: \
         it reads test cells); each model minus that baseline per seed (mean ± 95% t-interval; ▲ \
         better, ▼ worse, ≈ no clear difference); and its share of the way from the mean baseline \
         (non_ctrl_mean, 0) to the split-half replicate (1).\n\n| | {} |\n|---|{}\n",
        direction(metric),
        groups.join(" | "),
        "---|".repeat(groups.len())
    );
    let mut best = vec!["best baseline".to_string()];
    let mut ceiling = vec!["ceiling: split_half_replicate".to_string()];
    for g in &groups {
        let r = first(g).expect("listed");
        best.push(format!("{} {:.4}", r.best.0, r.best.1));
        ceiling.push(r.ceiling.map_or("—".into(), |c| format!("{c:.4}")));
    }
    s.push_str(&row(best));
    s.push_str(&row(ceiling));
    let mut sentences = Vec::new();
    for label in labels {
        let mine: Vec<&AgainstBest> = results.iter().filter(|r| &r.model == label).collect();
        if mine.is_empty() {
            continue;
        }
        let cell = |g: &str, f: &dyn Fn(&AgainstBest) -> String| {
            mine.iter()
                .find(|r| r.subgroup == g)
                .map_or("—".into(), |r| f(r))
        };
        let mut diff = vec![format!("{label} − best")];
        let mut share = vec![format!("{label}: share of the ceiling")];
        for g in &groups {
            diff.push(cell(g, &|r| {
                format!("{}{}", mark(r.verdict), interval(&r.diff, true))
            }));
            share.push(cell(g, &|r| {
                r.ceiling_share
                    .as_ref()
                    .map_or("—".into(), |c| interval(c, false))
            }));
        }
        s.push_str(&row(diff));
        s.push_str(&row(share));
        sentences.push(sentence(label, &mine));
    }
    s.push('\n');
    for line in sentences {
        s.push_str(&format!("- {line}\n"));
    }
    s
}

/// What one model's row allows one to say.
pub fn sentence(model: &str, row: &[&AgainstBest]) -> String {
    let n = row.first().map_or(0, |r| r.diff.n);
    if n < 2 {
        return format!("{model}: one seed, so no interval against the best baseline.");
    }
    let list = |v: Verdict| -> Vec<String> {
        (row.iter().filter(|r| r.verdict == v))
            .map(|r| {
                format!(
                    "{} ({:.4} vs {} {:.4})",
                    r.subgroup, r.model_mean, r.best.0, r.best.1
                )
            })
            .collect()
    };
    let (better, worse) = (list(Verdict::Better), list(Verdict::Worse));
    let mut parts = Vec::new();
    if !better.is_empty() {
        parts.push(format!("beats the best baseline on {}", better.join(", ")));
    }
    if !worse.is_empty() {
        parts.push(format!("loses to it on {}", worse.join(", ")));
    }
    match parts.is_empty() {
        true => format!(
            "{model}: no clear difference from the best baseline in any subgroup over {n} seeds."
        ),
        false => format!(
            "{model} {} over {n} seeds; no clear difference elsewhere.",
            parts.join("; ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One seed's run of `label`: the model's, non_ctrl_mean's, matching_mean's and the
    /// replicate's `test_pearson_delta_de`.
    fn run(
        label: &str,
        seed: u64,
        model: f64,
        mean: f64,
        matching: f64,
        ceiling: f64,
    ) -> FinishedRun {
        let summary = |v: f64| {
            scgenept_eval::metric_key::from_strings([("test_pearson_delta_de".to_string(), v)])
        };
        FinishedRun {
            label: label.into(),
            seed,
            methods: BTreeMap::from([
                (Method::Model, summary(model)),
                (Method::Baseline(Baseline::NonCtrlMean), summary(mean)),
                (Method::Baseline(Baseline::MatchingMean), summary(matching)),
                (
                    Method::Baseline(Baseline::SplitHalfReplicate),
                    summary(ceiling),
                ),
            ]),
            baseline_source: None,
            synthetic: false,
            partial: BTreeMap::new(),
        }
    }

    #[test]
    fn each_model_against_the_best_baseline_and_its_share_of_the_ceiling() {
        // matching_mean (0.5) beats non_ctrl_mean (0.2); the replicate (0.9) is not a candidate.
        let runs = vec![
            run("m", 1, 0.60, 0.2, 0.5, 0.9),
            run("m", 2, 0.62, 0.2, 0.5, 0.9),
            run("m", 3, 0.64, 0.2, 0.5, 0.9),
            run("w", 1, 0.30, 0.2, 0.5, 0.9),
            run("w", 2, 0.31, 0.2, 0.5, 0.9),
            run("w", 3, 0.29, 0.2, 0.5, 0.9),
        ];
        let labels = vec!["m".to_string(), "w".to_string()];
        let r = against_best(&runs, &labels, "pearson_delta_de");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].best, ("matching_mean".to_string(), 0.5));
        assert!((r[0].diff.mean - 0.12).abs() < 1e-12);
        assert_eq!(r[0].verdict, Verdict::Better);
        assert_eq!(r[1].verdict, Verdict::Worse);
        // (0.62 − 0.2) / (0.9 − 0.2) = 0.6 on average.
        let share = r[0].ceiling_share.as_ref().unwrap();
        assert!((share.mean - 0.6).abs() < 1e-12, "{share:?}");
        assert_eq!(r[0].ceiling, Some(0.9));
        let md = markdown(&r, &labels, "pearson_delta_de");
        assert!(
            md.contains("| best baseline | matching_mean 0.5000 |"),
            "{md}"
        );
        assert!(
            md.contains("| ceiling: split_half_replicate | 0.9000 |"),
            "{md}"
        );
        assert!(md.contains("| m − best | ▲ +0.1200 ± "), "{md}");
        assert!(md.contains("| m: share of the ceiling | 0.60 ± "), "{md}");
        assert!(
            md.contains("w loses to it on all (0.3000 vs matching_mean 0.5000)"),
            "{md}"
        );
        // For an error metric the best baseline is the lowest.
        let err: Vec<FinishedRun> = (runs.iter())
            .map(|f| {
                let mut f = f.clone();
                for s in f.methods.values_mut() {
                    let v = s.values().next().copied().unwrap();
                    *s = scgenept_eval::metric_key::from_strings([("test_mse".to_string(), v)]);
                }
                f
            })
            .collect();
        let e = against_best(&err, &labels, "mse");
        assert_eq!(e[0].best.0, "non_ctrl_mean");
        assert_eq!(e[0].verdict, Verdict::Worse);
    }
}
