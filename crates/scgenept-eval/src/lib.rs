//! Scoring perturbation predictions, without a network: GEARS' per-condition metrics and their
//! subgroup summaries (`metrics.rs`), the one metric table and the `test_…` keys
//! (`metric_key.rs`), the scored methods (`method.rs`), the field's simple baselines
//! (`baselines.rs`) and GEARS' genetic-interaction scores (`gi.rs`).
//!
//! Depends on the data crate only; the training crate and the CLI use it.

pub mod baselines;
pub mod gi;
pub mod method;
pub mod metric_key;
pub mod metrics;
