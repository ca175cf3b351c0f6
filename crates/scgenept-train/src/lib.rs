//! Training, evaluation and benchmarking of scGenePT models on any burn backend.
//!
//! Device selection, knowledge tables, the training loop with resume, GEARS-exact metrics beside
//! the baselines, export/predict bundles, multi-seed sweeps and their figures.

pub mod baselines;
pub mod bench;
pub mod bench_predict;
pub mod bundle;
pub mod demo;
pub mod device;
pub mod evaluate;
pub mod figure_inputs;
pub mod finished_run;
pub mod gi;
pub mod grad_clip;
pub mod inference_batch;
pub mod inputs;
pub mod interrupt;
pub mod kernel_cache;
pub mod learning_curve;
pub mod memory_plan;
pub mod metric_key;
pub mod metrics;
pub mod plots;
pub mod predict;
pub mod prepare;
pub mod progress;
pub mod resume;
pub mod run_dir;
pub mod run_manifest;
pub mod run_outputs;
pub mod screen;
pub mod screen_plot;
pub mod screen_run;
pub mod slurm;
pub mod slurm_settings;
pub mod step;
pub mod sweep;
pub mod sweep_jobs;
pub mod sweep_table;
pub mod sweep_verdict;
pub mod train_config;
pub mod train_loop;
pub mod trainer;

pub use device::{Device, DeviceKind, WithBackend};
