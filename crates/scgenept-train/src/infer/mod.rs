//! Prediction from an exported bundle: the bundle itself (checkpoint, knowledge, control pool,
//! provenance), the prediction of single and double perturbations, and how many cells a batch holds.

pub mod batch;
pub mod bundle;
pub mod job;
pub mod outputs;
pub mod predict;
