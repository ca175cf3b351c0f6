//! The paper-style table printed after `train` and `baselines`: one Markdown table per test
//! subgroup, one row per method. A method that scores only part of a subgroup (additive: doubles
//! whose singles were both seen) is left out of it and listed under the tables instead.

use scgenept_data::{GearsSplit, Subgroups};
use scgenept_eval::baselines::MethodReport;
use scgenept_eval::metric_key::{direction, run_report_metrics, MetricKey};
use scgenept_eval::metrics::RANK_L1_LEGEND;

/// `1 condition`, `3 conditions`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

pub fn print_tables(rows: &[(String, &MethodReport)], split: &GearsSplit, synthetic: bool) {
    print!("{}", tables(rows, split, synthetic));
}

/// The tables as Markdown text.
pub fn tables(rows: &[(String, &MethodReport)], split: &GearsSplit, synthetic: bool) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let groups = std::iter::once("all").chain(
        Subgroups::NAMES
            .into_iter()
            .filter(|n| split.test_subgroup.get(n).is_some_and(|l| !l.is_empty())),
    );
    let tag = if synthetic { " — SYNTHETIC data" } else { "" };
    let shown = run_report_metrics();
    let header: Vec<String> = shown
        .iter()
        .map(|m| format!("{m} {}", direction(m)))
        .collect();
    let mut partial: Vec<String> = Vec::new();
    for group in groups {
        let members: &[String] = if group == "all" {
            &split.test
        } else {
            split.test_subgroup.get(group).unwrap_or(&[])
        };
        let n = plural(members.len(), "condition");
        let _ = writeln!(s, "\n### test, {group} ({n}){tag}\n");
        let _ = writeln!(s, "| method | {} |", header.join(" | "));
        let _ = writeln!(s, "|---|{}", "---|".repeat(shown.len()));
        for (name, r) in rows {
            let scored = members
                .iter()
                .filter(|c| r.per_condition.contains_key(*c))
                .count();
            if scored < members.len() {
                if scored > 0 {
                    partial.push(format!("{name} ({group}: {scored} of {})", members.len()));
                }
                continue;
            }
            let cells: Vec<String> = shown
                .iter()
                .map(|m| {
                    r.summary
                        .get(&MetricKey::new(group, *m))
                        .map_or("—".into(), |v| format!("{v:.4}"))
                })
                .collect();
            let _ = writeln!(s, "| {name} | {} |", cells.join(" | "));
        }
    }
    let _ = writeln!(
        s,
        "\n↑ higher is better, ↓ lower is better. {RANK_L1_LEGEND}"
    );
    if rows.iter().any(|(n, _)| n == "split_half_replicate") {
        let _ = writeln!(
            s,
            "split_half_replicate is the ceiling, not a baseline: one half of each test \
             perturbation's cells scored against the other half."
        );
    }
    if !partial.is_empty() {
        let _ = writeln!(
            s,
            "Left out of a table where a method scores only part of its conditions (metrics.json \
             has them): {}.",
            partial.join("; ")
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use scgenept_data::Subgroups;
    use std::collections::BTreeMap;

    fn report(conditions: &[&str], value: f64) -> MethodReport {
        let metrics = |prefix: &str| {
            run_report_metrics()
                .iter()
                .map(|m| (format!("{prefix}{m}"), value))
                .collect::<BTreeMap<_, _>>()
        };
        let mut summary = metrics("test_");
        summary.extend(metrics("test_combo_seen2_"));
        summary.extend(metrics("test_unseen_single_"));
        MethodReport {
            per_condition: conditions
                .iter()
                .map(|c| (c.to_string(), metrics("")))
                .collect(),
            summary: scgenept_eval::metric_key::from_strings(summary),
        }
    }

    #[test]
    fn a_partly_scored_method_is_only_in_the_subgroups_it_covers() {
        let split = GearsSplit {
            train: vec![],
            val: vec![],
            test: vec!["A+ctrl".into(), "B+ctrl".into(), "A+B".into()],
            test_subgroup: Subgroups {
                combo_seen2: vec!["A+B".into()],
                unseen_single: vec!["A+ctrl".into(), "B+ctrl".into()],
                ..Subgroups::default()
            },
            val_subgroup: Subgroups::default(),
        };
        let model = report(&["A+ctrl", "B+ctrl", "A+B"], 0.5);
        let additive = report(&["A+B"], 0.9);
        let rows = vec![
            ("model (scgenept_go_c)".to_string(), &model),
            ("additive".to_string(), &additive),
        ];
        let text = tables(&rows, &split, true);
        let section = |g: &str| {
            let start = text.find(&format!("### test, {g} (")).unwrap();
            text[start..].split("\n\n### ").next().unwrap().to_string()
        };
        assert!(section("all").starts_with("### test, all (3 conditions) — SYNTHETIC data"));
        assert!(!section("all").contains("| additive"), "{text}");
        assert!(!section("unseen_single").contains("| additive"), "{text}");
        assert!(section("combo_seen2").starts_with("### test, combo_seen2 (1 condition)"));
        assert!(
            section("combo_seen2").contains("| additive | 0.9000"),
            "{text}"
        );
        assert!(text.contains("pearson_delta_de ↑ |") && text.contains("| mse_de ↓ |"));
        assert!(text.contains("additive (all: 1 of 3)"), "{text}");
        assert!(text.contains("rank_l1_delta ↓: per condition"), "{text}");
    }
}
