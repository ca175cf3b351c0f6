//! sklearn 1.9's `adjusted_mutual_info_score` (arithmetic mean of the entropies), with its
//! expected mutual information under the hypergeometric model.

use std::collections::BTreeMap;

/// The adjusted mutual information of two labellings of the same items.
pub fn adjusted_mutual_info(a: &[usize], b: &[usize]) -> f64 {
    let n = a.len();
    let (ca, cb) = (counts(a), counts(b));
    if (ca.len() == 1 && cb.len() == 1) || n == 0 {
        return 1.0;
    }
    if ca.len() == 1 || cb.len() == 1 {
        return 0.0;
    }
    let mut table: BTreeMap<(usize, usize), u64> = BTreeMap::new();
    for (x, y) in a.iter().zip(b) {
        *table.entry((*x, *y)).or_default() += 1;
    }
    let row: Vec<u64> = ca.values().copied().collect();
    let col: Vec<u64> = cb.values().copied().collect();
    let ia: BTreeMap<usize, usize> = ca.keys().enumerate().map(|(i, k)| (*k, i)).collect();
    let ib: BTreeMap<usize, usize> = cb.keys().enumerate().map(|(i, k)| (*k, i)).collect();
    let cells: Vec<(usize, usize, u64)> = (table.iter())
        .map(|(&(x, y), &c)| (ia[&x], ib[&y], c))
        .collect();
    let mi = mutual_info(&cells, &row, &col, n as f64);
    let emi = expected_mutual_info(&row, &col, n as u64);
    let normalizer = (entropy(&row) + entropy(&col)) / 2.0;
    let eps = f64::EPSILON;
    let signed_floor = |x: f64| if x < 0.0 { x.min(-eps) } else { x.max(eps) };
    signed_floor(mi - emi) / signed_floor(normalizer - emi)
}

fn counts(labels: &[usize]) -> BTreeMap<usize, u64> {
    let mut out = BTreeMap::new();
    for l in labels {
        *out.entry(*l).or_default() += 1;
    }
    out
}

/// `mutual_info_score` from the nonzero cells of the contingency table.
fn mutual_info(cells: &[(usize, usize, u64)], row: &[u64], col: &[u64], n: f64) -> f64 {
    let log_sums = (row.iter().sum::<u64>() as f64).ln() + (col.iter().sum::<u64>() as f64).ln();
    let mi: f64 = (cells.iter())
        .map(|&(i, j, c)| {
            let p = c as f64 / n;
            let log_outer = -((row[i] * col[j]) as f64).ln() + log_sums;
            let v = p * ((c as f64).ln() - n.ln()) + p * log_outer;
            if v.abs() < f64::EPSILON {
                0.0
            } else {
                v
            }
        })
        .sum();
    mi.max(0.0)
}

/// The entropy (natural log) of a labelling from its cluster sizes.
fn entropy(sizes: &[u64]) -> f64 {
    if sizes.len() == 1 {
        return 0.0;
    }
    let total = sizes.iter().sum::<u64>() as f64;
    -sizes
        .iter()
        .map(|&s| (s as f64 / total) * ((s as f64).ln() - total.ln()))
        .sum::<f64>()
}

/// `expected_mutual_information` (sklearn's `_expected_mutual_info_fast.pyx`).
fn expected_mutual_info(row: &[u64], col: &[u64], n: u64) -> f64 {
    let lgamma = |x: f64| libm::lgamma(x);
    let nf = n as f64;
    let mut emi = 0.0;
    for &a in row {
        for &b in col {
            let (af, bf) = (a as f64, b as f64);
            let start = 1.max((a + b).saturating_sub(n));
            let gln_fixed =
                lgamma(af + 1.0) + lgamma(bf + 1.0) + lgamma(nf - af + 1.0) + lgamma(nf - bf + 1.0);
            for nij in start..=a.min(b) {
                let x = nij as f64;
                let term1 = x / nf;
                let term2 = (nf.ln() + x.ln()) - af.ln() - bf.ln();
                let gln = gln_fixed
                    - (lgamma(x + 1.0) + lgamma(nf + 1.0))
                    - lgamma(af - x + 1.0)
                    - lgamma(bf - x + 1.0)
                    - lgamma(nf - af - bf + x + 1.0);
                emi += term1 * term2 * gln.exp();
            }
        }
    }
    emi
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from sklearn 1.9: `adjusted_mutual_info_score([0,0,1,1,2,2], [0,0,1,1,1,2])` and
    /// `([0,0,0,1,1,1,2,2], [1,1,0,0,2,2,2,0])`.
    #[test]
    fn equals_sklearn() {
        let a = adjusted_mutual_info(&[0, 0, 1, 1, 2, 2], &[0, 0, 1, 1, 1, 2]);
        assert!((a - SKLEARN_1).abs() < 1e-12, "{a}");
        let b = adjusted_mutual_info(&[0, 0, 0, 1, 1, 1, 2, 2], &[1, 1, 0, 0, 2, 2, 2, 0]);
        assert!((b - SKLEARN_2).abs() < 1e-12, "{b}");
        assert_eq!(adjusted_mutual_info(&[3, 3, 5], &[1, 1, 0]), 1.0);
    }

    const SKLEARN_1: f64 = 0.502_360_702_720_273_8;
    const SKLEARN_2: f64 = 0.072_719_789_918_865_96;
}
