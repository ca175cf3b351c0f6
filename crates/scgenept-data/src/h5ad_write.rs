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

/// `obs`, `var`, `uns` and the empty `obsm`/`obsp`/`varm`/`varp` of a file being built.
fn fill_frames_and_uns(fb: &mut FileBuilder, obs: &Frame, var: &Frame, uns: &[(String, UnsValue)]) {
    for (name, frame) in [("obs", obs), ("var", var)] {
        let mut g = fb.create_group(name);
        fill_frame(&mut g, frame);
        fb.add_group(g.finish());
    }
    let mut u = fb.create_group("uns");
    fill_uns(&mut u, uns);
    fb.add_group(u.finish());
    for name in ["obsm", "obsp", "varm", "varp"] {
        let mut g = fb.create_group(name);
        enc(&mut g, "dict", "0.1.0");
        fb.add_group(g.finish());
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
        fill_frames_and_uns(&mut fb, &self.obs, &self.var, &self.uns);
        let bytes = fb
            .finish()
            .map_err(|e| DataError::at(path, format!("cannot encode HDF5: {e}")))?;
        write_atomic(path, &bytes).map_err(|e| DataError::at(path, e.to_string()))
    }
}

/// A CSR matrix whose values are appended after the file is written ([`SparseAppender`]): its
/// shape and number of stored values, known before any value is.
#[derive(Clone, Copy, Debug)]
pub struct SparseShape {
    pub n_rows: usize,
    pub n_cols: usize,
    pub nnz: u64,
}

impl SparseShape {
    /// int32 offsets and indices unless nnz needs more, as anndata writes them.
    fn wide(&self) -> bool {
        self.nnz >= i32::MAX as u64
    }
}

/// An h5ad written before its matrices' values: `X` and each layer (all of one shape) are empty
/// appendable arrays, filled a block of rows at a time by [`SparseAppender`]; everything else is
/// as [`AnnData`] writes it.
pub struct AnnDataSkeleton<'a> {
    pub shape: SparseShape,
    pub layers: Vec<&'a str>,
    pub obs: Frame,
    pub var: Frame,
    pub uns: Vec<(String, UnsValue)>,
}

impl AnnDataSkeleton<'_> {
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut fb = FileBuilder::new();
        fb.set_attr("encoding-type", s("anndata"));
        fb.set_attr("encoding-version", s("0.1.0"));
        let mut x = fb.create_group("X");
        fill_sparse_empty(&mut x, &self.shape);
        fb.add_group(x.finish());
        let mut layers = fb.create_group("layers");
        enc(&mut layers, "dict", "0.1.0");
        for name in &self.layers {
            let mut l = layers.create_group(name);
            fill_sparse_empty(&mut l, &self.shape);
            layers.add_group(l.finish());
        }
        fb.add_group(layers.finish());
        fill_frames_and_uns(&mut fb, &self.obs, &self.var, &self.uns);
        fb.write(path).map_err(std::io::Error::other)
    }
}

fn fill_sparse_empty(g: &mut GroupBuilder, shape: &SparseShape) {
    use hdf5_pure::MaxExtent::Unlimited;
    enc(g, "csr_matrix", "0.1.0");
    g.set_attr(
        "shape",
        AttrValue::I64Array(vec![shape.n_rows as i64, shape.n_cols as i64]),
    );
    let values = shape.nnz.clamp(1, 1 << 20);
    let offsets = (shape.n_rows as u64 + 1).min(1 << 16);
    g.create_dataset("data")
        .with_f32_data(&[])
        .with_maxshape(&[Unlimited])
        .with_chunks(&[values]);
    for (name, chunk) in [("indices", values), ("indptr", offsets)] {
        let ds = g.create_dataset(name);
        if shape.wide() {
            ds.with_i64_data(&[]);
        } else {
            ds.with_i32_data(&[]);
        }
        ds.with_maxshape(&[Unlimited]).with_chunks(&[chunk]);
    }
}

/// Appends rows to the empty matrices of an [`AnnDataSkeleton`], in bounded memory: each
/// [`append`](Self::append) writes one block of rows of one matrix.
pub struct SparseAppender {
    file: hdf5_pure::File,
    shape: SparseShape,
    /// Per matrix key: stored values and rows written so far.
    written: Vec<(String, u64, usize)>,
}

impl SparseAppender {
    /// Opens the skeleton at `path` for appending to the matrices `keys` (`X`, `layers/counts`).
    pub fn open(path: &Path, shape: SparseShape, keys: &[&str]) -> std::io::Result<Self> {
        use hdf5_pure::{FileAccessProperties, MemoryStrategy, SyncPolicy};
        let access = FileAccessProperties::new()
            .with_memory_strategy(MemoryStrategy::Bounded)
            .with_sync_policy(SyncPolicy::OnClose);
        let file =
            hdf5_pure::File::open_rw_with_options(path, access).map_err(std::io::Error::other)?;
        let me = Self {
            file,
            shape,
            written: keys.iter().map(|k| (k.to_string(), 0, 0)).collect(),
        };
        for k in keys {
            me.offsets(k, &[0])?;
        }
        Ok(me)
    }

    fn offsets(&self, key: &str, v: &[u64]) -> std::io::Result<()> {
        let mut ds = self.ds(key, "indptr")?;
        let r = if self.shape.wide() {
            ds.append(&v.iter().map(|p| *p as i64).collect::<Vec<_>>())
        } else {
            ds.append(&v.iter().map(|p| *p as i32).collect::<Vec<_>>())
        };
        r.map_err(std::io::Error::other)
    }

    fn ds(&self, key: &str, name: &str) -> std::io::Result<hdf5_pure::Dataset> {
        self.file
            .dataset(&format!("{key}/{name}"))
            .map_err(std::io::Error::other)
    }

    /// Appends `block`'s rows to matrix `key`.
    pub fn append(&mut self, key: &str, block: &CsrMatrix) -> std::io::Result<()> {
        let i = (self.written.iter().position(|(k, _, _)| k == key))
            .ok_or_else(|| std::io::Error::other(format!("{key} is not being written")))?;
        let base = self.written[i].1;
        let ds_err = std::io::Error::other;
        self.ds(key, "data")?.append(&block.data).map_err(ds_err)?;
        let mut idx = self.ds(key, "indices")?;
        if self.shape.wide() {
            idx.append(&block.indices.iter().map(|c| *c as i64).collect::<Vec<_>>())
        } else {
            idx.append(&block.indices.iter().map(|c| *c as i32).collect::<Vec<_>>())
        }
        .map_err(ds_err)?;
        let ptr: Vec<u64> = block.indptr[1..].iter().map(|p| base + p).collect();
        self.offsets(key, &ptr)?;
        self.written[i].1 += block.nnz() as u64;
        self.written[i].2 += block.n_rows;
        Ok(())
    }

    /// Checks every matrix got all its rows and values, and closes the file.
    pub fn finish(self) -> std::io::Result<()> {
        for (key, nnz, rows) in &self.written {
            if (*nnz, *rows) != (self.shape.nnz, self.shape.n_rows) {
                return Err(std::io::Error::other(format!(
                    "internal: {key} got {rows} rows and {nnz} values of {} and {}",
                    self.shape.n_rows, self.shape.nnz
                )));
            }
        }
        self.file.close().map_err(std::io::Error::other)
    }
}
