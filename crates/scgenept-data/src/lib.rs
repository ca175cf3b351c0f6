//! Data for scgenept: GEARS perturbation datasets (h5ad in any anndata encoding), the exact GEARS
//! simulation split, control pairing and gene-sampled batches, a synthetic Perturb-seq generator,
//! and gene-knowledge text. See ARCHITECTURE.md for the map.

pub mod batches;
pub mod cells;
pub mod condition;
pub mod csr;
pub mod de;
pub mod error;
pub mod fetch;
pub mod files;
pub mod gene_list;
pub mod h5ad;
pub mod h5ad_rows;
pub mod h5ad_write;
pub mod numpy_pcg64;
pub mod numpy_rng;
pub mod pairing;
pub mod perturb_data;
pub mod pickle;
pub mod progress;
pub mod split;
pub mod split_file;
pub mod synth;
pub mod tempfiles;
pub mod transfer;

pub use error::DataError;
pub use perturb_data::{ObsColumns, PerturbData};
pub use split::{GearsSplit, SimulationSplitConfig, SplitName, Subgroups};
