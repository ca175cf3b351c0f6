//! Training, evaluation and benchmarking of scGenePT models on any burn backend.
//!
//! One folder per concern (ARCHITECTURE.md, "Code map"): `train/` runs the epochs, `run/` owns a
//! run directory (scoring is the `scgenept-eval` crate), `infer/` predicts from an
//! exported bundle, `screen/` screens gene pairs, `sweep/` runs seeds × configs and tabulates
//! them, `figures/` draws, `bench/` measures, `device/` picks the backend. The run's
//! configuration is `train_config.rs`.

pub mod bench;
pub mod device;
pub mod figures;
pub mod infer;
pub mod run;
pub mod screen;
pub mod sweep;
pub mod train;
pub mod train_config;

pub use device::{Device, DeviceKind, WithBackend};
