//! The cells cache: an h5ad's `X` converted once into flat little-endian arrays in a folder next
//! to it (`<file>.scgenept-cells/`: `indptr.u64`, `indices.u32`, `data.f32`, and `meta.json`
//! written last), then read row by row with positioned reads. Nothing is mapped into the
//! process, so its resident memory stays the row offsets (8 bytes a cell) whatever the file's
//! size; the operating system's page cache keeps hot rows fast.
//!
//! Freshness: `meta.json` records the source's size and modification time and the arrays'
//! shapes; a cache that disagrees with the source, or whose arrays have the wrong lengths, is
//! rebuilt. The build streams `X` in row blocks (`h5ad_rows.rs`), checks every value as the
//! in-memory load does, and is atomic: an interrupted build leaves no cache.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::RowVisitor;
use crate::error::{DataError, Result};
use crate::h5ad::H5ad;

/// The words of the panic a failed read of an open cache raises (a failing disk, a cache
/// truncated under a running process): the CLI prints it as the error it is, not as a bug.
pub const READ_FAILED: &str = "reading the cells cache failed";

/// Bumped when the layout changes, so an old cache is rebuilt rather than misread.
const FORMAT: u32 = 1;
/// Rows per block while converting.
const BLOCK_ROWS: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Meta {
    format: u32,
    source_bytes: u64,
    source_mtime_ns: u64,
    n_rows: u64,
    n_cols: u64,
    nnz: u64,
}

/// A CSR matrix read from the cells cache.
#[derive(Debug)]
pub struct DiskCsr {
    dir: PathBuf,
    n_cols: usize,
    indptr: Arc<Vec<u64>>,
    indices: Arc<File>,
    data: Arc<File>,
}

/// Where the cache of `source` lives.
pub fn cache_dir(source: &Path) -> PathBuf {
    let name = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    source.with_file_name(format!("{name}.scgenept-cells"))
}

impl DiskCsr {
    /// Opens the cache of `source` (`file`, already open), building it first when it is absent
    /// or stale. Values are checked during the build as [`crate::PerturbData::load`] checks them.
    pub fn open_or_build(source: &Path, file: &H5ad) -> Result<Self> {
        let dir = cache_dir(source);
        let info = file.matrix_info("X")?;
        let want = source_meta(source, info.n_rows, info.n_cols)?;
        // Runs side by side (a sweep) may find no cache at once and all convert: the first
        // rename wins and the others use its cache, so a fresh cache is looked for again after
        // every attempt.
        for _ in 0..3 {
            if let Some(d) = Self::open_fresh(&dir, &want) {
                return Ok(d);
            }
            tracing::info!(
                "{}: converting X ({} cells × {} genes) to the cells cache {} (once; it is reused while the file is unchanged)",
                source.display(),
                info.n_rows,
                info.n_cols,
                dir.display()
            );
            Self::convert(source, file, &dir, &want)?;
        }
        Err(DataError::at(
            &dir,
            "the cells cache just written cannot be read back; delete the folder and run again",
        ))
    }

    /// Writes the cache at `dir`, replacing a stale one; losing the rename to another process
    /// that wrote a fresh one is not an error.
    fn convert(source: &Path, file: &H5ad, dir: &Path, want: &Meta) -> Result<()> {
        if dir.exists() && Self::open_fresh(dir, want).is_none() {
            match std::fs::remove_dir_all(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(cannot_write(dir, &e))
                }
                _ => {}
            }
        }
        let built =
            crate::files::write_atomic_with(dir, |tmp| build(source, file, tmp, want.clone()));
        match built {
            Err(_) if Self::open_fresh(dir, want).is_some() => Ok(()),
            Err(e) => Err(match e.downcast::<DataError>() {
                Ok(d) => d,
                Err(e) => cannot_write(dir, &e),
            }),
            Ok(()) => Ok(()),
        }
    }

    /// The cache at `dir` when its `meta.json` equals `want` and its arrays have their lengths.
    fn open_fresh(dir: &Path, want: &Meta) -> Option<Self> {
        let meta: Meta =
            serde_json::from_slice(&std::fs::read(dir.join("meta.json")).ok()?).ok()?;
        if meta
            != (Meta {
                nnz: meta.nnz,
                ..want.clone()
            })
        {
            return None;
        }
        let open = |name: &str, bytes: u64| -> Option<File> {
            let f = File::open(dir.join(name)).ok()?;
            (f.metadata().ok()?.len() == bytes).then_some(f)
        };
        let indptr_file = open("indptr.u64", (meta.n_rows + 1) * 8)?;
        let indices = open("indices.u32", meta.nnz * 4)?;
        let data = open("data.f32", meta.nnz * 4)?;
        let mut indptr = vec![0u64; meta.n_rows as usize + 1];
        indptr_file
            .read_exact_at(bytemuck::cast_slice_mut(&mut indptr), 0)
            .ok()?;
        let sane = indptr[0] == 0
            && indptr.last() == Some(&meta.nnz)
            && indptr.windows(2).all(|w| w[0] <= w[1]);
        sane.then(|| Self {
            dir: dir.to_path_buf(),
            n_cols: meta.n_cols as usize,
            indptr: Arc::new(indptr),
            indices: Arc::new(indices),
            data: Arc::new(data),
        })
    }

    /// Another handle on the same cache (shares the open files and offsets).
    pub fn reopen(&self) -> Self {
        Self {
            dir: self.dir.clone(),
            n_cols: self.n_cols,
            indptr: self.indptr.clone(),
            indices: self.indices.clone(),
            data: self.data.clone(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }

    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    pub fn nnz(&self) -> usize {
        *self.indptr.last().expect("indptr has n_rows + 1 entries") as usize
    }

    pub fn heap_bytes(&self) -> usize {
        self.indptr.len() * 8
    }

    /// [`crate::csr::looks_like_counts`] of the first stored values.
    pub fn looks_like_counts(&self) -> Option<f32> {
        let mut head = vec![0f32; self.nnz().min(100_000)];
        self.read_at(&self.data, bytemuck::cast_slice_mut(&mut head), 0);
        crate::csr::looks_like_counts(&head)
    }

    /// Calls `f(row, columns, values)` for each of `rows`, in order.
    pub fn visit_rows(&self, rows: &[usize], f: RowVisitor<'_>) {
        let (mut cols, mut vals) = (Vec::new(), Vec::new());
        for &r in rows {
            let (a, b) = (self.indptr[r], self.indptr[r + 1]);
            let n = (b - a) as usize;
            cols.resize(n, 0u32);
            vals.resize(n, 0f32);
            self.read_at(&self.indices, bytemuck::cast_slice_mut(&mut cols), a * 4);
            self.read_at(&self.data, bytemuck::cast_slice_mut(&mut vals), a * 4);
            f(r, &cols, &vals);
        }
    }

    /// A read the open, size-checked cache cannot fail short of a failing disk; that is reported
    /// with the cache's folder and the fix, not handled.
    fn read_at(&self, file: &File, buf: &mut [u8], offset: u64) {
        if let Err(e) = file.read_exact_at(buf, offset) {
            panic!(
                "{}: {READ_FAILED} ({e}); delete the folder and run again to rebuild it",
                self.dir.display()
            );
        }
    }
}

fn cannot_write(dir: &Path, e: &dyn std::fmt::Display) -> DataError {
    DataError::at(
        dir,
        format!("cannot write the cells cache ({e}); make the folder writable, or load the cells into memory (data.cells = \"memory\")"),
    )
}

/// What a fresh cache of `source` records.
fn source_meta(source: &Path, n_rows: usize, n_cols: usize) -> Result<Meta> {
    let m = std::fs::metadata(source).map_err(|e| DataError::at(source, e.to_string()))?;
    let mtime_ns = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    Ok(Meta {
        format: FORMAT,
        source_bytes: m.len(),
        source_mtime_ns: mtime_ns,
        n_rows: n_rows as u64,
        n_cols: n_cols as u64,
        nnz: 0,
    })
}

/// Converts `X` into the folder `tmp`; `meta.json` (with the counted non-zeros) goes last.
fn build(source: &Path, file: &H5ad, tmp: &Path, mut meta: Meta) -> std::io::Result<()> {
    std::fs::create_dir_all(tmp)?;
    let create = |name: &str| File::create(tmp.join(name)).map(BufWriter::new);
    let (mut indptr, mut indices, mut data) = (
        create("indptr.u64")?,
        create("indices.u32")?,
        create("data.f32")?,
    );
    indptr.write_all(&0u64.to_le_bytes())?;
    let bar = crate::progress::terminal_bar(
        meta.n_rows,
        "cells cache {bar:30} {pos}/{len} cells [{elapsed_precise} < {eta}]",
    );
    let mut nnz = 0u64;
    for block in file
        .row_blocks("X", BLOCK_ROWS)
        .map_err(std::io::Error::other)?
    {
        let (r0, m) = block.map_err(std::io::Error::other)?;
        if let Some((r, c, v)) = m.first_invalid_value() {
            return Err(std::io::Error::other(DataError::at(
                source,
                format!("X[{}, {c}] = {v}: expression must be finite and non-negative (log-normalised counts)", r0 + r),
            )));
        }
        indices.write_all(bytemuck::cast_slice(&m.indices))?;
        data.write_all(bytemuck::cast_slice(&m.data))?;
        for p in &m.indptr[1..] {
            indptr.write_all(&(nnz + p).to_le_bytes())?;
        }
        nnz += m.nnz() as u64;
        bar.inc(m.n_rows as u64);
    }
    bar.finish_and_clear();
    for w in [&mut indptr, &mut indices, &mut data] {
        w.flush()?;
    }
    meta.nnz = nnz;
    std::fs::write(tmp.join("meta.json"), serde_json::to_vec_pretty(&meta)?)
}
