//! The training crate's integration tests, one test binary: every test binary is linked on its
//! own, so one per crate keeps the build short (ARCHITECTURE.md, code map: `tests/`).

mod common;
#[path = "metrics.rs"]
mod metrics;
#[path = "trainer.rs"]
mod trainer;
