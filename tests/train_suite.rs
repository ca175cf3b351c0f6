//! The training crate's integration tests, one test binary: every test binary is linked on its
//! own, so one per crate keeps the build short (ARCHITECTURE.md, code map: `tests/`).

mod common;
#[path = "predict.rs"]
mod predict;
#[path = "trainer.rs"]
mod trainer;
#[path = "training_parity.rs"]
mod training_parity;
