//! A compressed-sparse-row float32 matrix: the one in-memory form of expression data. Perturb-seq
//! matrices are ~90% zeros; a dense cells × genes copy of Norman would be 1.8 GB, the CSR ~300 MB.

/// [`CsrMatrix::looks_like_counts`] of the given stored values (the first 100,000 of a matrix).
pub fn looks_like_counts(head: &[f32]) -> Option<f32> {
    let whole = !head.is_empty() && head.iter().all(|v| v.fract() == 0.0);
    let max = head.iter().copied().fold(0f32, f32::max);
    (whole && max > 20.0).then_some(max)
}

/// CSR matrix with u32 column indices and u64 row pointers (nnz may exceed u32).
#[derive(Clone, Debug, PartialEq)]
pub struct CsrMatrix {
    pub n_rows: usize,
    pub n_cols: usize,
    pub indptr: Vec<u64>,
    pub indices: Vec<u32>,
    pub data: Vec<f32>,
}

impl CsrMatrix {
    /// Whether the stored values look like raw counts rather than log-normalised expression:
    /// every one of the first 100,000 non-zeros a whole number, and the largest above 20
    /// (`log1p` of normalised counts is rarely whole and stays below ~10). Returns the largest.
    pub fn looks_like_counts(&self) -> Option<f32> {
        looks_like_counts(&self.data[..self.data.len().min(100_000)])
    }

    /// Builds and checks a CSR matrix (monotone `indptr`, indices in range).
    pub fn new(
        n_rows: usize,
        n_cols: usize,
        indptr: Vec<u64>,
        indices: Vec<u32>,
        data: Vec<f32>,
    ) -> Result<Self, String> {
        if indptr.len() != n_rows + 1 {
            return Err(format!(
                "indptr has {} entries for {n_rows} rows (expected {})",
                indptr.len(),
                n_rows + 1
            ));
        }
        if indices.len() != data.len() {
            return Err(format!(
                "{} indices but {} values",
                indices.len(),
                data.len()
            ));
        }
        if indptr[0] != 0 || *indptr.last().unwrap_or(&0) != data.len() as u64 {
            return Err("indptr does not span the stored values".into());
        }
        if indptr.windows(2).any(|w| w[0] > w[1]) {
            return Err("indptr is not non-decreasing".into());
        }
        if let Some(bad) = indices.iter().find(|i| **i as usize >= n_cols) {
            return Err(format!(
                "column index {bad} out of range for {n_cols} columns"
            ));
        }
        Ok(Self {
            n_rows,
            n_cols,
            indptr,
            indices,
            data,
        })
    }

    /// An empty matrix with `n_cols` columns, to be filled with `push_dense_row`.
    pub fn with_cols(n_cols: usize) -> Self {
        Self {
            n_rows: 0,
            n_cols,
            indptr: vec![0],
            indices: Vec::new(),
            data: Vec::new(),
        }
    }

    /// The rows `rows`, in that order.
    pub fn select_rows(&self, rows: &[usize]) -> CsrMatrix {
        let mut out = CsrMatrix::with_cols(self.n_cols);
        out.append_rows(self, rows);
        out
    }

    /// Appends rows `rows` of `other` (same columns).
    pub fn append_rows(&mut self, other: &CsrMatrix, rows: &[usize]) {
        assert_eq!(other.n_cols, self.n_cols, "column count");
        for &r in rows {
            let (cols, vals) = other.row(r);
            self.push_sparse_row(cols, vals);
        }
    }

    /// Appends one row given its stored columns and values.
    pub fn push_sparse_row(&mut self, cols: &[u32], vals: &[f32]) {
        self.indices.extend_from_slice(cols);
        self.data.extend_from_slice(vals);
        self.indptr.push(self.data.len() as u64);
        self.n_rows += 1;
    }

    /// Appends one dense row (length `n_cols`), keeping non-zeros: builds large outputs without a
    /// dense copy of the whole matrix.
    pub fn push_dense_row(&mut self, row: &[f32]) {
        assert_eq!(row.len(), self.n_cols, "row width");
        for (j, v) in row.iter().enumerate() {
            if *v != 0.0 {
                self.indices.push(j as u32);
                self.data.push(*v);
            }
        }
        self.indptr.push(self.data.len() as u64);
        self.n_rows += 1;
    }

    /// From a row-major dense matrix, keeping non-zeros.
    pub fn from_dense(n_rows: usize, n_cols: usize, values: &[f32]) -> Self {
        let mut indptr = Vec::with_capacity(n_rows + 1);
        let (mut indices, mut data) = (Vec::new(), Vec::new());
        indptr.push(0);
        for row in values.chunks_exact(n_cols.max(1)).take(n_rows) {
            for (j, v) in row.iter().enumerate() {
                if *v != 0.0 {
                    indices.push(j as u32);
                    data.push(*v);
                }
            }
            indptr.push(data.len() as u64);
        }
        indptr.resize(n_rows + 1, data.len() as u64);
        Self {
            n_rows,
            n_cols,
            indptr,
            indices,
            data,
        }
    }

    /// From CSC parts (`indptr` over columns, `indices` = rows): a counting-sort transpose.
    pub fn from_csc(
        n_rows: usize,
        n_cols: usize,
        col_ptr: &[u64],
        row_idx: &[u32],
        data: &[f32],
    ) -> Result<Self, String> {
        let csc_as_csr = CsrMatrix::new(
            n_cols,
            n_rows,
            col_ptr.to_vec(),
            row_idx.to_vec(),
            data.to_vec(),
        )
        .map_err(|e| format!("CSC {e}"))?;
        Ok(csc_as_csr.transpose())
    }

    pub fn transpose(&self) -> Self {
        let mut counts = vec![0u64; self.n_cols + 1];
        for &j in &self.indices {
            counts[j as usize + 1] += 1;
        }
        for j in 0..self.n_cols {
            counts[j + 1] += counts[j];
        }
        let indptr = counts.clone();
        let mut next = counts;
        let mut indices = vec![0u32; self.nnz()];
        let mut data = vec![0f32; self.nnz()];
        for r in 0..self.n_rows {
            let (cols, vals) = self.row(r);
            for (j, v) in cols.iter().zip(vals) {
                let k = next[*j as usize] as usize;
                indices[k] = r as u32;
                data[k] = *v;
                next[*j as usize] += 1;
            }
        }
        Self {
            n_rows: self.n_cols,
            n_cols: self.n_rows,
            indptr,
            indices,
            data,
        }
    }

    pub fn nnz(&self) -> usize {
        self.data.len()
    }

    /// Stored column indices and values of row `r`.
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[r] as usize, self.indptr[r + 1] as usize);
        (&self.indices[a..b], &self.data[a..b])
    }

    /// Writes row `r` densely into `out` (length `n_cols`).
    pub fn row_into(&self, r: usize, out: &mut [f32]) {
        out.fill(0.0);
        let (cols, vals) = self.row(r);
        for (j, v) in cols.iter().zip(vals) {
            out[*j as usize] = *v;
        }
    }

    /// Row `r` at the given columns, in that order.
    pub fn gather_row(&self, r: usize, dense_scratch: &mut [f32], cols: &[usize], out: &mut [f32]) {
        self.row_into(r, dense_scratch);
        for (o, c) in out.iter_mut().zip(cols) {
            *o = dense_scratch[*c];
        }
    }

    /// Bytes held by the three arrays.
    pub fn heap_bytes(&self) -> usize {
        self.indptr.len() * 8 + self.indices.len() * 4 + self.data.len() * 4
    }

    /// The first stored value that is NaN, infinite or negative: `(row, col, value)`.
    pub fn first_invalid_value(&self) -> Option<(usize, usize, f32)> {
        self.first_where(|v| !v.is_finite() || v < 0.0)
    }

    /// The first stored value (row, column, value) that is NaN or infinite; negatives pass
    /// (a model's predicted expression may dip below 0).
    pub fn first_non_finite(&self) -> Option<(usize, usize, f32)> {
        self.first_where(|v| !v.is_finite())
    }

    fn first_where(&self, bad: impl Fn(f32) -> bool) -> Option<(usize, usize, f32)> {
        let k = self.data.iter().position(|v| bad(*v))?;
        let row = self.indptr.partition_point(|p| *p as usize <= k) - 1;
        Some((row, self.indices[k] as usize, self.data[k]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_counts_are_told_from_log_normalised_values() {
        let counts = CsrMatrix::from_dense(2, 2, &[0.0, 37.0, 3.0, 1.0]);
        assert_eq!(counts.looks_like_counts(), Some(37.0));
        let logged = CsrMatrix::from_dense(2, 2, &[0.0, 3.61, 1.39, 0.69]);
        assert_eq!(logged.looks_like_counts(), None);
        let small_whole = CsrMatrix::from_dense(1, 2, &[1.0, 2.0]);
        assert_eq!(small_whole.looks_like_counts(), None);
    }

    #[test]
    fn dense_csc_transpose_agree() {
        let dense = [0.0, 1.0, 0.0, 2.0, 0.0, 3.0];
        let m = CsrMatrix::from_dense(2, 3, &dense);
        assert_eq!(m.indptr, vec![0, 1, 3]);
        let t = m.transpose();
        let back = CsrMatrix::from_csc(2, 3, &t.indptr, &t.indices, &t.data).unwrap();
        assert_eq!(back, m);
        let mut row = vec![0.0; 3];
        m.row_into(1, &mut row);
        assert_eq!(row, [2.0, 0.0, 3.0]);
        assert!(CsrMatrix::new(2, 3, vec![0, 1], vec![0], vec![1.0]).is_err());
        assert!(CsrMatrix::new(1, 3, vec![0, 1], vec![5], vec![1.0]).is_err());
        let bad = CsrMatrix::new(2, 3, vec![0, 1, 2], vec![0, 2], vec![1.0, -1.0]).unwrap();
        assert_eq!(bad.first_invalid_value(), Some((1, 2, -1.0)));
        let mut pushed = CsrMatrix::with_cols(3);
        dense.chunks(3).for_each(|r| pushed.push_dense_row(r));
        assert_eq!(pushed, m);
    }
}
