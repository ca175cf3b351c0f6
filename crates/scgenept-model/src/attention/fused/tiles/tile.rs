//! What every tile kernel shares: the 16 × 16 × 16 tile product on tensor cores or on the
//! units ([`mma`]), and staging rows of one head into shared memory ([`stage`], [`zero`]).

use cubecl::prelude::*;

/// `C[16 × 16] (+)= A[16 × 16·ksteps] · B[16·ksteps × 16]`, by the calling plane. A is row-major
/// at `a[a_at + r·a_stride + k]`; B is `b[b_at + k·b_stride + n]`, or with `b_col`
/// `b[b_at + n·b_stride + k]`; C is row-major f32 at `c[c_at + r·c_stride + n]`, added to with
/// `acc`. Offsets and strides are multiples of 16 elements (CUDA's `wmma` alignment).
#[cube]
#[allow(clippy::too_many_arguments)]
pub(super) fn mma<T: Float>(
    a: &SharedMemory<T>,
    a_at: usize,
    a_stride: usize,
    b: &SharedMemory<T>,
    b_at: usize,
    b_stride: usize,
    c: &mut SharedMemory<f32>,
    c_at: usize,
    c_stride: usize,
    #[comptime] ksteps: usize,
    #[comptime] b_col: bool,
    #[comptime] acc: bool,
    #[comptime] tc: bool,
) {
    if tc {
        let out = cmma::Matrix::<f32>::from_value(
            cmma::MatrixIdent::Accumulator,
            16usize,
            16usize,
            16usize,
            cmma::MatrixLayout::Undefined,
            0.0f32,
        );
        let c_end = c_at + 15 * c_stride + 16;
        if acc {
            cmma::load_with_layout(
                &out,
                &c.slice(c_at, c_end),
                c_stride as u32,
                cmma::MatrixLayout::RowMajor,
            );
        }
        let b_layout = comptime!(if b_col {
            cmma::MatrixLayout::ColMajor
        } else {
            cmma::MatrixLayout::RowMajor
        });
        #[unroll]
        for s in 0..ksteps {
            let a_from = a_at + s * 16;
            let lhs = cmma::Matrix::<T>::from_slice(
                cmma::MatrixIdent::A,
                16usize,
                16usize,
                16usize,
                cmma::MatrixLayout::RowMajor,
                &a.slice(a_from, a_from + 15 * a_stride + 16),
                a_stride as u32,
            );
            let mut b_from = b_at + s * 16 * b_stride;
            if b_col {
                b_from = b_at + s * 16;
            }
            let rhs = cmma::Matrix::<T>::from_slice(
                cmma::MatrixIdent::B,
                16usize,
                16usize,
                16usize,
                b_layout,
                &b.slice(b_from, b_from + 15 * b_stride + 16),
                b_stride as u32,
            );
            cmma::execute::<T, T, f32, f32>(&lhs, &rhs, &out, &out);
        }
        cmma::store(
            &mut c.slice_mut(c_at, c_end),
            &out,
            c_stride as u32,
            cmma::MatrixLayout::RowMajor,
        );
    } else {
        let lane = UNIT_POS_X as usize % 32;
        // 256 outputs, 8 per unit of the plane. Only the 16 products of a step are unrolled:
        // llvmpipe compiles unrolled code slowly and counts every loop iteration of a shader.
        for t in 0..8usize {
            let e = lane + 32 * t;
            let row = e / 16;
            let col = e % 16;
            let at = c_at + row * c_stride + col;
            let mut sum = 0.0f32;
            if acc {
                sum = c[at];
            }
            for s in 0..ksteps {
                #[unroll]
                for k in 0..16usize {
                    let kk = s * 16 + k;
                    let mut bi = b_at + kk * b_stride + col;
                    if b_col {
                        bi = b_at + col * b_stride + kk;
                    }
                    sum += f32::cast_from(a[a_at + row * a_stride + kk]) * f32::cast_from(b[bi]);
                }
            }
            c[at] = sum;
        }
    }
}

/// The cube's units copy `rows` rows of one head, row `row0` on, into `out[r·dp + c]`: element
/// `(r, c)` is `src[start + (row0 + r)·stride + c]`, zero past the sequence (`len`) or the head
/// width (`dh`).
#[cube]
#[allow(clippy::too_many_arguments)]
pub(super) fn stage<E: Float, T: Float>(
    src: &Tensor<E>,
    out: &mut SharedMemory<T>,
    start: usize,
    stride: usize,
    row0: usize,
    len: usize,
    dh: usize,
    #[comptime] rows: usize,
    #[comptime] dp: usize,
    #[comptime] units: usize,
) {
    for t in 0..rows * dp / units {
        let e = t * units + UNIT_POS_X as usize;
        let r = e / dp;
        let c = e % dp;
        let mut v = T::new(0.0);
        if row0 + r < len && c < dh {
            v = T::cast_from(src[start + (row0 + r) * stride + c]);
        }
        out[e] = v;
    }
}

/// Sets `n` f32 of `out` to zero, the cube's units together.
#[cube]
pub(super) fn zero(out: &mut SharedMemory<f32>, #[comptime] n: usize, #[comptime] units: usize) {
    for t in 0..n / units {
        out[t * units + UNIT_POS_X as usize] = 0.0f32;
    }
}
