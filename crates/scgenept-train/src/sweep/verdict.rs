//! The sweep's answer to the paper's question, "does gene knowledge help?": each model with a
//! real knowledge source against the same network without knowledge (`scgpt`) and against the
//! random-knowledge control, per test subgroup, as the mean per-seed difference with its 95%
//! t-interval (runs of one seed share data, split and initial draws, so they are compared
//! pairwise). A difference whose interval excludes 0 is called better or worse; any other is
//! "no clear difference", which is the honest reading of an interval that straddles 0.

use std::collections::BTreeMap;

use crate::run::finished::FinishedRun;
use crate::sweep::table::SeedStat;
use scgenept_eval::method::Method;
use scgenept_eval::metric_key::{direction, higher_is_better, SUBGROUP_ORDER};

/// What a sweep arm feeds the network besides expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arm {
    /// No knowledge branch (`scgpt`).
    NoKnowledge,
    /// Only the seeded random table (`scgenept_random`).
    RandomKnowledge,
    /// Real gene knowledge: these sources.
    Knowledge(Vec<scgenept_model::KnowledgeSource>),
}

/// One model against one reference arm in one subgroup.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub model: String,
    pub against: String,
    pub subgroup: String,
    /// Of the per-seed differences model − reference.
    pub diff: SeedStat,
    pub verdict: Verdict,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Better,
    Worse,
    NoClearDifference,
    /// Fewer than two paired seeds: no interval.
    TooFewSeeds,
}

impl Verdict {
    pub fn of(diff: &SeedStat, metric: &str) -> Self {
        if diff.n < 2 || !diff.ci95.is_finite() {
            return Self::TooFewSeeds;
        }
        let sign = if higher_is_better(metric) { 1.0 } else { -1.0 };
        let (lo, hi) = (diff.mean - diff.ci95, diff.mean + diff.ci95);
        if sign * lo > 0.0 && sign * hi > 0.0 {
            Self::Better
        } else if sign * lo < 0.0 && sign * hi < 0.0 {
            Self::Worse
        } else {
            Self::NoClearDifference
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            Self::Better => "better",
            Self::Worse => "worse",
            Self::NoClearDifference => "no clear difference",
            Self::TooFewSeeds => "one seed: no interval",
        }
    }
}

/// `(label, seed)` → the model's `metric` per subgroup.
fn per_seed(runs: &[FinishedRun], metric: &str) -> BTreeMap<(String, u64), BTreeMap<String, f64>> {
    let mut out: BTreeMap<(String, u64), BTreeMap<String, f64>> = BTreeMap::new();
    for r in runs {
        let Some(m) = r.methods.get(&Method::Model) else {
            continue;
        };
        for (key, v) in m.iter().filter(|(k, _)| k.metric == metric) {
            out.entry((r.label.clone(), r.seed))
                .or_default()
                .insert(key.subgroup.clone(), *v);
        }
    }
    out
}

/// Every knowledge arm against every no-knowledge and random arm, per subgroup (paper order).
pub fn compare(runs: &[FinishedRun], arms: &[(String, Arm)], metric: &str) -> Vec<Comparison> {
    let values = per_seed(runs, metric);
    let seeds: Vec<u64> = {
        let mut s: Vec<u64> = runs.iter().map(|r| r.seed).collect();
        s.sort_unstable();
        s.dedup();
        s
    };
    let references: Vec<&String> = arms
        .iter()
        .filter(|(_, a)| matches!(a, Arm::NoKnowledge | Arm::RandomKnowledge))
        .map(|(l, _)| l)
        .collect();
    let mut out = Vec::new();
    for (model, arm) in arms {
        if !matches!(arm, Arm::Knowledge(_)) {
            continue;
        }
        for against in &references {
            for sg in SUBGROUP_ORDER {
                let diffs: Vec<f64> = seeds
                    .iter()
                    .filter_map(|s| {
                        let a = values.get(&(model.clone(), *s))?.get(sg)?;
                        let b = values.get(&((*against).clone(), *s))?.get(sg)?;
                        Some(a - b)
                    })
                    .collect();
                if let Some(diff) = SeedStat::of(&diffs) {
                    out.push(Comparison {
                        model: model.clone(),
                        against: (*against).clone(),
                        subgroup: sg.to_string(),
                        verdict: Verdict::of(&diff, metric),
                        diff,
                    });
                }
            }
        }
    }
    out
}

/// The Markdown section: one row per (model, reference), one column per subgroup, and a
/// sentence per row that says what the intervals allow one to say.
pub fn markdown(comparisons: &[Comparison], arms: &[(String, Arm)], metric: &str) -> String {
    if comparisons.is_empty() {
        return String::new();
    }
    let mut groups: Vec<&str> = Vec::new();
    for sg in SUBGROUP_ORDER {
        if comparisons.iter().any(|c| c.subgroup == sg) {
            groups.push(sg);
        }
    }
    let describe = |label: &str| describe(arms, label);
    let mut s = format!(
        "## Does gene knowledge help?\n\n{metric} {}: the model with knowledge minus the reference, \
         per seed, then the mean ± 95% t-interval over seeds. ▲ better, ▼ worse (the interval \
         excludes 0), ≈ no clear difference.\n\n| model − reference | {} |\n|---|{}\n",
        direction(metric),
        groups.join(" | "),
        "---|".repeat(groups.len())
    );
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for c in comparisons {
        if !pairs.contains(&(c.model.as_str(), c.against.as_str())) {
            pairs.push((&c.model, &c.against));
        }
    }
    let mut sentences = Vec::new();
    for (model, against) in pairs {
        let row: Vec<&Comparison> = comparisons
            .iter()
            .filter(|c| c.model == model && c.against == against)
            .collect();
        let cells: Vec<String> = groups
            .iter()
            .map(|g| match row.iter().find(|c| c.subgroup == *g) {
                None => "—".into(),
                Some(c) => {
                    let mark = match c.verdict {
                        Verdict::Better => "▲ ",
                        Verdict::Worse => "▼ ",
                        Verdict::NoClearDifference => "≈ ",
                        Verdict::TooFewSeeds => "",
                    };
                    if c.diff.ci95.is_finite() {
                        format!("{mark}{:+.4} ± {:.4}", c.diff.mean, c.diff.ci95)
                    } else {
                        format!("{:+.4}", c.diff.mean)
                    }
                }
            })
            .collect();
        s.push_str(&format!(
            "| {} − {} | {} |\n",
            describe(model),
            describe(against),
            cells.join(" | ")
        ));
        sentences.push(sentence(model, &describe(against), &row));
    }
    s.push('\n');
    for line in sentences {
        s.push_str(&format!("- {line}\n"));
    }
    let n = comparisons
        .iter()
        .filter(|c| c.verdict != Verdict::TooFewSeeds)
        .count();
    if n > 1 {
        s.push_str(&format!(
            "- {n} intervals at 95%: about one in twenty excludes 0 by chance alone, so a lone ▲ \
             or ▼ in a small subgroup is weak evidence.\n"
        ));
    }
    s
}

/// An arm's label with what it feeds the network: `scgpt (no knowledge)`.
pub fn describe(arms: &[(String, Arm)], label: &str) -> String {
    match arms.iter().find(|(l, _)| l == label).map(|(_, a)| a) {
        Some(Arm::NoKnowledge) => format!("{label} (no knowledge)"),
        Some(Arm::RandomKnowledge) => format!("{label} (random knowledge)"),
        Some(Arm::Knowledge(s)) => {
            let names: Vec<String> = s.iter().map(|k| k.to_string()).collect();
            format!("{label} ({})", names.join(" + "))
        }
        None => label.to_string(),
    }
}

/// What one (model, reference) row allows one to say.
pub fn sentence(model: &str, against: &str, row: &[&Comparison]) -> String {
    let n = row.first().map_or(0, |c| c.diff.n);
    if n < 2 {
        return format!("{model} vs {against}: one seed, so no interval; run more seeds.");
    }
    let pick = |v: Verdict| -> Vec<String> {
        row.iter()
            .filter(|c| c.verdict == v)
            .map(|c| c.subgroup.clone())
            .collect()
    };
    let (better, worse) = (pick(Verdict::Better), pick(Verdict::Worse));
    let mut parts = Vec::new();
    if !better.is_empty() {
        parts.push(format!("better on {}", better.join(", ")));
    }
    if !worse.is_empty() {
        parts.push(format!("worse on {}", worse.join(", ")));
    }
    if parts.is_empty() {
        format!(
            "{model} vs {against}: no clear difference in any subgroup over {n} seeds \
             (every interval includes 0)."
        )
    } else {
        format!(
            "{model} vs {against}: {} over {n} seeds; no clear difference elsewhere.",
            parts.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(label: &str, seed: u64, all: f64, single: f64) -> FinishedRun {
        FinishedRun {
            label: label.into(),
            seed,
            methods: BTreeMap::from([(
                Method::Model,
                scgenept_eval::metric_key::from_strings([
                    ("test_pearson_delta_de".to_string(), all),
                    ("test_unseen_single_pearson_delta_de".to_string(), single),
                ]),
            )]),
            baseline_source: None,
            synthetic: false,
            partial: BTreeMap::new(),
        }
    }

    #[test]
    fn paired_differences_give_the_verdicts() {
        let arms = vec![
            (
                "k".to_string(),
                Arm::Knowledge(vec!["go_c_concat".parse().unwrap()]),
            ),
            ("none".to_string(), Arm::NoKnowledge),
        ];
        // `all`: k is 0.10 better on every seed (sd 0 → interval 0 → better);
        // unseen_single: differences +0.2, −0.2, +0.1 (interval straddles 0).
        let runs = vec![
            run("k", 1, 0.60, 0.7),
            run("k", 2, 0.50, 0.3),
            run("k", 3, 0.70, 0.6),
            run("none", 1, 0.50, 0.5),
            run("none", 2, 0.40, 0.5),
            run("none", 3, 0.60, 0.5),
        ];
        let c = compare(&runs, &arms, "pearson_delta_de");
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].subgroup, "all");
        assert!((c[0].diff.mean - 0.1).abs() < 1e-12);
        assert_eq!(c[0].verdict, Verdict::Better);
        assert_eq!(c[1].verdict, Verdict::NoClearDifference);
        let md = markdown(&c, &arms, "pearson_delta_de");
        assert!(
            md.contains("| k (go_c_concat) − none (no knowledge) | ▲ +0.1000"),
            "{md}"
        );
        assert!(md.contains("better on all over 3 seeds"), "{md}");
        // For an error metric, lower is better.
        assert_eq!(Verdict::of(&c[0].diff, "mse"), Verdict::Worse);
        // One seed: no interval, and the sentence says so.
        let one = compare(
            &runs[..1]
                .iter()
                .chain(&runs[3..4])
                .cloned()
                .collect::<Vec<_>>(),
            &arms,
            "pearson_delta_de",
        );
        assert_eq!(one[0].verdict, Verdict::TooFewSeeds);
        assert!(markdown(&one, &arms, "pearson_delta_de").contains("one seed, so no interval"));
    }
}
