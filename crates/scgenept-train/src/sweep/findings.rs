//! The sweep's findings in a few sentences (`findings.md`), built from the same comparisons as
//! its tables: gene knowledge against no knowledge and against random knowledge, then each model
//! against the strongest simple baseline and its share of the replicate ceiling. The README
//! quotes the demo's findings verbatim, and `tests/readme.rs` fails when they differ from what
//! the main job writes, so they cannot go stale.

use crate::sweep::against_best::{self, AgainstBest};
use crate::sweep::verdict::{self, Arm, Comparison};
use scgenept_eval::metric_key::direction;

/// The findings paragraph (Markdown, one bullet per statement).
pub fn findings(
    comparisons: &[Comparison],
    best: &[AgainstBest],
    arms: &[(String, Arm)],
    labels: &[String],
    metric: &str,
) -> String {
    let seeds = (comparisons.first().map(|c| c.diff.n))
        .or_else(|| best.first().map(|b| b.diff.n))
        .unwrap_or(0);
    let mut s = format!(
        "Measured on {metric} {} over {seeds} seeds (mean ± 95% t-interval of per-seed \
         differences):\n\n",
        direction(metric)
    );
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for c in comparisons {
        if !pairs.contains(&(c.model.as_str(), c.against.as_str())) {
            pairs.push((&c.model, &c.against));
        }
    }
    for (model, against) in pairs {
        let row: Vec<&Comparison> = (comparisons.iter())
            .filter(|c| c.model == model && c.against == against)
            .collect();
        let all = row
            .iter()
            .find(|c| c.subgroup == "all")
            .map_or(String::new(), |c| {
                format!(
                    " All test conditions: {:+.4} ± {:.4}.",
                    c.diff.mean, c.diff.ci95
                )
            });
        let against = verdict::describe(arms, against);
        s.push_str(&format!(
            "- {}{all}\n",
            verdict::sentence(model, &against, &row)
        ));
    }
    for label in labels {
        let mine: Vec<&AgainstBest> = best.iter().filter(|b| &b.model == label).collect();
        if mine.is_empty() {
            continue;
        }
        let share = (mine.iter().find(|b| b.subgroup == "all"))
            .and_then(|b| b.ceiling_share.as_ref())
            .map_or(String::new(), |c| {
                format!(
                    " On all test conditions it covers {:.2} ± {:.2} of the way from the mean \
                     baseline to the split-half replicate.",
                    c.mean, c.ci95
                )
            });
        s.push_str(&format!(
            "- {}{share}\n",
            against_best::sentence(label, &mine)
        ));
    }
    s
}
