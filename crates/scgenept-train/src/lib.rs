//! Training, evaluation and benchmarking of scGenePT models on any burn backend.
//!
//! Today: device selection, the step benchmark, knowledge-table building, GEARS-exact metrics
//! and the simple baselines. The training loop and sweeps build on them.

pub mod baselines;
pub mod bench;
pub mod bundle;
pub mod device;
pub mod grad_clip;
pub mod knowledge;
pub mod metrics;
pub mod resume;
pub mod train_config;
pub mod trainer;

pub use device::{Device, DeviceKind, WithBackend};
