//! The paper-style table printed after `train` and `baselines`: one Markdown table per test
//! subgroup, one row per method, with how many of the subgroup's conditions a method scored.

use scgenept_data::{GearsSplit, Subgroups};
use scgenept_train::baselines::MethodReport;

/// The columns shown (all metrics are in metrics.json / `--json`).
pub const SHOWN: [&str; 5] = [
    "pearson_delta_de",
    "pearson_delta",
    "pearson_delta_top20_de_non_dropout",
    "mse_de",
    "rank_l1_delta",
];

pub fn print_tables(rows: &[(String, &MethodReport)], split: &GearsSplit) {
    let groups = std::iter::once("all").chain(
        Subgroups::NAMES
            .into_iter()
            .filter(|n| split.test_subgroup.get(n).is_some_and(|l| !l.is_empty())),
    );
    for group in groups {
        let members: &[String] = if group == "all" {
            &split.test
        } else {
            split.test_subgroup.get(group).unwrap_or(&[])
        };
        let key = |m: &str| {
            if group == "all" {
                format!("test_{m}")
            } else {
                format!("test_{group}_{m}")
            }
        };
        println!("\n### test, {group} ({} conditions)\n", members.len());
        println!("| method | {} |", SHOWN.join(" | "));
        println!("|---|{}", "---|".repeat(SHOWN.len()));
        for (name, r) in rows {
            let cells: Vec<String> = SHOWN
                .iter()
                .map(|m| {
                    r.summary
                        .get(&key(m))
                        .map_or("—".into(), |v| format!("{v:.4}"))
                })
                .collect();
            let scored = members
                .iter()
                .filter(|c| r.per_condition.contains_key(*c))
                .count();
            let label = if scored < members.len() {
                format!("{name} ({scored}/{} scored)", members.len())
            } else {
                name.clone()
            };
            println!("| {label} | {} |", cells.join(" | "));
        }
    }
}
