//! The sweep's table: per method (model types, then baselines) × subgroup × metric, the mean over
//! seeds ± the 95% t-interval half-width — the shape of the paper's Tables 3–5 (docs/reference.md
//! §0).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::run::finished::FinishedRun;
use scgenept_eval::method::{Baseline, Method};
use scgenept_eval::metric_key::{direction, SUBGROUP_ORDER};

/// Baselines in the order the table lists them (the embedding rows follow alphabetically).
const BASELINE_ORDER: [Baseline; 7] = [
    Baseline::NonCtrlMean,
    Baseline::NonCtrlMeanCells,
    Baseline::MatchingMean,
    Baseline::RandomTrainPerturbation,
    Baseline::ControlMean,
    Baseline::Additive,
    Baseline::SplitHalfReplicate,
];

/// Mean over seeds with its 95% t-interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeedStat {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n − 1); NaN for one seed.
    pub sd: f64,
    /// Half-width of the 95% t-interval: t(0.975, n − 1) · sd / √n; NaN for one seed.
    pub ci95: f64,
}

impl SeedStat {
    pub fn of(values: &[f64]) -> Option<Self> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        if n == 1 {
            return Some(Self {
                n,
                mean,
                sd: f64::NAN,
                ci95: f64::NAN,
            });
        }
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let sd = var.sqrt();
        Some(Self {
            n,
            mean,
            sd,
            ci95: t_quantile_975(n - 1) * sd / (n as f64).sqrt(),
        })
    }
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom (2.776 for 5 seeds).
pub fn t_quantile_975(df: usize) -> f64 {
    StudentsT::new(0.0, 1.0, df as f64)
        .map(|t| t.inverse_cdf(0.975))
        .unwrap_or(f64::NAN)
}

/// One row of the table: a model type of the sweep, or a baseline.
#[derive(Debug, Clone)]
pub struct MethodRow {
    pub name: String,
    pub is_baseline: bool,
    /// `(subgroup, metric)` → one value per seed (seed order of the sweep).
    pub values: BTreeMap<(String, String), Vec<f64>>,
}

/// A baseline's row name in the tables: embedding baselines carry their knowledge source.
pub fn baseline_row_name(method: Method, run: &FinishedRun) -> String {
    match (method.is_embedding(), &run.baseline_source) {
        (true, Some(s)) => format!("{method} ({s})"),
        _ => method.to_string(),
    }
}

/// Rows from finished runs: one per model label (in `labels` order), then one per baseline. A
/// baseline that does not depend on the model is taken once per seed (from the first run of that
/// seed); the embedding baselines get one row per knowledge source.
pub fn method_rows(runs: &[FinishedRun], labels: &[String]) -> Vec<MethodRow> {
    let mut rows: Vec<MethodRow> = labels
        .iter()
        .map(|l| MethodRow {
            name: l.clone(),
            is_baseline: false,
            values: BTreeMap::new(),
        })
        .collect();
    let mut baselines: BTreeMap<String, MethodRow> = BTreeMap::new();
    let mut taken: std::collections::HashSet<(String, u64)> = std::collections::HashSet::new();
    for run in runs {
        for (method, metrics) in &run.methods {
            let row = if *method == Method::Model {
                match rows.iter_mut().find(|r| r.name == run.label) {
                    Some(r) => r,
                    None => continue,
                }
            } else {
                let name = baseline_row_name(*method, run);
                if !taken.insert((name.clone(), run.seed)) {
                    continue;
                }
                baselines.entry(name.clone()).or_insert_with(|| MethodRow {
                    name,
                    is_baseline: true,
                    values: BTreeMap::new(),
                })
            };
            let partial = run.partial.get(method);
            for (key, v) in metrics {
                // A mean over part of a subgroup is not comparable with the others.
                if partial.is_some_and(|p| p.iter().any(|(sg, _, _)| *sg == key.subgroup)) {
                    continue;
                }
                let k = (key.subgroup.clone(), key.metric.clone());
                row.values.entry(k).or_default().push(*v);
            }
        }
    }
    let rank = |name: &str| {
        BASELINE_ORDER
            .iter()
            .position(|b| name == b.name())
            .unwrap_or(BASELINE_ORDER.len())
    };
    // A baseline that scored nothing (additive without seen pairs) would be a row of dashes.
    let mut b: Vec<MethodRow> = baselines
        .into_values()
        .filter(|r| !r.values.is_empty())
        .collect();
    b.sort_by(|x, y| (rank(&x.name), &x.name).cmp(&(rank(&y.name), &y.name)));
    rows.extend(b);
    mark_partial_coverage(&mut rows);
    rows
}

/// A method that scores only some subgroups (additive: doubles whose singles were both seen)
/// would average its `all` column over those alone, which is not comparable with the others: it
/// keeps only the subgroups it covers (no `all` row or bar), and its name says which.
fn mark_partial_coverage(rows: &mut [MethodRow]) {
    let covered = |r: &MethodRow| -> Vec<String> {
        SUBGROUP_ORDER[1..]
            .iter()
            .filter(|sg| r.values.keys().any(|(s, _)| s == *sg))
            .map(|s| s.to_string())
            .collect()
    };
    let all: Vec<String> = subgroups_present(rows).into_iter().skip(1).collect();
    for r in rows.iter_mut() {
        let mine = covered(r);
        if !mine.is_empty() && mine.len() < all.len() {
            r.name = format!("{} ({} only)", r.name, mine.join(", "));
            r.values.retain(|(sg, _), _| sg != "all");
        }
    }
}

/// The sentence under the tables naming what was left out of them: ` Left out where scored on
/// part of a subgroup: additive (all: 3 of 25; combo_seen2: 3 of 4).` (empty when nothing was).
pub fn left_out_note(runs: &[FinishedRun]) -> String {
    let mut seen: BTreeMap<Method, &Vec<(String, usize, usize)>> = BTreeMap::new();
    for run in runs {
        for (method, parts) in &run.partial {
            seen.entry(*method).or_insert(parts);
        }
    }
    if seen.is_empty() {
        return String::new();
    }
    let items: Vec<String> = seen
        .iter()
        .map(|(method, parts)| {
            let p: Vec<String> = parts
                .iter()
                .map(|(sg, n, of)| format!("{sg}: {n} of {of}"))
                .collect();
            format!("{method} ({})", p.join("; "))
        })
        .collect();
    format!(
        " Left out where scored on part of a subgroup's conditions: {}.",
        items.join(", ")
    )
}

/// The subgroups any row has values for, in the paper's order.
pub fn subgroups_present(rows: &[MethodRow]) -> Vec<String> {
    SUBGROUP_ORDER
        .iter()
        .filter(|sg| rows.iter().any(|r| r.values.keys().any(|(s, _)| s == *sg)))
        .map(|s| s.to_string())
        .collect()
}

/// `0.6650 ± 0.0123`, with `(n=k)` when fewer seeds than the sweep's finished.
fn cell(stat: Option<SeedStat>, n_expected: usize) -> String {
    match stat {
        None => "—".into(),
        Some(s) => {
            let mut t = if s.ci95.is_finite() {
                format!("{:.4} ± {:.4}", s.mean, s.ci95)
            } else {
                format!("{:.4}", s.mean)
            };
            if s.n < n_expected {
                t.push_str(&format!(" (n={})", s.n));
            }
            t
        }
    }
}

fn stat(row: &MethodRow, subgroup: &str, metric: &str) -> Option<SeedStat> {
    row.values
        .get(&(subgroup.to_string(), metric.to_string()))
        .and_then(|v| SeedStat::of(v))
}

/// The Markdown report: `verdict` (the knowledge comparison, if any), then one table per test
/// subgroup (all conditions first, then the paper's subgroups) with the `metrics` columns, then
/// the headline metric by subgroup (the paper's Table 5 shape).
pub fn markdown(
    title: &str,
    rows: &[MethodRow],
    metrics: &[String],
    headline: &str,
    n_seeds: usize,
    note: &str,
    verdict: &str,
) -> String {
    let mut s = format!(
        "# {title}\n\nMean over seeds ± half-width of the 95% t-interval (t(0.975, n−1)·sd/√n); \
         `(n=k)` marks cells with fewer than {n_seeds} seeds. ↑ higher is better, ↓ lower is \
         better. {note}\n\n"
    );
    if metrics.iter().any(|m| m.ends_with("rank_l1_delta")) {
        s.push_str(scgenept_eval::metrics::RANK_L1_LEGEND);
        s.push_str("\n\n");
    }
    if !verdict.is_empty() {
        s.push_str(verdict);
        s.push('\n');
    }
    let header: Vec<String> = metrics
        .iter()
        .map(|m| format!("{m} {}", direction(m)))
        .collect();
    let groups = subgroups_present(rows);
    for g in &groups {
        let title = match g.as_str() {
            "all" => "Test set, all conditions".to_string(),
            g => format!("Test subgroup {g}"),
        };
        s.push_str(&format!(
            "## {title}\n\n| method | {} |\n",
            header.join(" | ")
        ));
        s.push_str(&format!("|---|{}\n", "---|".repeat(metrics.len())));
        for r in rows {
            if !r.values.keys().any(|(sg, _)| sg == g) {
                continue;
            }
            let cells: Vec<String> = metrics
                .iter()
                .map(|m| cell(stat(r, g, m), n_seeds))
                .collect();
            s.push_str(&format!("| {} | {} |\n", r.name, cells.join(" | ")));
        }
        s.push('\n');
    }
    if groups.len() > 1 {
        s.push_str(&format!(
            "## {headline} {} by test subgroup\n\n",
            direction(headline)
        ));
        s.push_str(&format!("| method | {} |\n", groups.join(" | ")));
        s.push_str(&format!("|---|{}\n", "---|".repeat(groups.len())));
        for r in rows {
            let cells: Vec<String> = groups
                .iter()
                .map(|g| cell(stat(r, g, headline), n_seeds))
                .collect();
            s.push_str(&format!("| {} | {} |\n", r.name, cells.join(" | ")));
        }
    }
    s
}

/// Long CSV: one row per method × subgroup × metric.
pub fn csv(rows: &[MethodRow]) -> String {
    let mut s = String::from("method,kind,subgroup,metric,n_seeds,mean,ci95_low,ci95_high,sd\n");
    for r in rows {
        for ((sg, m), v) in &r.values {
            let Some(st) = SeedStat::of(v) else { continue };
            let kind = if r.is_baseline { "baseline" } else { "model" };
            let f = |x: f64| {
                if x.is_finite() {
                    format!("{x}")
                } else {
                    String::new()
                }
            };
            s.push_str(&format!(
                "{},{kind},{sg},{m},{},{},{},{},{}\n",
                csv_field(&r.name),
                st.n,
                f(st.mean),
                f(st.mean - st.ci95),
                f(st.mean + st.ci95),
                f(st.sd)
            ));
        }
    }
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The bar plot of the headline metric per subgroup, one bar per method with its interval.
pub fn draw_bars(rows: &[MethodRow], headline: &str, title: &str, out: &Path) -> Result<()> {
    let groups = subgroups_present(rows);
    let series: Vec<crate::figures::plots::BarSeries> = rows
        .iter()
        .map(|r| {
            let v = groups
                .iter()
                .map(|g| stat(r, g, headline).map(|s| (s.mean, s.ci95)))
                .collect();
            (r.name.clone(), v)
        })
        .collect();
    crate::figures::plots::GroupedBars {
        title,
        y_label: headline,
        groups: &groups,
        series: &series,
        // Correlations live in [-1, 1]; an interval from few seeds can reach past that.
        bounds: headline.contains("pearson").then_some((-1.0, 1.0)),
    }
    .draw(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_scipy() {
        // scipy.stats.t.ppf(0.975, df) for df = 1, 2, 4, 9, 30.
        for (df, want) in [
            (1, 12.706204736174698),
            (2, 4.302652729749464),
            (4, 2.7764451051977987),
            (9, 2.2621571628540993),
            (30, 2.0422724563012373),
        ] {
            assert!((t_quantile_975(df) - want).abs() < 1e-9, "df {df}");
        }
    }

    #[test]
    fn five_seed_interval() {
        let v = [0.60, 0.62, 0.65, 0.61, 0.67];
        let s = SeedStat::of(&v).unwrap();
        // numpy: mean 0.63, std(ddof=1) 0.0291547594742265; half = 2.7764451 * sd / sqrt(5).
        assert!((s.mean - 0.63).abs() < 1e-12);
        assert!((s.sd - 0.0291547594742265).abs() < 1e-12);
        assert!((s.ci95 - 2.7764451051977987 * 0.0291547594742265 / 5f64.sqrt()).abs() < 1e-12);
        let one = SeedStat::of(&[0.5]).unwrap();
        assert!(one.ci95.is_nan() && one.mean == 0.5);
        assert!(SeedStat::of(&[]).is_none());
    }

    /// A summary from the reference's key names.
    fn summary(entries: &[(&str, f64)]) -> scgenept_eval::metric_key::Summary {
        scgenept_eval::metric_key::from_strings(entries.iter().map(|(k, v)| (k.to_string(), *v)))
    }

    fn run(label: &str, seed: u64, model: f64, random: f64) -> FinishedRun {
        let m = |v: f64| summary(&[("test_pearson_delta_de", v)]);
        FinishedRun {
            label: label.into(),
            seed,
            methods: BTreeMap::from([
                (Method::Model, m(model)),
                (
                    Method::Baseline(Baseline::RandomTrainPerturbation),
                    m(random),
                ),
                (Method::RidgeEmbedding, m(model / 2.0)),
            ]),
            // Each arm's embedding baselines read its own table.
            baseline_source: Some(
                if label == "a" { "go_c_concat" } else { "ncbi" }
                    .parse()
                    .unwrap(),
            ),
            synthetic: false,
            partial: BTreeMap::new(),
        }
    }

    #[test]
    fn baselines_are_counted_once_per_seed_and_embedding_rows_per_source() {
        let runs = [
            run("a", 1, 0.7, 0.4),
            run("b", 1, 0.8, 0.4),
            run("a", 2, 0.6, 0.5),
            run("b", 2, 0.9, 0.5),
        ];
        let rows = method_rows(&runs, &["a".into(), "b".into()]);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "a",
                "b",
                "random_train_perturbation",
                "ridge_embedding (go_c_concat)",
                "ridge_embedding (ncbi)"
            ]
        );
        let key = ("all".to_string(), "pearson_delta_de".to_string());
        assert_eq!(rows[0].values[&key], vec![0.7, 0.6]);
        assert_eq!(rows[2].values[&key], vec![0.4, 0.5]);
        // A baseline that scores only some subgroups says so in its name.
        let mut partial = run("a", 1, 0.7, 0.4);
        for m in partial.methods.values_mut() {
            m.extend(summary(&[
                ("test_unseen_single_pearson_delta_de", 0.3),
                ("test_combo_seen2_pearson_delta_de", 0.3),
            ]));
        }
        let additive = summary(&[
            ("test_pearson_delta_de", 0.9),
            ("test_combo_seen2_pearson_delta_de", 0.9),
        ]);
        partial
            .methods
            .insert(Method::Baseline(Baseline::Additive), additive);
        let names: Vec<String> = method_rows(&[partial], &["a".into()])
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert!(
            names.contains(&"additive (combo_seen2 only)".to_string())
                && names.contains(&"random_train_perturbation".to_string()),
            "{names:?}"
        );
        assert_eq!(rows[2].values[&key], vec![0.4, 0.5]);
        let md = markdown(
            "t",
            &rows,
            &["pearson_delta_de".into()],
            "pearson_delta_de",
            2,
            "",
            "",
        );
        assert!(md.contains("| a | 0.6500 ± 0.6353 |"), "{md}");
    }

    #[test]
    fn a_mean_over_part_of_a_subgroup_is_left_out_and_named() {
        let mut r = run("a", 1, 0.7, 0.4);
        for m in r.methods.values_mut() {
            m.extend(summary(&[("test_combo_seen2_pearson_delta_de", 0.5)]));
        }
        let additive = summary(&[
            ("test_pearson_delta_de", 0.9),
            ("test_combo_seen2_pearson_delta_de", 0.9),
        ]);
        r.methods
            .insert(Method::Baseline(Baseline::Additive), additive);
        r.partial.insert(
            Method::Baseline(Baseline::Additive),
            vec![("all".into(), 3, 25), ("combo_seen2".into(), 3, 4)],
        );
        let rows = method_rows(std::slice::from_ref(&r), &["a".into()]);
        assert!(
            rows.iter().all(|row| !row.name.starts_with("additive")),
            "no comparable mean left, so no row"
        );
        assert_eq!(
            left_out_note(&[r]),
            " Left out where scored on part of a subgroup's conditions: additive (all: 3 of 25; \
             combo_seen2: 3 of 4)."
        );
    }
}
