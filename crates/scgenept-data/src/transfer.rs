//! Transfer between two datasets (issue 32): train on one screen, test on another's
//! perturbations (K562 → RPE1). The datasets are aligned by gene symbol first: both keep the
//! genes they share, in the source's order, so one model reads and predicts both; a condition
//! whose target is not among the shared genes cannot be flagged and is left out. What was kept
//! and dropped is reported ([`GeneAlignment`]). The split is [`GearsSplit::transfer`].

use std::collections::{BTreeSet, HashMap};

use crate::condition::{condition_genes, is_control};
use crate::error::{DataError, Result};
use crate::perturb_data::{preview, PerturbData};

/// What aligning two datasets by gene symbol kept and dropped.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct GeneAlignment {
    pub genes_kept: usize,
    pub source_genes: usize,
    pub target_genes: usize,
    /// Genes measured only in the source (dropped), then only in the target (dropped).
    pub source_only: Vec<String>,
    pub target_only: Vec<String>,
    /// Perturbations left out because a perturbed gene is not among the kept genes.
    pub source_conditions_dropped: Vec<String>,
    pub target_conditions_dropped: Vec<String>,
}

impl GeneAlignment {
    /// One line for the log.
    pub fn summary(&self) -> String {
        format!(
            "genes aligned by symbol: {} kept of {} (source) and {} (target); dropped {} source-only ({}) and {} target-only ({}); perturbations left out: {} of the source ({}), {} of the target ({})",
            self.genes_kept,
            self.source_genes,
            self.target_genes,
            self.source_only.len(),
            preview(&self.source_only),
            self.target_only.len(),
            preview(&self.target_only),
            self.source_conditions_dropped.len(),
            preview(&self.source_conditions_dropped),
            self.target_conditions_dropped.len(),
            preview(&self.target_conditions_dropped),
        )
    }
}

impl PerturbData {
    /// The same cells restricted to the genes `keep` (positions, in their new order): the
    /// expression's columns, the gene lists and the DE keys ([`crate::de::DeKeys::restrict`]).
    pub fn select_genes(&self, keep: &[usize]) -> PerturbData {
        PerturbData {
            source: self.source.clone(),
            x: self.x.select_columns(keep),
            gene_names: keep.iter().map(|j| self.gene_names[*j].clone()).collect(),
            gene_ids: keep.iter().map(|j| self.gene_ids[*j].clone()).collect(),
            conditions: self.conditions.clone(),
            condition_names: self.condition_names.clone(),
            cell_condition: self.cell_condition.clone(),
            de: self.de.restrict(&self.gene_ids, keep),
            de_computed: self.de_computed,
            encoding: self.encoding.clone(),
            synthetic: self.synthetic.clone(),
        }
    }

    /// Perturbations (not ctrl) whose every gene is measured.
    pub fn flaggable_conditions(&self) -> Vec<String> {
        let genes: BTreeSet<&str> = self.gene_names.iter().map(String::as_str).collect();
        (self.conditions.iter())
            .filter(|c| !is_control(c) && condition_genes(c).iter().all(|g| genes.contains(g)))
            .cloned()
            .collect()
    }
}

/// Both datasets restricted to the genes they share (by symbol, in the source's order), and
/// what that kept and dropped. Refused when they share no gene.
pub fn align_genes(
    source: &PerturbData,
    target: &PerturbData,
) -> Result<(PerturbData, PerturbData, GeneAlignment)> {
    let in_target: HashMap<&str, usize> = (target.gene_names.iter().enumerate())
        .map(|(j, g)| (g.as_str(), j))
        .collect();
    let (mut keep_source, mut keep_target) = (Vec::new(), Vec::new());
    for (j, g) in source.gene_names.iter().enumerate() {
        if let Some(t) = in_target.get(g.as_str()) {
            keep_source.push(j);
            keep_target.push(*t);
        }
    }
    if keep_source.is_empty() {
        return Err(DataError::at(
            &target.source,
            format!(
                "shares no gene symbol with {} ({} and {} genes); align var.gene_name spellings first",
                source.source.display(),
                target.n_genes(),
                source.n_genes()
            ),
        ));
    }
    let only = |d: &PerturbData, keep: &[usize]| -> Vec<String> {
        let kept: BTreeSet<usize> = keep.iter().copied().collect();
        (0..d.n_genes())
            .filter(|j| !kept.contains(j))
            .map(|j| d.gene_names[j].clone())
            .collect()
    };
    let (a, b) = (
        source.select_genes(&keep_source),
        target.select_genes(&keep_target),
    );
    let dropped = |before: &PerturbData, after: &PerturbData| -> Vec<String> {
        let ok: BTreeSet<String> = after.flaggable_conditions().into_iter().collect();
        (before.conditions.iter())
            .filter(|c| !is_control(c) && !ok.contains(*c))
            .cloned()
            .collect()
    };
    let report = GeneAlignment {
        genes_kept: keep_source.len(),
        source_genes: source.n_genes(),
        target_genes: target.n_genes(),
        source_only: only(source, &keep_source),
        target_only: only(target, &keep_target),
        source_conditions_dropped: dropped(source, &a),
        target_conditions_dropped: dropped(target, &b),
    };
    Ok((a, b, report))
}
