//! Training, evaluation and benchmarking of scGenePT models on any burn backend.
//!
//! This crate currently holds the device selection and the forward+backward step benchmark;
//! the training loop, evaluation and sweeps build on them.

pub mod bench;
pub mod device;
pub mod knowledge;

pub use device::{Device, DeviceKind, WithBackend};
