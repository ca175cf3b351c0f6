//! The tile kernels of the fused attention (docs/attention.md, "Tensor-core kernels"): the op of
//! `kernels.rs` — same arguments, same outputs, same counter-hash mask — with every product of
//! two `L × dh` blocks done as 16 × 16 × 16 tile products, one plane (32 units) per 16 rows.
//!
//! Each tile product (`tile::mma`) reads its operands from shared memory and writes its f32 result
//! there. With `tc` it is CUDA's cooperative matrices (`cmma`, operands of the storage type, bf16
//! or f16, f32 accumulation: tensor cores). Without, the plane's units do the same product in
//! f32 from the same shared memory, by the same addressing (row-major A, B row- or column-major,
//! row-major C) — this is how the kernels' indexing, softmax, masks and edges run on devices
//! without tensor cores, Mesa's lavapipe in CI among them.
//!
//! A cube is `planes` planes; plane `p` owns 16 rows of the cube's block (query rows in
//! [`forward`] and [`backward_dq`], key rows in [`backward_dkv`]) and walks the other side in
//! blocks of `bk` rows staged in shared memory. Head widths are padded with zeros to `dp`, a
//! multiple of 16; rows past `L` load zeros, take part in every barrier and write nothing.
//! Between products, units 0–15 of each plane own one row each: the online softmax, the
//! probabilities and their gradients, in f32. No atomics: every output element is written by one
//! unit after a fixed-order loop.
//!
//! Only the 16 products of a tile step are unrolled. llvmpipe compiles unrolled code slowly
//! (`bench kernels` on lavapipe from a cold shader cache took 174 s with the softmax and staging
//! loops unrolled too, 117 s without) and caps a shader's loop iterations at about 65,535
//! (docs/attention.md, "Fused kernels"): by our count a 1,000-token walk in blocks of 16 takes
//! about 19,000.
//! The head width is a run-time argument (only its padded width `dp` is compiled in), so head
//! widths 8 and 16 share one shader.

mod backward_kernels;
mod forward_kernel;
mod tile;

pub use backward_kernels::{backward_dkv, backward_dq};
pub use forward_kernel::forward;
