//! Data for scgenept: gene-knowledge text today; GEARS datasets, the simulation split and
//! training batches as the data-crate work lands (see ARCHITECTURE.md).

pub mod gene_text;
pub mod knowledge_table;
pub mod pickle;

pub use gene_text::{GeneText, Resolved, TextSource};
pub use knowledge_table::KnowledgeTable;
