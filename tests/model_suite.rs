//! The model crate's integration tests, one test binary: every test binary is linked on its
//! own, so one per crate keeps the build short (ARCHITECTURE.md, code map: `tests/`).

mod common;
#[path = "model_checkpoints.rs"]
mod model_checkpoints;
#[path = "model_parity.rs"]
mod model_parity;
#[path = "model_types.rs"]
mod model_types;
