//! [`Dots::F64`](super::Dots): cells as a dense float64 matrix, dot products by float64 matrix
//! products (what sklearn's upcast path computes, up to the order of its sums).

use super::{for_each_dense_row, squared_norm, Group, Strip};
use crate::pair::Cells;
use std::ops::Range;

/// Cells as a dense row-major float64 matrix with each row's squared norm.
pub struct Dense {
    rows: usize,
    cols: usize,
    x: Vec<f64>,
    sq: Vec<f64>,
}

impl Group for Dense {
    fn of(c: &Cells, rows: &[usize]) -> Dense {
        let (mut x, mut sq) = (Vec::new(), Vec::new());
        for_each_dense_row(c, rows, |_, row| {
            x.extend(row.iter().map(|&v| v as f64));
            sq.push(squared_norm(row));
        });
        Dense {
            rows: rows.len(),
            cols: c.x.n_cols,
            x,
            sq,
        }
    }

    fn len(&self) -> usize {
        self.rows
    }

    fn sq(&self) -> &[f64] {
        &self.sq
    }

    fn dots(&self, b: &Dense, rows: Range<usize>, from: usize, strip: &mut dyn FnMut(Strip)) {
        let (m, n) = (rows.len(), b.rows.saturating_sub(from));
        let mut dot = vec![0f64; m * n];
        // SAFETY: dot holds m × n values, a's rows m × cols, b's cells from `from` cols × n
        // through their transposed strides; no overlap.
        unsafe {
            gemm::gemm(
                m,
                n,
                self.cols,
                dot.as_mut_ptr(),
                1,
                n as isize,
                false,
                self.x[rows.start * self.cols..].as_ptr(),
                1,
                self.cols as isize,
                b.x[from * b.cols..].as_ptr(),
                b.cols as isize,
                1,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        };
        strip(Strip {
            j: from,
            width: n,
            stride: n,
            dots: &dot,
        });
    }
}
