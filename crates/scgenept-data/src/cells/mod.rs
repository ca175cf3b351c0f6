//! A dataset's expression matrix, held in memory or read from disk a row at a time.
//!
//! [`Cells::Memory`] is the whole CSR matrix; [`Cells::Disk`] is a converted copy next to the
//! h5ad (`disk.rs`), built once and read by positioned reads, so host memory does not grow with
//! the number of cells (`docs/data.md`, "Streaming cells from disk"). Every reader of expression
//! goes through the methods here and sees the same values either way.

pub mod disk;

use std::str::FromStr;
use std::sync::Arc;

use crate::csr::CsrMatrix;
pub use disk::DiskCsr;

/// Where a dataset's cells live once loaded (`data.cells` in a config).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStorage {
    /// In memory when the CSR matrix takes at most [`AUTO_MEMORY_LIMIT`] bytes, else on disk.
    #[default]
    Auto,
    Memory,
    Disk,
}

/// The in-memory size (bytes of the CSR arrays) above which [`CellStorage::Auto`] streams: 1 GiB,
/// which keeps Norman (~0.3 GiB) in memory and a Replogle K562-size file on disk.
pub const AUTO_MEMORY_LIMIT: u64 = 1 << 30;

impl CellStorage {
    pub const NAMES: &'static str = "auto, memory, disk";
}

impl FromStr for CellStorage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "memory" => Ok(Self::Memory),
            "disk" => Ok(Self::Disk),
            _ => Err(format!(
                "unknown cell storage '{s}'; choose one of {}",
                Self::NAMES
            )),
        }
    }
}

/// What [`RowSource::visit_rows`] calls for each row: `(row, columns, values)`.
pub type RowVisitor<'a> = &'a mut dyn FnMut(usize, &[u32], &[f32]);

/// Anything whose rows can be visited as (columns, values): an in-memory CSR or [`Cells`].
pub trait RowSource: Sync {
    fn n_rows(&self) -> usize;
    fn n_cols(&self) -> usize;
    /// Calls `f(row, columns, values)` for each of `rows`, in that order.
    fn visit_rows(&self, rows: &[usize], f: RowVisitor<'_>);
}

impl RowSource for CsrMatrix {
    fn n_rows(&self) -> usize {
        self.n_rows
    }
    fn n_cols(&self) -> usize {
        self.n_cols
    }
    fn visit_rows(&self, rows: &[usize], f: RowVisitor<'_>) {
        for &r in rows {
            let (c, v) = self.row(r);
            f(r, c, v);
        }
    }
}

/// The expression matrix, cells × genes.
#[derive(Debug)]
pub enum Cells {
    Memory(CsrMatrix),
    Disk(DiskCsr),
    /// Some columns of cells on disk, renumbered: a streamed dataset aligned to another's genes
    /// ([`Cells::select_columns`]).
    Columns(ColumnView),
}

/// The columns of a [`DiskCsr`] that a [`Cells::Columns`] keeps, and their new numbers.
#[derive(Debug)]
pub struct ColumnView {
    inner: DiskCsr,
    /// Old column → new column, `u32::MAX` where dropped.
    new_col: Arc<Vec<u32>>,
    n_cols: usize,
}

impl Clone for Cells {
    fn clone(&self) -> Self {
        match self {
            Self::Memory(m) => Self::Memory(m.clone()),
            Self::Disk(d) => Self::Disk(d.reopen()),
            Self::Columns(v) => Self::Columns(ColumnView {
                inner: v.inner.reopen(),
                new_col: v.new_col.clone(),
                n_cols: v.n_cols,
            }),
        }
    }
}

/// The kept entries of one row, renumbered and in column order.
fn remap_row(new_col: &[u32], cols: &[u32], vals: &[f32], kept: &mut Vec<(u32, f32)>) {
    kept.clear();
    kept.extend(cols.iter().zip(vals).filter_map(|(j, x)| {
        let n = new_col[*j as usize];
        (n != u32::MAX).then_some((n, *x))
    }));
    kept.sort_unstable_by_key(|(j, _)| *j);
}

impl ColumnView {
    fn visit_rows(&self, rows: &[usize], f: RowVisitor<'_>) {
        let mut kept = Vec::new();
        let (mut cols, mut vals) = (Vec::new(), Vec::new());
        self.inner.visit_rows(rows, &mut |r, c, v| {
            remap_row(&self.new_col, c, v, &mut kept);
            cols.clear();
            vals.clear();
            cols.extend(kept.iter().map(|(j, _)| *j));
            vals.extend(kept.iter().map(|(_, x)| *x));
            f(r, &cols, &vals)
        });
    }
}

impl Cells {
    /// Stored values (of the whole matrix on disk, for a column view).
    pub fn nnz(&self) -> usize {
        match self {
            Self::Memory(m) => m.nnz(),
            Self::Disk(d) => d.nnz(),
            Self::Columns(v) => v.inner.nnz(),
        }
    }

    /// Host memory the matrix holds (on disk: its row offsets only).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Self::Memory(m) => m.heap_bytes(),
            Self::Disk(d) => d.heap_bytes(),
            Self::Columns(v) => v.inner.heap_bytes() + v.new_col.len() * 4,
        }
    }

    /// The in-memory matrix, when the cells are in memory.
    pub fn in_memory(&self) -> Option<&CsrMatrix> {
        match self {
            Self::Memory(m) => Some(m),
            Self::Disk(_) | Self::Columns(_) => None,
        }
    }

    /// Whether the first stored values look like raw counts ([`CsrMatrix::looks_like_counts`]).
    pub fn looks_like_counts(&self) -> Option<f32> {
        match self {
            Self::Memory(m) => m.looks_like_counts(),
            Self::Disk(d) => d.looks_like_counts(),
            Self::Columns(v) => v.inner.looks_like_counts(),
        }
    }

    /// The columns `keep`, in that order, numbered 0.. (in memory a new matrix; on disk a view).
    pub fn select_columns(&self, keep: &[usize]) -> Cells {
        let mut new_col = vec![u32::MAX; self.n_cols()];
        for (n, j) in keep.iter().enumerate() {
            new_col[*j] = n as u32;
        }
        let new_col = Arc::new(new_col);
        let inner = match self {
            Self::Memory(m) => {
                let mut out = CsrMatrix::with_cols(keep.len());
                let mut kept = Vec::new();
                for r in 0..m.n_rows {
                    let (c, v) = m.row(r);
                    remap_row(&new_col, c, v, &mut kept);
                    let (cols, vals): (Vec<u32>, Vec<f32>) = kept.iter().copied().unzip();
                    out.push_sparse_row(&cols, &vals);
                }
                return Cells::Memory(out);
            }
            Self::Disk(d) => d.reopen(),
            Self::Columns(v) => {
                // A view of a view: compose the maps onto the file's columns.
                let composed: Vec<u32> = v
                    .new_col
                    .iter()
                    .map(|n| {
                        if *n == u32::MAX {
                            u32::MAX
                        } else {
                            new_col[*n as usize]
                        }
                    })
                    .collect();
                return Cells::Columns(ColumnView {
                    inner: v.inner.reopen(),
                    new_col: Arc::new(composed),
                    n_cols: keep.len(),
                });
            }
        };
        Cells::Columns(ColumnView {
            inner,
            new_col,
            n_cols: keep.len(),
        })
    }

    /// Writes row `r` densely into `out` (length `n_cols`).
    pub fn row_into(&self, r: usize, out: &mut [f32]) {
        out.fill(0.0);
        self.visit_rows(&[r], &mut |_, cols, vals| {
            for (j, v) in cols.iter().zip(vals) {
                out[*j as usize] = *v;
            }
        });
    }

    /// Row `r` at the given columns, in that order.
    pub fn gather_row(&self, r: usize, dense_scratch: &mut [f32], cols: &[usize], out: &mut [f32]) {
        self.row_into(r, dense_scratch);
        for (o, c) in out.iter_mut().zip(cols) {
            *o = dense_scratch[*c];
        }
    }

    /// The rows `rows`, in that order, as an in-memory matrix.
    pub fn select_rows(&self, rows: &[usize]) -> CsrMatrix {
        match self {
            Self::Memory(m) => m.select_rows(rows),
            Self::Disk(_) | Self::Columns(_) => {
                let mut out = CsrMatrix::with_cols(self.n_cols());
                self.visit_rows(rows, &mut |_, cols, vals| out.push_sparse_row(cols, vals));
                out
            }
        }
    }
}

impl RowSource for Cells {
    fn n_rows(&self) -> usize {
        match self {
            Self::Memory(m) => m.n_rows,
            Self::Disk(d) => d.n_rows(),
            Self::Columns(v) => v.inner.n_rows(),
        }
    }
    fn n_cols(&self) -> usize {
        match self {
            Self::Memory(m) => m.n_cols,
            Self::Disk(d) => d.n_cols(),
            Self::Columns(v) => v.n_cols,
        }
    }
    fn visit_rows(&self, rows: &[usize], f: RowVisitor<'_>) {
        match self {
            Self::Memory(m) => m.visit_rows(rows, f),
            Self::Disk(d) => d.visit_rows(rows, f),
            Self::Columns(v) => v.visit_rows(rows, f),
        }
    }
}
