//! A GEARS perturbation dataset: the expression matrix (in memory or streamed from disk,
//! `cells/`), each cell's condition, the gene list and the DE keys — read from
//! `perturb_processed.h5ad` or from a user's Perturb-seq h5ad with its own column names.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::cells::{CellStorage, Cells, DiskCsr, RowSource, AUTO_MEMORY_LIMIT};
use crate::condition::{is_control, single, CTRL};
use crate::csr::CsrMatrix;
use crate::de::{de_keys_from_stats, DeKeys, GroupSums};
use crate::error::{DataError, Result};
use crate::h5ad::{column_strings, H5ad};

/// Where the fields GEARS needs live in a file. Defaults are GEARS' own names.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObsColumns {
    /// obs column naming each cell's perturbation (`A+ctrl`, `A+B`, or bare `A`, `A+B`).
    pub perturbation: String,
    /// The value of that column that marks control cells.
    pub control_label: String,
    /// var column with gene symbols; empty = use var_names.
    pub gene_symbol: String,
    /// obs column with the cell type (used in `condition_name`); missing = `cell_type` constant.
    pub cell_type: String,
}

impl Default for ObsColumns {
    fn default() -> Self {
        Self {
            perturbation: "condition".into(),
            control_label: CTRL.into(),
            gene_symbol: "gene_name".into(),
            cell_type: "cell_type".into(),
        }
    }
}

/// The dataset.
#[derive(Clone, Debug)]
pub struct PerturbData {
    pub source: PathBuf,
    /// log-normalised expression, cells × genes, in memory or streamed from disk.
    pub x: Cells,
    /// Gene symbols (`var.gene_name`): the flag index of a perturbed gene is its position here.
    pub gene_names: Vec<String>,
    /// `var_names` (Ensembl ids in GEARS files): what the DE keys list.
    pub gene_ids: Vec<String>,
    /// Conditions in GEARS spelling, in order of first appearance in `obs`.
    pub conditions: Vec<String>,
    /// `condition_name` (`{cell_type}_{condition}_{dose}`) of each condition.
    pub condition_names: Vec<String>,
    /// Index into `conditions` for each cell.
    pub cell_condition: Vec<u32>,
    pub de: DeKeys,
    /// True when the DE keys were computed here rather than read from the file.
    pub de_computed: bool,
    pub encoding: String,
    /// The file's synthetic-data marker (`uns/synthetic`), if any.
    pub synthetic: Option<String>,
}

/// GEARS spelling of a perturbation label: control → `ctrl`; `A` → `A+ctrl`; `A+B`, `A+ctrl` and
/// `ctrl+A` kept as they are.
pub fn gears_condition(label: &str, control_label: &str) -> std::result::Result<String, String> {
    let label = label.trim();
    if label == control_label || label == CTRL {
        return Ok(CTRL.into());
    }
    if label.is_empty() {
        return Err("an empty perturbation label".into());
    }
    let parts: Vec<&str> = label.split('+').collect();
    if parts.iter().any(|p| p.trim().is_empty()) || parts.len() > 2 {
        return Err(format!(
            "perturbation '{label}' is not 'A', 'A+ctrl' or 'A+B' (GEARS handles at most two genes)"
        ));
    }
    Ok(if parts.len() == 1 {
        single(label)
    } else {
        label.to_string()
    })
}

/// A list for a one-line message: the first eight, then how many in all.
pub fn preview(v: &[String]) -> String {
    let shown: Vec<&str> = v.iter().take(8).map(String::as_str).collect();
    if v.len() > shown.len() {
        format!("{}, … ({} in all)", shown.join(", "), v.len())
    } else {
        shown.join(", ")
    }
}

pub use crate::condition::condition_genes;

impl PerturbData {
    /// Reads and validates an h5ad, its cells where [`CellStorage::Auto`] puts them. DE keys are
    /// taken from `uns` when present, else computed.
    pub fn load(path: &Path, cols: &ObsColumns) -> Result<Self> {
        Self::load_with(path, cols, CellStorage::Auto)
    }

    /// [`load`](Self::load) with the cells in memory or on disk as `storage` says.
    pub fn load_with(path: &Path, cols: &ObsColumns, storage: CellStorage) -> Result<Self> {
        let f = H5ad::open(path)?;
        // In memory, X is read and checked first; a cache is built only once obs and var have
        // passed their checks (a wrong column name costs seconds, not a conversion).
        let in_memory = if on_disk(&f, storage)? {
            None
        } else {
            Some(read_checked(&f, path)?)
        };
        let info = f.matrix_info("X")?;
        let (n_obs, n_vars) = (info.n_rows, info.n_cols);
        let labels = column_strings(
            f.column("obs", &cols.perturbation)?,
            path,
            &cols.perturbation,
        )?;
        if labels.len() != n_obs {
            return Err(DataError::at(
                path,
                format!("obs has {} rows but X has {n_obs}", labels.len()),
            ));
        }
        let gene_ids = f.index("var")?;
        let gene_names = if cols.gene_symbol.is_empty() {
            gene_ids.clone()
        } else {
            column_strings(f.column("var", &cols.gene_symbol)?, path, &cols.gene_symbol)?
        };
        if gene_names.len() != n_vars {
            return Err(DataError::at(
                path,
                format!("var has {} genes but X has {n_vars}", gene_names.len()),
            ));
        }
        let symbols = unique_symbols(path, &gene_names)?;
        let cells = CellConditions::read(path, &labels, cols)?;
        check_targets(path, &cells.conditions, &symbols, cols)?;
        let condition_names = condition_names(&f, path, &cells, cols, n_obs)?;
        let control = cells.control;
        let x = match in_memory {
            Some(m) => Cells::Memory(m),
            None => Cells::Disk(DiskCsr::open_or_build(path, &f)?),
        };
        let (de, de_computed) = match read_de_keys(&f)? {
            Some(de) => (de, false),
            None => (
                computed_de_keys(&x, &cells.of_cell, &condition_names, control, &gene_ids),
                true,
            ),
        };
        Ok(Self {
            source: path.to_path_buf(),
            encoding: f.encoding(),
            synthetic: f.uns_string("synthetic"),
            x,
            gene_names,
            gene_ids,
            conditions: cells.conditions,
            condition_names,
            cell_condition: cells.of_cell,
            de,
            de_computed,
        })
    }

    pub fn n_cells(&self) -> usize {
        self.x.n_rows()
    }

    pub fn n_genes(&self) -> usize {
        self.x.n_cols()
    }

    /// Index of `ctrl` in `conditions`.
    pub fn control_index(&self) -> usize {
        self.conditions
            .iter()
            .position(|c| is_control(c))
            .expect("validated at load")
    }

    /// Cells of each condition.
    pub fn cells_by_condition(&self) -> Vec<Vec<u32>> {
        let mut out = vec![Vec::new(); self.conditions.len()];
        for (cell, k) in self.cell_condition.iter().enumerate() {
            out[*k as usize].push(cell as u32);
        }
        out
    }

    /// Gene index by symbol.
    pub fn gene_index(&self) -> HashMap<&str, usize> {
        self.gene_names
            .iter()
            .enumerate()
            .map(|(i, g)| (g.as_str(), i))
            .collect()
    }

    /// Flag positions of a condition's perturbed genes.
    pub fn pert_gene_indices(&self, condition: &str) -> Vec<usize> {
        let idx = self.gene_index();
        condition_genes(condition)
            .iter()
            .filter_map(|g| idx.get(g).copied())
            .collect()
    }

    /// Top-20 DE gene positions of a condition in ascending index order, as GEARS' `de_idx`.
    pub fn de_idx(&self, condition: &str) -> Option<Vec<usize>> {
        let k = self.conditions.iter().position(|c| c == condition)?;
        let ranked = self
            .de
            .rank_genes_groups_cov_all
            .get(&self.condition_names[k])?;
        let top: std::collections::HashSet<&str> =
            ranked.iter().take(20).map(String::as_str).collect();
        Some(
            (0..self.gene_ids.len())
                .filter(|j| top.contains(self.gene_ids[*j].as_str()))
                .collect(),
        )
    }
}

/// Whether the cells go to the cells cache, as `storage` says.
fn on_disk(f: &H5ad, storage: CellStorage) -> Result<bool> {
    Ok(match storage {
        CellStorage::Memory => false,
        CellStorage::Disk => true,
        CellStorage::Auto => in_memory_bytes(f)? > AUTO_MEMORY_LIMIT,
    })
}

/// X read into memory and checked (the cache checks its values as it is built).
fn read_checked(f: &H5ad, path: &Path) -> Result<CsrMatrix> {
    let x = f.read_matrix("X")?;
    if let Some((r, c, v)) = x.first_invalid_value() {
        return Err(DataError::at(
            path,
            format!("X[{r}, {c}] = {v}: expression must be finite and non-negative (log-normalised counts)"),
        ));
    }
    Ok(x)
}

/// Bytes X's CSR arrays would take in memory (a dense X counted as if every value were stored).
fn in_memory_bytes(f: &H5ad) -> Result<u64> {
    let rows = f.matrix_info("X")?.n_rows as u64;
    Ok(f.stored_values("X")? * 8 + (rows + 1) * 8)
}

/// GEARS' DE keys computed from the cells, one pass over the rows.
fn computed_de_keys(
    x: &Cells,
    of_cell: &[u32],
    condition_names: &[String],
    control: usize,
    gene_ids: &[String],
) -> DeKeys {
    let mut sums = GroupSums::new(condition_names.len(), x.n_cols());
    let rows: Vec<usize> = (0..x.n_rows()).collect();
    x.visit_rows(&rows, &mut |r, cols, vals| {
        sums.add_row(of_cell[r] as usize, cols, vals)
    });
    de_keys_from_stats(&sums.finish(), condition_names, control, gene_ids)
}

fn read_de_keys(f: &H5ad) -> Result<Option<DeKeys>> {
    let Some(rank) = f.uns_string_lists("rank_genes_groups_cov_all")? else {
        return Ok(None);
    };
    let ints = |key: &str| -> Result<BTreeMap<String, Vec<usize>>> {
        Ok(f.uns_int_lists(key)?
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().map(|i| i.max(0) as usize).collect()))
            .collect())
    };
    Ok(Some(DeKeys {
        rank_genes_groups_cov_all: rank,
        top_non_dropout_de_20: f
            .uns_string_lists("top_non_dropout_de_20")?
            .unwrap_or_default(),
        top_non_zero_de_20: f
            .uns_string_lists("top_non_zero_de_20")?
            .unwrap_or_default(),
        non_dropout_gene_idx: ints("non_dropout_gene_idx")?,
        non_zeros_gene_idx: ints("non_zeros_gene_idx")?,
    }))
}

/// Symbol → var row; a symbol twice is refused (perturbation flags need unique symbols).
fn unique_symbols<'a>(path: &Path, gene_names: &'a [String]) -> Result<HashMap<&'a str, usize>> {
    let mut seen = HashMap::new();
    for (i, g) in gene_names.iter().enumerate() {
        if let Some(j) = seen.insert(g.as_str(), i) {
            return Err(DataError::at(
                path,
                format!("gene symbol '{g}' appears twice in var (rows {j} and {i}); perturbation flags need unique symbols — deduplicate var first"),
            ));
        }
    }
    Ok(seen)
}

/// The conditions in first-appearance order (GEARS spelling), each cell's condition, the first
/// cell of each, and which condition is the control.
struct CellConditions {
    conditions: Vec<String>,
    of_cell: Vec<u32>,
    first_row: Vec<usize>,
    control: usize,
}

impl CellConditions {
    fn read(path: &Path, labels: &[String], cols: &ObsColumns) -> Result<Self> {
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut conditions = Vec::new();
        let mut of_cell = Vec::with_capacity(labels.len());
        let mut first_row = Vec::new();
        for (row, label) in labels.iter().enumerate() {
            let cond = gears_condition(label, &cols.control_label)
                .map_err(|e| DataError::at(path, format!("obs row {row}: {e}")))?;
            let k = *index.entry(cond.clone()).or_insert_with(|| {
                conditions.push(cond);
                first_row.push(row);
                (conditions.len() - 1) as u32
            });
            of_cell.push(k);
        }
        let control = conditions.iter().position(|c| is_control(c)).ok_or_else(|| {
            DataError::at(
                path,
                format!(
                    "no control cells: no obs.{} value equals '{}'; set the control label to the value your control cells carry",
                    cols.perturbation, cols.control_label
                ),
            )
        })?;
        Ok(CellConditions {
            conditions,
            of_cell,
            first_row,
            control,
        })
    }
}

/// Every perturbed gene must be a gene of the dataset (GEARS flags it by position).
fn check_targets(
    path: &Path,
    conditions: &[String],
    symbols: &HashMap<&str, usize>,
    cols: &ObsColumns,
) -> Result<()> {
    for c in conditions {
        for g in condition_genes(c) {
            if !symbols.contains_key(g) {
                return Err(DataError::at(
                    path,
                    format!("condition '{c}' perturbs '{g}', which is not among the {} genes in var.{}; GEARS needs every target in the gene list (add it, or drop those cells)", symbols.len(), if cols.gene_symbol.is_empty() { "index" } else { &cols.gene_symbol }),
                ));
            }
        }
    }
    Ok(())
}

/// Each condition's `condition_name`: read from obs when the file has it, else GEARS' formula
/// (`{cell_type}_{condition}_{dose}`).
fn condition_names(
    f: &H5ad,
    path: &Path,
    cells: &CellConditions,
    cols: &ObsColumns,
    n_obs: usize,
) -> Result<Vec<String>> {
    Ok(match f.column("obs", "condition_name") {
        Ok(col) if cols.perturbation == "condition" => {
            let names = column_strings(col, path, "condition_name")?;
            let mut out = vec![String::new(); cells.conditions.len()];
            for (k, row) in cells.first_row.iter().enumerate() {
                out[k] = names[*row].clone();
            }
            out
        }
        _ => {
            let cell_type = match f.column("obs", &cols.cell_type) {
                Ok(col) => column_strings(col, path, &cols.cell_type)?,
                Err(_) => vec!["cell_type".to_string(); n_obs],
            };
            cells
                .conditions
                .iter()
                .zip(&cells.first_row)
                .map(|(c, row)| {
                    let dose = if is_control(c) { "1" } else { "1+1" };
                    format!("{}_{c}_{dose}", cell_type[*row])
                })
                .collect()
        }
    })
}
