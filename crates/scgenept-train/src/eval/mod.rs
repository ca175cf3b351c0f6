//! How good a prediction is: GEARS' metrics and their keys, the baselines scored beside every
//! model, and genetic-interaction scores. Burn-free, so it can move out whole into its own crate.

pub mod baselines;
pub mod gi;
pub mod method;
pub mod metric_key;
pub mod metrics;
