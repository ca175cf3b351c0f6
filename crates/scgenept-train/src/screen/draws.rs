//! A screen repeated over control draws (`screen --draws N`): the same pairs predicted from N
//! independent draws of control cells (pool seeds `seed`, `seed + 1`, …), each pair's scores as
//! the mean with its 95% t-interval over draws, the range of ranks it took, and how stable the
//! ranking is: Spearman's ρ of the ranked score between every two draws. A ranking that another
//! draw reverses is noise, and the table and figure must show it (docs/features.md, "Screening
//! pairs").

use scgenept_eval::cell_eval_de::spearman;

use crate::screen::rows::{compare, rank, PairRow, Ranking, Spread};
use crate::sweep::table::SeedStat;

/// How much the ranking moves between draws.
#[derive(Clone, Debug, PartialEq)]
pub struct Stability {
    pub draws: usize,
    /// Spearman's ρ of the ranked score between each two draws.
    pub rho: Vec<f64>,
}

impl Stability {
    pub fn mean(&self) -> f64 {
        self.rho.iter().sum::<f64>() / self.rho.len().max(1) as f64
    }

    pub fn min(&self) -> f64 {
        self.rho.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// One line for the terminal and the figure.
    pub fn line(&self) -> String {
        format!(
            "rank stability over {} control draws: Spearman ρ between draws {:.2} on average \
             (lowest {:.2})",
            self.draws,
            self.mean(),
            self.min()
        )
    }
}

/// Combines the draws (each in screen order, the same pairs) into one ranked table of means with
/// intervals and rank ranges.
pub fn combine(draws: &[Vec<PairRow>], ranking: Ranking) -> (Vec<PairRow>, Stability) {
    let n_pairs = draws.first().map_or(0, Vec::len);
    // Each draw's rank of every pair (1 = first).
    let ranks: Vec<Vec<usize>> = draws.iter().map(|d| ranks_of(d, ranking)).collect();
    let mut rows: Vec<PairRow> = (0..n_pairs)
        .map(|p| {
            let first = &draws[0][p];
            let mut mean = [0f64; 10];
            let mut ci95 = [0f64; 10];
            for s in 0..10 {
                let v: Vec<f64> = draws.iter().map(|d| d[p].scores[s]).collect();
                let stat = SeedStat::of(&v).expect("at least one draw");
                (mean[s], ci95[s]) = (stat.mean, stat.ci95);
            }
            let r: Vec<usize> = ranks.iter().map(|r| r[p]).collect();
            PairRow {
                a: first.a.clone(),
                b: first.b.clone(),
                scores: mean,
                spread: Some(Spread {
                    ci95,
                    rank_min: r.iter().copied().min().unwrap_or(0),
                    rank_max: r.iter().copied().max().unwrap_or(0),
                }),
            }
        })
        .collect();
    rank(&mut rows, ranking);
    let column = |d: &Vec<PairRow>| -> Vec<f64> {
        let sign = if ranking.ascending { 1.0 } else { -1.0 };
        d.iter().map(|r| sign * r.scores[ranking.column]).collect()
    };
    let mut rho = Vec::new();
    for i in 0..draws.len() {
        for j in i + 1..draws.len() {
            rho.push(spearman(&column(&draws[i]), &column(&draws[j])));
        }
    }
    let stability = Stability {
        draws: draws.len(),
        rho,
    };
    (rows, stability)
}

/// Each pair's rank (1 = first) in one draw, pairs in screen order, by the table's rule.
fn ranks_of(draw: &[PairRow], ranking: Ranking) -> Vec<usize> {
    let mut order: Vec<usize> = (0..draw.len()).collect();
    let c = ranking.column;
    order.sort_by(|&x, &y| compare(draw[x].scores[c], draw[y].scores[c], ranking));
    let mut out = vec![0; draw.len()];
    for (pos, &i) in order.iter().enumerate() {
        out[i] = pos + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(a: &str, mag: f64) -> PairRow {
        let mut scores = [0f64; 10];
        scores[0] = mag;
        PairRow {
            a: a.into(),
            b: "Z".into(),
            scores,
            spread: None,
        }
    }

    #[test]
    fn draws_give_means_intervals_rank_ranges_and_rho() {
        let ranking = Ranking {
            column: 0,
            ascending: false,
        };
        // Draw 1 ranks A > B > C, draw 2 reverses it.
        let d1 = vec![row("A", 3.0), row("B", 2.0), row("C", 1.0)];
        let d2 = vec![row("A", 1.0), row("B", 2.0), row("C", 3.0)];
        let (rows, stability) = combine(&[d1.clone(), d2], ranking);
        assert_eq!(stability.rho.len(), 1);
        assert!(
            (stability.rho[0] + 1.0).abs() < 1e-12,
            "{:?}",
            stability.rho
        );
        assert!(stability.line().contains("-1.00 on average"));
        // Every mean is 2; ties keep screen order.
        assert!(rows.iter().all(|r| r.scores[0] == 2.0));
        let a = rows[0].spread.as_ref().unwrap();
        assert_eq!((rows[0].a.as_str(), a.rank_min, a.rank_max), ("A", 1, 3));
        // sd of {3, 1} is √2; t(0.975, 1) · √2 / √2 = 12.706.
        assert!((a.ci95[0] - 12.706204736).abs() < 1e-6, "{}", a.ci95[0]);
        let (same, s) = combine(&[d1.clone(), d1], ranking);
        assert!((s.rho[0] - 1.0).abs() < 1e-12, "{:?}", s.rho);
        assert_eq!(same[0].spread.as_ref().unwrap().ci95[0], 0.0);
    }
}
