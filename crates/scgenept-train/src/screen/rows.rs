//! The screen's table: one row per pair (its GEARS scores, and over several control draws their
//! intervals and rank range), how it is ranked, and its CSV, written whole or chunk by chunk.

use std::path::Path;

use anyhow::{bail, Context, Result};

use scgenept_eval::gi::GiScores;

/// How the table is ordered: by one score column, largest first unless `ascending`.
#[derive(Clone, Copy, Debug)]
pub struct Ranking {
    pub column: usize,
    pub ascending: bool,
}

impl std::str::FromStr for Ranking {
    type Err = anyhow::Error;

    /// A column of [`GiScores::NAMES`], largest first.
    fn from_str(s: &str) -> Result<Self> {
        match GiScores::NAMES.iter().position(|n| *n == s) {
            Some(column) => Ok(Ranking {
                column,
                ascending: false,
            }),
            None => bail!(
                "'{s}' is not a score; rank by one of {}",
                GiScores::NAMES.join(", ")
            ),
        }
    }
}

/// One screened pair.
#[derive(Clone, Debug)]
pub struct PairRow {
    pub a: String,
    pub b: String,
    /// The scores, or their means over control draws.
    pub scores: [f64; 10],
    /// Over several control draws: how much they moved.
    pub spread: Option<Spread>,
}

/// A pair's scores over control draws (`screen --draws`).
#[derive(Clone, Debug, PartialEq)]
pub struct Spread {
    /// Half-width of each score's 95% t-interval over draws.
    pub ci95: [f64; 10],
    /// The best and worst rank the pair took in a draw.
    pub rank_min: usize,
    pub rank_max: usize,
}

/// The table as CSV: `gene_a,gene_b,<scores>`, with a leading `rank` column when `ranked`.
/// Rows with a spread over control draws (all or none) add, per score, `<score>_ci95` (the 95%
/// interval's half-width; the score is then the mean over draws), and `rank_min,rank_max`.
/// Floats are written in full (shortest round-trip form), NaN as `NaN`.
pub fn rows_csv(rows: &[PairRow], ranked: bool) -> String {
    let spread = rows.first().is_some_and(|r| r.spread.is_some());
    let mut s = String::new();
    if ranked {
        s.push_str("rank,");
    }
    s.push_str(&format!("gene_a,gene_b,{}", GiScores::NAMES.join(",")));
    if spread {
        let ci: Vec<String> = GiScores::NAMES
            .iter()
            .map(|n| format!("{n}_ci95"))
            .collect();
        s.push_str(&format!(",{},rank_min,rank_max", ci.join(",")));
    }
    s.push('\n');
    for (r, row) in rows.iter().enumerate() {
        if ranked {
            s.push_str(&format!("{},", r + 1));
        }
        let scores: Vec<String> = row.scores.iter().map(|v| v.to_string()).collect();
        s.push_str(&format!("{},{},{}", row.a, row.b, scores.join(",")));
        if let Some(sp) = &row.spread {
            let ci: Vec<String> = sp.ci95.iter().map(|v| v.to_string()).collect();
            s.push_str(&format!(
                ",{},{},{}",
                ci.join(","),
                sp.rank_min,
                sp.rank_max
            ));
        }
        s.push('\n');
    }
    s
}

/// Reads a chunk written by [`rows_csv`] (unranked).
pub fn read_rows(path: &Path) -> Result<Vec<PairRow>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let damaged = || {
        format!(
            "{}: damaged; delete it and rerun the screen",
            path.display()
        )
    };
    (text.lines().skip(1))
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != 2 + GiScores::NAMES.len() {
                bail!(damaged());
            }
            let mut scores = [0f64; 10];
            for (s, v) in scores.iter_mut().zip(&f[2..]) {
                *s = v.parse().with_context(damaged)?;
            }
            Ok(PairRow {
                a: f[0].to_string(),
                b: f[1].to_string(),
                scores,
                spread: None,
            })
        })
        .collect()
}

/// Orders rows by the ranking's column (NaN last), ties in screen order.
pub fn rank(rows: &mut [PairRow], r: Ranking) {
    rows.sort_by(|x, y| compare(x.scores[r.column], y.scores[r.column], r));
}

/// The table's order of two scores: the ranking's direction, NaN last.
pub fn compare(a: f64, b: f64, r: Ranking) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ if r.ascending => a.total_cmp(&b),
        _ => b.total_cmp(&a),
    }
}
