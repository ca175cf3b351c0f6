//! Gene lists users give: symbols one a line (`#` comments allowed), or an h5ad's genes
//! (`var.gene_name`, var_names when that column is absent); and an h5ad's perturbation targets.

use std::path::Path;

use crate::error::DataError;

/// The gene symbols in `path`.
pub fn read_gene_list(path: &Path) -> Result<Vec<String>, DataError> {
    let bad = |reason: String| DataError::at(path, reason);
    if path.extension().is_some_and(|e| e == "h5ad") {
        let f = crate::h5ad::H5ad::open(path)?;
        let genes = match f.column("var", "gene_name") {
            Ok(col) => crate::h5ad::column_strings(col, path, "var.gene_name")?,
            Err(_) => f.index("var")?,
        };
        if genes.is_empty() {
            return Err(bad("var has no genes".into()));
        }
        return Ok(genes);
    }
    let list = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let genes: Vec<String> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    if genes.is_empty() {
        return Err(bad("no gene symbols in the file".into()));
    }
    Ok(genes)
}

/// The genes an h5ad's cells are perturbed at (GEARS' `obs.condition`, `ctrl` left out), sorted
/// and unique; `None` for a plain gene list or an h5ad without that column.
pub fn read_perturbation_targets(path: &Path) -> Result<Option<Vec<String>>, DataError> {
    if path.extension().is_none_or(|e| e != "h5ad") {
        return Ok(None);
    }
    let f = crate::h5ad::H5ad::open(path)?;
    let Ok(col) = f.column("obs", "condition") else {
        return Ok(None);
    };
    let labels = crate::h5ad::column_strings(col, path, "obs.condition")?;
    let targets: std::collections::BTreeSet<&str> = (labels.iter())
        .flat_map(|c| crate::condition::condition_genes(c))
        .collect();
    Ok(Some(targets.into_iter().map(String::from).collect()))
}
