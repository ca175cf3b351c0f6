//! A matrix of an h5ad (`X`, `layers/<name>`) read a block of rows at a time, so memory tracks
//! the block and not the matrix: CSR reads the `data`/`indices` window of the block's rows,
//! dense reads its rows. CSC has no row windows; it is read whole once and handed out in blocks
//! (the one layout that is not bounded, as `docs/data.md` says).

use crate::csr::CsrMatrix;
use crate::error::Result;
use crate::h5ad::{H5ad, MatrixInfo, MatrixLayout};

impl H5ad {
    /// How many values `key` stores (sparse: its non-zeros; dense: rows × columns).
    pub fn stored_values(&self, key: &str) -> Result<u64> {
        let info = self.matrix_info(key)?;
        if info.layout == MatrixLayout::Dense {
            return Ok((info.n_rows * info.n_cols) as u64);
        }
        let data = format!("{key}/data");
        // `numeric` refuses a declared size the file cannot hold (a damaged header).
        let shape = self.h5(&data, self.numeric(&data)?.shape())?;
        Ok(shape.first().copied().unwrap_or(0))
    }

    /// `key`'s rows in blocks of `rows_per_block`, in order, each with its first row.
    pub fn row_blocks(&self, key: &str, rows_per_block: usize) -> Result<RowBlocks<'_>> {
        let info = self.matrix_info(key)?;
        let (indptr, whole) = match info.layout {
            MatrixLayout::Csr => {
                let ds = self.numeric(&format!("{key}/indptr"))?;
                let indptr: Vec<u64> = self.h5(key, ds.read::<u64>())?;
                if indptr.len() != info.n_rows + 1 {
                    return Err(self.err(format!(
                        "{key}/indptr has {} entries for {} rows (expected {})",
                        indptr.len(),
                        info.n_rows,
                        info.n_rows + 1
                    )));
                }
                if indptr.windows(2).any(|w| w[0] > w[1]) {
                    return Err(self.err(format!(
                        "{key}/indptr is not non-decreasing; the file is damaged"
                    )));
                }
                (indptr, None)
            }
            MatrixLayout::Csc => (Vec::new(), Some(self.read_matrix(key)?)),
            MatrixLayout::Dense => (Vec::new(), None),
        };
        Ok(RowBlocks {
            file: self,
            key: key.to_string(),
            info,
            indptr,
            whole,
            next: 0,
            per_block: rows_per_block.max(1),
        })
    }

    fn csr_block(
        &self,
        key: &str,
        info: &MatrixInfo,
        indptr: &[u64],
        r0: usize,
        n: usize,
    ) -> Result<CsrMatrix> {
        let (a, b) = (indptr[r0], indptr[r0 + n]);
        let data_ds = self.numeric(&format!("{key}/data"))?;
        let idx_ds = self.numeric(&format!("{key}/indices"))?;
        let data = self.h5(key, data_ds.read_f32_rows(a, b - a))?;
        let indices = self.h5(key, idx_ds.read_u32_rows(a, b - a))?;
        let local: Vec<u64> = indptr[r0..=r0 + n].iter().map(|p| p - a).collect();
        CsrMatrix::new(n, info.n_cols, local, indices, data)
            .map_err(|e| self.err(format!("{key}, rows {r0}..{}: {e}", r0 + n)))
    }

    fn dense_block(&self, key: &str, info: &MatrixInfo, r0: usize, n: usize) -> Result<CsrMatrix> {
        let ds = self.numeric(key)?;
        let values = self.h5(key, ds.read_f32_rows(r0 as u64, n as u64))?;
        Ok(CsrMatrix::from_dense(n, info.n_cols, &values))
    }
}

/// The iterator [`H5ad::row_blocks`] returns: `(first row, block)`.
pub struct RowBlocks<'a> {
    file: &'a H5ad,
    key: String,
    info: MatrixInfo,
    indptr: Vec<u64>,
    whole: Option<CsrMatrix>,
    next: usize,
    per_block: usize,
}

impl RowBlocks<'_> {
    pub fn info(&self) -> MatrixInfo {
        self.info
    }
}

impl Iterator for RowBlocks<'_> {
    type Item = Result<(usize, CsrMatrix)>;

    fn next(&mut self) -> Option<Self::Item> {
        let r0 = self.next;
        if r0 >= self.info.n_rows {
            return None;
        }
        let n = self.per_block.min(self.info.n_rows - r0);
        self.next += n;
        let block = match (&self.whole, self.info.layout) {
            (Some(m), _) => Ok(m.select_rows(&(r0..r0 + n).collect::<Vec<_>>())),
            (None, MatrixLayout::Csr) => {
                self.file
                    .csr_block(&self.key, &self.info, &self.indptr, r0, n)
            }
            (None, _) => self.file.dense_block(&self.key, &self.info, r0, n),
        };
        Some(block.map(|b| (r0, b)))
    }
}
