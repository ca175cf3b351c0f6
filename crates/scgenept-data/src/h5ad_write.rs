//! Writing `.h5ad` in the anndata ≥0.8 encoding (what anndata 0.8–0.12 read natively), for the
//! synthetic generator and prediction output. Attributes are variable-length UTF-8 strings as
//! h5py writes them, so anndata's `attrs["encoding-type"] == "..."` checks see `str`.

use std::path::Path;

use hdf5_pure::{AttrValue, FileBuilder, GroupBuilder};

use crate::csr::CsrMatrix;
use crate::error::{DataError, Result};
use crate::files::write_atomic;

/// A dataframe column.
#[derive(Clone, Debug)]
pub enum FrameColumn {
    /// pandas Categorical: stored as sorted categories + integer codes.
    Categorical(Vec<String>),
    Strings(Vec<String>),
    Int(Vec<i64>),
    Float(Vec<f64>),
}

/// `obs` or `var`.
#[derive(Clone, Debug, Default)]
pub struct Frame {
    pub index_name: String,
    pub index: Vec<String>,
    pub columns: Vec<(String, FrameColumn)>,
}

impl Frame {
    /// The `var` frame GEARS files have: index `gene_id`, column `gene_name`.
    pub fn genes(gene_ids: &[String], gene_names: &[String]) -> Self {
        Self {
            index_name: "gene_id".into(),
            index: gene_ids.to_vec(),
            columns: vec![(
                "gene_name".into(),
                FrameColumn::Strings(gene_names.to_vec()),
            )],
        }
    }
}

/// `uns` key naming what kind of scgenept output a file is (`predicted means`, `predicted
/// cells`): `data inspect` describes such a file instead of validating it as a dataset.
pub const OUTPUT_KIND_KEY: &str = "scgenept_output";

/// The `uns` entry marking an output file of kind `kind`.
pub fn output_kind(kind: &str) -> (String, UnsValue) {
    (
        OUTPUT_KIND_KEY.to_string(),
        UnsValue::Strings(vec![kind.to_string()]),
    )
}

/// An entry of `uns`.
#[derive(Clone, Debug)]
pub enum UnsValue {
    Strings(Vec<String>),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Dict(Vec<(String, UnsValue)>),
}

fn s(v: &str) -> AttrValue {
    AttrValue::String(v.to_string())
}

fn enc(g: &mut GroupBuilder, kind: &str, version: &str) {
    g.set_attr("encoding-type", s(kind));
    g.set_attr("encoding-version", s(version));
}

/// String arrays are written fixed-width (NUL-padded UTF-8): h5py and anndata read them as
/// `str`, and they avoid one global heap per dataset, which made small files ten times larger.
fn strings_ds(g: &mut GroupBuilder, name: &str, values: &[String]) {
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    let ds = g.create_dataset(name);
    if values.is_empty() || ds.with_strings(&refs).is_err() {
        // Empty arrays (no width to derive) or NUL inside a value: variable-length instead.
        ds.with_vlen_strings(&refs);
    }
    ds.set_attr("encoding-type", s("string-array"))
        .set_attr("encoding-version", s("0.2.0"));
}

fn array_attrs(ds: &mut hdf5_pure::DatasetBuilder) {
    ds.set_attr("encoding-type", s("array"))
        .set_attr("encoding-version", s("0.2.0"));
}

fn fill_sparse(g: &mut GroupBuilder, m: &CsrMatrix) {
    enc(g, "csr_matrix", "0.1.0");
    g.set_attr(
        "shape",
        AttrValue::I64Array(vec![m.n_rows as i64, m.n_cols as i64]),
    );
    g.create_dataset("data").with_f32_data(&m.data);
    // scipy wants indices and indptr of one dtype: int32 unless nnz needs more (as anndata).
    if m.nnz() < i32::MAX as usize {
        let idx: Vec<i32> = m.indices.iter().map(|i| *i as i32).collect();
        let ptr: Vec<i32> = m.indptr.iter().map(|p| *p as i32).collect();
        g.create_dataset("indices").with_i32_data(&idx);
        g.create_dataset("indptr").with_i32_data(&ptr);
    } else {
        let idx: Vec<i64> = m.indices.iter().map(|i| *i as i64).collect();
        let ptr: Vec<i64> = m.indptr.iter().map(|p| *p as i64).collect();
        g.create_dataset("indices").with_i64_data(&idx);
        g.create_dataset("indptr").with_i64_data(&ptr);
    }
}

fn fill_frame(g: &mut GroupBuilder, f: &Frame) {
    enc(g, "dataframe", "0.2.0");
    g.set_attr("_index", s(&f.index_name));
    let order: Vec<String> = f.columns.iter().map(|(n, _)| n.clone()).collect();
    g.set_attr("column-order", AttrValue::VarLenStringArray(order));
    strings_ds(g, &f.index_name, &f.index);
    for (col, values) in &f.columns {
        match values {
            FrameColumn::Categorical(v) => {
                let mut cats: Vec<String> = v.clone();
                cats.sort();
                cats.dedup();
                let code = |x: &String| cats.binary_search(x).expect("own category") as i64;
                let mut c = g.create_group(col);
                enc(&mut c, "categorical", "0.2.0");
                c.set_attr("ordered", AttrValue::U8(0));
                strings_ds(&mut c, "categories", &cats);
                let ds = c.create_dataset("codes");
                if cats.len() <= i8::MAX as usize {
                    ds.with_i8_data(&v.iter().map(|x| code(x) as i8).collect::<Vec<_>>());
                } else if cats.len() <= i16::MAX as usize {
                    ds.with_i16_data(&v.iter().map(|x| code(x) as i16).collect::<Vec<_>>());
                } else {
                    ds.with_i32_data(&v.iter().map(|x| code(x) as i32).collect::<Vec<_>>());
                }
                array_attrs(ds);
                g.add_group(c.finish());
            }
            FrameColumn::Strings(v) => strings_ds(g, col, v),
            FrameColumn::Int(v) => array_attrs(g.create_dataset(col).with_i64_data(v)),
            FrameColumn::Float(v) => array_attrs(g.create_dataset(col).with_f64_data(v)),
        }
    }
}

fn fill_uns(g: &mut GroupBuilder, items: &[(String, UnsValue)]) {
    enc(g, "dict", "0.1.0");
    for (k, v) in items {
        match v {
            UnsValue::Strings(x) => strings_ds(g, k, x),
            UnsValue::Ints(x) => array_attrs(g.create_dataset(k).with_i64_data(x)),
            UnsValue::Floats(x) => array_attrs(g.create_dataset(k).with_f64_data(x)),
            UnsValue::Dict(d) => {
                let mut c = g.create_group(k);
                fill_uns(&mut c, d);
                g.add_group(c.finish());
            }
        }
    }
}

/// Everything an h5ad holds that we write.
pub struct AnnData<'a> {
    pub x: &'a CsrMatrix,
    pub layers: Vec<(&'a str, &'a CsrMatrix)>,
    pub obs: Frame,
    pub var: Frame,
    pub uns: Vec<(String, UnsValue)>,
}

impl AnnData<'_> {
    /// Serialises and writes atomically (nothing is left at `path` on failure).
    pub fn write(&self, path: &Path) -> Result<()> {
        let (n, g) = (self.x.n_rows, self.x.n_cols);
        if self.obs.index.len() != n || self.var.index.len() != g {
            return Err(DataError::at(
                path,
                format!(
                    "internal: obs/var sizes {}×{} do not match X {n}×{g}",
                    self.obs.index.len(),
                    self.var.index.len()
                ),
            ));
        }
        let mut fb = FileBuilder::new();
        fb.set_attr("encoding-type", s("anndata"));
        fb.set_attr("encoding-version", s("0.1.0"));
        let mut x = fb.create_group("X");
        fill_sparse(&mut x, self.x);
        fb.add_group(x.finish());
        let mut layers = fb.create_group("layers");
        enc(&mut layers, "dict", "0.1.0");
        for (name, m) in &self.layers {
            let mut l = layers.create_group(name);
            fill_sparse(&mut l, m);
            layers.add_group(l.finish());
        }
        fb.add_group(layers.finish());
        for (name, frame) in [("obs", &self.obs), ("var", &self.var)] {
            let mut g = fb.create_group(name);
            fill_frame(&mut g, frame);
            fb.add_group(g.finish());
        }
        let mut uns = fb.create_group("uns");
        fill_uns(&mut uns, &self.uns);
        fb.add_group(uns.finish());
        for name in ["obsm", "obsp", "varm", "varp"] {
            let mut g = fb.create_group(name);
            enc(&mut g, "dict", "0.1.0");
            fb.add_group(g.finish());
        }
        let bytes = fb
            .finish()
            .map_err(|e| DataError::at(path, format!("cannot encode HDF5: {e}")))?;
        write_atomic(path, &bytes).map_err(|e| DataError::at(path, e.to_string()))
    }
}
