//! The data crate's integration tests, one test binary: every test binary is linked on its
//! own, so one per crate keeps the build short (ARCHITECTURE.md, code map: `tests/`).

mod common;
#[path = "data_pipeline.rs"]
mod data_pipeline;
#[path = "gears_split.rs"]
mod gears_split;
#[path = "h5ad.rs"]
mod h5ad;
