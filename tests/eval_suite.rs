//! The evaluation crate's integration tests, one test binary (ARCHITECTURE.md, code map:
//! `tests/`).

mod common;
#[path = "eval_clustering.rs"]
mod eval_clustering;
#[path = "eval_de.rs"]
mod eval_de;
#[path = "eval_runs.rs"]
mod eval_runs;
#[path = "eval_vcc2026.rs"]
mod eval_vcc2026;
#[path = "gi_scores.rs"]
mod gi_scores;
#[path = "metrics.rs"]
mod metrics;
