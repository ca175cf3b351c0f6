//! GEARS' differential-expression keys, computed when a file lacks them (user data, our synthetic
//! data): `get_DE_genes` (scanpy `rank_genes_groups`: Welch t-test of each condition against the
//! control group on X, `rankby_abs=True`, all genes) and `get_dropout_non_zero_genes`.
//!
//! Means and variances accumulate in f64 over the CSR in one pass, as scanpy's `_get_mean_var`
//! (unbiased variance). A NaN score (gene constant in both groups) becomes 0 as in scanpy. Ties are
//! broken by gene index; scanpy's order among exactly tied scores is its sort's, not specified.

use std::collections::BTreeMap;

use crate::csr::CsrMatrix;

/// The five `uns` entries GEARS' metrics read, keyed by `condition_name`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeKeys {
    /// All gene ids (`var_names`), ranked.
    pub rank_genes_groups_cov_all: BTreeMap<String, Vec<String>>,
    pub top_non_dropout_de_20: BTreeMap<String, Vec<String>>,
    pub top_non_zero_de_20: BTreeMap<String, Vec<String>>,
    pub non_dropout_gene_idx: BTreeMap<String, Vec<usize>>,
    pub non_zeros_gene_idx: BTreeMap<String, Vec<usize>>,
}

/// Per-group means (f64) and unbiased variances, one pass over the CSR.
pub struct GroupStats {
    pub n: Vec<usize>,
    pub mean: Vec<Vec<f64>>,
    pub var: Vec<Vec<f64>>,
}

pub fn group_stats(x: &CsrMatrix, group_of_row: &[u32], n_groups: usize) -> GroupStats {
    let mut acc = GroupSums::new(n_groups, x.n_cols);
    for (r, &k) in group_of_row.iter().enumerate() {
        let (cols, vals) = x.row(r);
        acc.add_row(k as usize, cols, vals);
    }
    acc.finish()
}

/// Per-group sums and sums of squares, filled a row at a time (a matrix streamed from disk).
pub struct GroupSums {
    n: Vec<usize>,
    sum: Vec<Vec<f64>>,
    sq: Vec<Vec<f64>>,
}

impl GroupSums {
    pub fn new(n_groups: usize, n_cols: usize) -> Self {
        Self {
            n: vec![0; n_groups],
            sum: vec![vec![0f64; n_cols]; n_groups],
            sq: vec![vec![0f64; n_cols]; n_groups],
        }
    }

    /// Adds one cell of group `k`, given its stored columns and values.
    pub fn add_row(&mut self, k: usize, cols: &[u32], vals: &[f32]) {
        self.n[k] += 1;
        let (sum, sq) = (&mut self.sum[k], &mut self.sq[k]);
        for (j, v) in cols.iter().zip(vals) {
            let v = *v as f64;
            sum[*j as usize] += v;
            sq[*j as usize] += v * v;
        }
    }

    /// Means and unbiased variances.
    pub fn finish(self) -> GroupStats {
        let GroupSums { n, sum, sq } = self;
        let mut mean = sum;
        let mut var = sq;
        for k in 0..n.len() {
            let nk = n[k] as f64;
            for j in 0..mean[k].len() {
                let m = mean[k][j] / nk;
                let msq = var[k][j] / nk;
                mean[k][j] = m;
                var[k][j] = if n[k] > 1 {
                    (msq - m * m) * nk / (nk - 1.0)
                } else {
                    f64::NAN
                };
            }
        }
        GroupStats { n, mean, var }
    }
}

/// Welch t scores of group `k` against group `reference` (scipy `ttest_ind_from_stats`,
/// `equal_var=False`), NaN → 0.
pub fn welch_scores(stats: &GroupStats, k: usize, reference: usize) -> Vec<f64> {
    let (n1, n2) = (stats.n[k] as f64, stats.n[reference] as f64);
    (0..stats.mean[k].len())
        .map(|j| {
            let d = stats.mean[k][j] - stats.mean[reference][j];
            let denom = (stats.var[k][j] / n1 + stats.var[reference][j] / n2).sqrt();
            let t = d / denom;
            if t.is_nan() {
                0.0
            } else {
                t
            }
        })
        .collect()
}

/// Gene indices by descending |score| (ties by index).
pub fn rank_by_abs(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| {
        scores[*b]
            .abs()
            .partial_cmp(&scores[*a].abs())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.cmp(b))
    });
    order
}

/// Computes all DE keys. `group_of_row` assigns each cell to a condition; `condition_names[k]` is
/// the `uns` key of condition `k`; `control` is the control group's index.
pub fn compute_de_keys(
    x: &CsrMatrix,
    group_of_row: &[u32],
    condition_names: &[String],
    control: usize,
    gene_ids: &[String],
) -> DeKeys {
    let stats = group_stats(x, group_of_row, condition_names.len());
    de_keys_from_stats(&stats, condition_names, control, gene_ids)
}

/// The DE keys from per-condition statistics ([`group_stats`], or [`GroupSums`] over a matrix
/// read in blocks).
pub fn de_keys_from_stats(
    stats: &GroupStats,
    condition_names: &[String],
    control: usize,
    gene_ids: &[String],
) -> DeKeys {
    let mut keys = DeKeys::default();
    for (k, name) in condition_names.iter().enumerate() {
        if k == control || stats.n[k] == 0 {
            continue;
        }
        let order = rank_by_abs(&welch_scores(stats, k, control));
        // GEARS compares float32 means with 0; a mean is 0 exactly when every value is 0.
        let mean = &stats.mean[k];
        let ctrl = &stats.mean[control];
        let non_zero: Vec<usize> = (0..mean.len()).filter(|j| mean[*j] != 0.0).collect();
        let non_dropout: Vec<usize> = (0..mean.len())
            .filter(|j| mean[*j] != 0.0 || ctrl[*j] == 0.0)
            .collect();
        let top = |keep: &dyn Fn(usize) -> bool| -> Vec<String> {
            order
                .iter()
                .copied()
                .filter(|j| keep(*j))
                .take(20)
                .map(|j| gene_ids[j].clone())
                .collect()
        };
        keys.top_non_dropout_de_20
            .insert(name.clone(), top(&|j| mean[j] != 0.0 || ctrl[j] == 0.0));
        keys.top_non_zero_de_20
            .insert(name.clone(), top(&|j| mean[j] != 0.0));
        keys.rank_genes_groups_cov_all.insert(
            name.clone(),
            order.iter().map(|j| gene_ids[*j].clone()).collect(),
        );
        keys.non_zeros_gene_idx.insert(name.clone(), non_zero);
        keys.non_dropout_gene_idx.insert(name.clone(), non_dropout);
    }
    keys
}

impl DeKeys {
    /// The keys of the same data restricted to the genes `keep` (positions into `gene_ids`, in
    /// their new order): ranked lists keep their order without the dropped genes (a gene's t
    /// score does not depend on the others, so this is the ranking of the smaller gene set), gene
    /// positions are renumbered, and the top-20 lists are taken again from the ranking.
    pub fn restrict(&self, gene_ids: &[String], keep: &[usize]) -> DeKeys {
        let kept: std::collections::HashMap<&str, usize> = keep
            .iter()
            .enumerate()
            .map(|(n, j)| (gene_ids[*j].as_str(), n))
            .collect();
        let mut new_pos = vec![usize::MAX; gene_ids.len()];
        for (n, j) in keep.iter().enumerate() {
            new_pos[*j] = n;
        }
        let positions = |m: &BTreeMap<String, Vec<usize>>| -> BTreeMap<String, Vec<usize>> {
            m.iter()
                .map(|(k, v)| {
                    let mut p: Vec<usize> = v
                        .iter()
                        .filter_map(|j| new_pos.get(*j).copied().filter(|n| *n != usize::MAX))
                        .collect();
                    p.sort_unstable();
                    (k.clone(), p)
                })
                .collect()
        };
        let rank: BTreeMap<String, Vec<String>> = (self.rank_genes_groups_cov_all.iter())
            .map(|(k, v)| {
                let r = v.iter().filter(|g| kept.contains_key(g.as_str()));
                (k.clone(), r.cloned().collect())
            })
            .collect();
        let non_zeros = positions(&self.non_zeros_gene_idx);
        let non_dropout = positions(&self.non_dropout_gene_idx);
        let top = |allowed: &BTreeMap<String, Vec<usize>>| -> BTreeMap<String, Vec<String>> {
            rank.iter()
                .filter_map(|(k, ranked)| {
                    let ok = allowed.get(k)?;
                    let top = ranked
                        .iter()
                        .filter(|g| ok.binary_search(&kept[g.as_str()]).is_ok())
                        .take(20);
                    Some((k.clone(), top.cloned().collect()))
                })
                .collect()
        };
        DeKeys {
            top_non_dropout_de_20: top(&non_dropout),
            top_non_zero_de_20: top(&non_zeros),
            rank_genes_groups_cov_all: rank,
            non_zeros_gene_idx: non_zeros,
            non_dropout_gene_idx: non_dropout,
        }
    }
}
