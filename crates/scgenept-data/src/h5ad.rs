//! Reading `.h5ad` (AnnData on HDF5) with `hdf5-pure`: no libhdf5, so the same binary runs on a GPU
//! box without it. Three on-disk encodings meet here:
//! - anndata 0.7: dataframes as groups, categoricals as integer codes whose categories live in
//!   `<df>/__categories/<column>` (tied by an object-reference attribute);
//! - anndata ≥0.8: `encoding-type` attributes, categoricals as `{codes, categories}` groups;
//! - anndata ≥0.11: nullable columns as `{values, mask}` groups (`nullable-integer`,
//!   `nullable-boolean`, `nullable-string-array`).
//!
//! X may be CSR, CSC (converted) or dense (`array`). Files are read lazily (`open_streaming`):
//! only the arrays asked for are loaded, so memory tracks the CSR, not the file.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use hdf5_pure::{AttrValue, File};

use crate::csr::CsrMatrix;
use crate::error::{DataError, Result};

/// An open h5ad file.
pub struct H5ad {
    file: File,
    path: PathBuf,
}

/// One `obs`/`var` column as read.
#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    Strings(Vec<String>),
    /// Numbers (ints, floats, booleans as 0/1); `None` for masked (NA) entries.
    Numbers(Vec<Option<f64>>),
    /// Strings with NA entries (`nullable-string-array`).
    NullableStrings(Vec<Option<String>>),
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::Strings(v) => v.len(),
            Column::Numbers(v) => v.len(),
            Column::NullableStrings(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn attr_str(attrs: &HashMap<String, AttrValue>, key: &str) -> Option<String> {
    attrs.get(key).and_then(|a| a.as_str()).map(str::to_string)
}

/// How a matrix is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatrixLayout {
    Dense,
    Csr,
    Csc,
}

/// A matrix's layout and shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatrixInfo {
    pub layout: MatrixLayout,
    pub n_rows: usize,
    pub n_cols: usize,
}

impl H5ad {
    /// Opens a file, checking the HDF5 signature first so a wrong file gets a useful message.
    pub fn open(path: &Path) -> Result<Self> {
        if path.is_dir() {
            return Err(DataError::at(
                path,
                "is a directory; give the .h5ad file inside it (GEARS keeps perturb_processed.h5ad in the dataset's folder)",
            ));
        }
        let mut head = [0u8; 8];
        {
            use std::io::Read;
            let mut f = std::fs::File::open(path)
                .map_err(|e| DataError::at(path, format!("cannot open ({e}); check the path")))?;
            let n = f.read(&mut head).unwrap_or(0);
            if n < 8 || &head != b"\x89HDF\r\n\x1a\n" {
                return Err(DataError::at(
                    path,
                    "not an HDF5/h5ad file (bad signature); expected an AnnData .h5ad such as GEARS' perturb_processed.h5ad",
                ));
            }
        }
        let file = File::open_streaming(path).map_err(|e| {
            DataError::at(
                path,
                format!("unreadable HDF5 ({e}); the file may be truncated — download it again"),
            )
        })?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn err(&self, what: impl std::fmt::Display) -> DataError {
        DataError::at(&self.path, what.to_string())
    }

    pub(crate) fn h5<T>(
        &self,
        key: &str,
        r: std::result::Result<T, hdf5_pure::Error>,
    ) -> Result<T> {
        r.map_err(|e| self.err(format!("{key}: {e}")))
    }

    pub(crate) fn attrs(&self, key: &str) -> Result<HashMap<String, AttrValue>> {
        if let Ok(g) = self.file.group(key) {
            return self.h5(key, g.attrs());
        }
        let ds = self.h5(key, self.file.dataset(key))?;
        self.h5(key, ds.attrs())
    }

    /// Whether `key` is a group (a sparse matrix is one; a dense matrix is a dataset).
    pub fn is_group(&self, key: &str) -> bool {
        self.file.group(key).is_ok()
    }

    pub(crate) fn exists(&self, key: &str) -> bool {
        self.is_group(key) || self.file.dataset(key).is_ok()
    }

    /// A human name for the file's encoding.
    pub fn encoding(&self) -> String {
        let root = self.file.root().attrs().unwrap_or_default();
        let obs = self.attrs("obs").unwrap_or_default();
        match (
            attr_str(&root, "encoding-type"),
            attr_str(&obs, "encoding-version"),
        ) {
            (Some(_), Some(v)) => format!("anndata ≥0.8 (dataframe encoding {v})"),
            (None, Some(v)) => format!("anndata 0.7 (dataframe encoding {v}, __categories)"),
            _ => "unknown (no encoding attributes)".into(),
        }
    }

    /// Opens a numeric dataset, refusing one whose declared size an uncompressed file this small
    /// cannot hold (a damaged header would otherwise ask for petabytes).
    pub(crate) fn numeric(&self, key: &str) -> Result<hdf5_pure::Dataset> {
        let ds = self.h5(key, self.file.dataset(key))?;
        let n: u64 = self
            .h5(key, ds.shape())?
            .iter()
            .try_fold(1u64, |a, d| a.checked_mul(*d))
            .unwrap_or(u64::MAX);
        let bytes = n.saturating_mul(self.h5(key, ds.element_size())?);
        if !ds.is_chunked() && bytes > self.file.file_size() {
            return Err(self.err(format!(
                "{key} declares {bytes} bytes but the file has {}; it is truncated or damaged — download it again",
                self.file.file_size()
            )));
        }
        Ok(ds)
    }

    fn read_f32(&self, key: &str) -> Result<Vec<f32>> {
        let ds = self.numeric(key)?;
        self.h5(key, ds.read::<f32>())
    }

    fn read_u32(&self, key: &str) -> Result<Vec<u32>> {
        let ds = self.numeric(key)?;
        self.h5(key, ds.read::<u32>())
    }

    fn read_u64(&self, key: &str) -> Result<Vec<u64>> {
        let ds = self.numeric(key)?;
        self.h5(key, ds.read::<u64>())
    }

    fn read_i64(&self, key: &str) -> Result<Vec<i64>> {
        let ds = self.numeric(key)?;
        self.h5(key, ds.read::<i64>())
    }

    fn read_strings(&self, key: &str) -> Result<Vec<String>> {
        let ds = self.h5(key, self.file.dataset(key))?;
        self.h5(key, ds.read_string())
    }

    pub(crate) fn shape(&self, key: &str) -> Result<Vec<u64>> {
        let ds = self.h5(key, self.file.dataset(key))?;
        self.h5(key, ds.shape())
    }

    /// The layout and shape of `key`, without reading its values.
    pub fn matrix_info(&self, key: &str) -> Result<MatrixInfo> {
        if !self.exists(key) {
            return Err(self.err(format!("has no '{key}' matrix")));
        }
        if !self.is_group(key) {
            let shape = self.shape(key)?;
            let [r, c] = shape[..] else {
                return Err(self.err(format!("{key} is not 2-dimensional (shape {shape:?})")));
            };
            return Ok(MatrixInfo {
                layout: MatrixLayout::Dense,
                n_rows: r as usize,
                n_cols: c as usize,
            });
        }
        let attrs = self.attrs(key)?;
        let format = attr_str(&attrs, "encoding-type")
            .or_else(|| attr_str(&attrs, "h5sparse_format").map(|f| format!("{f}_matrix")))
            .ok_or_else(|| self.err(format!("{key} is a group without a sparse encoding")))?;
        let shape = attrs
            .get("shape")
            .or_else(|| attrs.get("h5sparse_shape"))
            .and_then(|a| a.to_u64s())
            .filter(|s| s.len() == 2)
            .ok_or_else(|| self.err(format!("{key} has no 2-d shape attribute")))?;
        let layout = match format.as_str() {
            "csr_matrix" => MatrixLayout::Csr,
            "csc_matrix" => MatrixLayout::Csc,
            other => {
                return Err(self.err(format!(
                    "{key} has encoding '{other}'; expected csr_matrix, csc_matrix or a dense array"
                )))
            }
        };
        Ok(MatrixInfo {
            layout,
            n_rows: shape[0] as usize,
            n_cols: shape[1] as usize,
        })
    }

    /// Reads a matrix (`X` or `layers/<name>`) as CSR, whatever its storage.
    pub fn read_matrix(&self, key: &str) -> Result<CsrMatrix> {
        let info = self.matrix_info(key)?;
        let (r, c) = (info.n_rows, info.n_cols);
        if info.layout == MatrixLayout::Dense {
            let values = self.read_f32(key)?;
            return Ok(CsrMatrix::from_dense(r, c, &values));
        }
        let indptr = self.read_u64(&format!("{key}/indptr"))?;
        let indices = self.read_u32(&format!("{key}/indices"))?;
        let data = self.read_f32(&format!("{key}/data"))?;
        let m = match info.layout {
            MatrixLayout::Csc => CsrMatrix::from_csc(r, c, &indptr, &indices, &data),
            _ => CsrMatrix::new(r, c, indptr, indices, data),
        };
        m.map_err(|e| self.err(format!("{key}: {e}")))
    }

    /// The dataframe index (`obs_names` / `var_names`).
    pub fn index(&self, df: &str) -> Result<Vec<String>> {
        let attrs = self.attrs(df)?;
        let name = attr_str(&attrs, "_index").unwrap_or_else(|| "_index".into());
        self.read_strings(&format!("{df}/{name}"))
    }

    /// Column names of a dataframe (`column-order`, else every member but the index).
    pub fn columns(&self, df: &str) -> Result<Vec<String>> {
        let attrs = self.attrs(df)?;
        if let Some(order) = attrs.get("column-order").and_then(|a| a.as_strings()) {
            return Ok(order.to_vec());
        }
        let index = attr_str(&attrs, "_index").unwrap_or_else(|| "_index".into());
        let g = self.h5(df, self.file.group(df))?;
        let mut names = self.h5(df, g.datasets())?;
        names.extend(self.h5(df, g.groups())?);
        names.retain(|n| n != &index && n != "__categories");
        names.sort();
        Ok(names)
    }

    /// One dataframe column, decoded whatever its encoding.
    pub fn column(&self, df: &str, name: &str) -> Result<Column> {
        let key = format!("{df}/{name}");
        if !self.exists(&key) {
            let have = self.columns(df).unwrap_or_default();
            return Err(self.err(format!(
                "{df} has no column '{name}' (columns: {}); name the right one with the column options",
                have.join(", ")
            )));
        }
        let attrs = self.attrs(&key)?;
        let enc = attr_str(&attrs, "encoding-type").unwrap_or_default();
        match enc.as_str() {
            "categorical" => {
                let cats = self.read_strings(&format!("{key}/categories"))?;
                let codes = self.read_i64(&format!("{key}/codes"))?;
                self.decode_categorical(&key, &codes, &cats)
            }
            "nullable-integer" | "nullable-boolean" | "nullable-string-array" => {
                let mask_ds = self.h5(&key, self.file.dataset(&format!("{key}/mask")))?;
                let mask: Vec<u8> = self.h5(&key, mask_ds.read::<u8>())?;
                if enc == "nullable-string-array" {
                    let values = self.read_strings(&format!("{key}/values"))?;
                    Ok(Column::NullableStrings(
                        values
                            .into_iter()
                            .zip(mask)
                            .map(|(v, m)| (m == 0).then_some(v))
                            .collect(),
                    ))
                } else {
                    let ds = self.h5(&key, self.file.dataset(&format!("{key}/values")))?;
                    let values: Vec<f64> = self.h5(&key, ds.read::<f64>())?;
                    Ok(Column::Numbers(
                        values
                            .into_iter()
                            .zip(mask)
                            .map(|(v, m)| (m == 0).then_some(v))
                            .collect(),
                    ))
                }
            }
            _ if self.is_group(&key) => Err(self.err(format!(
                "{key} has encoding '{enc}', which scgenept cannot read as a column"
            ))),
            _ => {
                let legacy_cats = format!("{df}/__categories/{name}");
                if attrs.contains_key("categories") || self.exists(&legacy_cats) {
                    let cats = self.read_strings(&legacy_cats)?;
                    let codes = self.read_i64(&key)?;
                    return self.decode_categorical(&key, &codes, &cats);
                }
                let ds = self.h5(&key, self.file.dataset(&key))?;
                let dtype = self.h5(&key, ds.dtype())?;
                match dtype {
                    hdf5_pure::DType::String | hdf5_pure::DType::VariableLengthString => {
                        Ok(Column::Strings(self.read_strings(&key)?))
                    }
                    _ => {
                        let v: Vec<f64> = self.h5(&key, ds.read::<f64>())?;
                        Ok(Column::Numbers(v.into_iter().map(Some).collect()))
                    }
                }
            }
        }
    }

    /// The categories of a categorical column, in their stored order (pandas groups by this
    /// order); `None` for a column of any other kind.
    pub fn categories(&self, df: &str, name: &str) -> Result<Option<Vec<String>>> {
        let key = format!("{df}/{name}");
        let attrs = self.attrs(&key)?;
        if attr_str(&attrs, "encoding-type").as_deref() == Some("categorical") {
            return self.read_strings(&format!("{key}/categories")).map(Some);
        }
        let legacy = format!("{df}/__categories/{name}");
        match !self.is_group(&key) && (attrs.contains_key("categories") || self.exists(&legacy)) {
            true => self.read_strings(&legacy).map(Some),
            false => Ok(None),
        }
    }

    fn decode_categorical(&self, key: &str, codes: &[i64], cats: &[String]) -> Result<Column> {
        let mut out = Vec::with_capacity(codes.len());
        let mut any_na = false;
        for &c in codes {
            if c < 0 {
                any_na = true;
                out.push(None);
            } else {
                let s = cats.get(c as usize).ok_or_else(|| {
                    self.err(format!(
                        "{key}: category code {c} out of range ({} categories)",
                        cats.len()
                    ))
                })?;
                out.push(Some(s.clone()));
            }
        }
        Ok(if any_na {
            Column::NullableStrings(out)
        } else {
            Column::Strings(out.into_iter().map(|s| s.expect("no NA")).collect())
        })
    }

    /// `uns/<key>` as a dict of arrays of strings (e.g. `rank_genes_groups_cov_all`), or `None`
    /// when absent.
    pub fn uns_string_lists(&self, key: &str) -> Result<Option<BTreeMap<String, Vec<String>>>> {
        let group = format!("uns/{key}");
        let Ok(g) = self.file.group(&group) else {
            return Ok(None);
        };
        let mut out = BTreeMap::new();
        for name in self.h5(&group, g.datasets())? {
            out.insert(name.clone(), self.read_strings(&format!("{group}/{name}"))?);
        }
        Ok(Some(out))
    }

    /// `uns/<key>` as a dict of integer arrays (e.g. `non_dropout_gene_idx`), or `None`.
    pub fn uns_int_lists(&self, key: &str) -> Result<Option<BTreeMap<String, Vec<i64>>>> {
        let group = format!("uns/{key}");
        let Ok(g) = self.file.group(&group) else {
            return Ok(None);
        };
        let mut out = BTreeMap::new();
        for name in self.h5(&group, g.datasets())? {
            out.insert(name.clone(), self.read_i64(&format!("{group}/{name}"))?);
        }
        Ok(Some(out))
    }

    /// A scalar string in `uns` (e.g. the synthetic-data marker), if present.
    pub fn uns_string(&self, key: &str) -> Option<String> {
        let ds = self.file.dataset(&format!("uns/{key}")).ok()?;
        ds.read_string().ok()?.into_iter().next()
    }
}

/// Strings of a column that must have no NA entries.
pub fn column_strings(col: Column, file: &Path, what: &str) -> Result<Vec<String>> {
    match col {
        Column::Strings(v) => Ok(v),
        Column::NullableStrings(v) => v
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                s.ok_or_else(|| DataError::at(file, format!("{what} is missing (NA) at row {i}")))
            })
            .collect(),
        Column::Numbers(v) => Ok(v
            .into_iter()
            .map(|x| x.map(|x| x.to_string()).unwrap_or_default())
            .collect()),
    }
}
