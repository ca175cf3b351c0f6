//! Which gene a perturbation targets: the measured gene whose name is its label (cell-eval2's
//! resolution without a `target_gene_map`). A label that names no gene (a guide ID, a drug)
//! excludes nothing and is scored as is.

use std::collections::HashMap;

pub struct Targets {
    column_of: HashMap<String, usize>,
}

impl Targets {
    pub fn new(genes: &[String]) -> Targets {
        Targets {
            column_of: genes
                .iter()
                .enumerate()
                .map(|(i, g)| (g.clone(), i))
                .collect(),
        }
    }

    /// The column of the gene `label` targets, if it is a measured gene.
    pub fn column(&self, label: &str) -> Option<usize> {
        self.column_of.get(label).copied()
    }

    /// cell-eval2 refuses a panel where no label names a measured gene: excluding nothing would
    /// leave each perturbation's own knockdown in what is scored (its construct-ID case).
    pub fn require_some(&self, labels: &[&str]) -> anyhow::Result<()> {
        if labels.is_empty() || labels.iter().any(|l| self.column(l).is_some()) {
            return Ok(());
        }
        anyhow::bail!(
            "no perturbation label names a measured gene (e.g. '{}'): the vcc2026 metrics leave \
             each perturbation's own gene out, so label perturbations by their target gene's \
             name as in var_names",
            labels[0]
        )
    }
}
