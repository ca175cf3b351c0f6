//! Data for scgenept: GEARS perturbation datasets (h5ad in any anndata encoding), the exact GEARS
//! simulation split, control pairing and gene-sampled batches, a synthetic Perturb-seq generator,
//! and gene-knowledge text. See ARCHITECTURE.md for the map.

pub mod csr;
pub mod de;
pub mod error;
pub mod gene_text;
pub mod h5ad;
pub mod knowledge_table;
pub mod numpy_rng;
pub mod perturb_data;
pub mod pickle;
pub mod split;
pub mod split_file;

pub use error::DataError;
pub use gene_text::{GeneText, Resolved, TextSource};
pub use knowledge_table::KnowledgeTable;
pub use perturb_data::{ObsColumns, PerturbData};
pub use split::{GearsSplit, SimulationSplitConfig, SplitName, Subgroups};
