//! Gene knowledge, in one place: the text each knowledge source holds for a gene (GO aspects,
//! NCBI, NCBI+UniProt; shipped in the binary), knowledge tables (gene → vector, with imports
//! from the files people have), all-MiniLM-L6-v2 and its host kernels, and the builder that
//! embeds text into a table.
//!
//! The network's knowledge encoders (a table → Linear → LayerNorm per source) are part of the
//! model (`scgenept-model`); they receive a table's rows when the model is built.

pub mod build;
pub mod error;
pub mod gelu;
pub mod gene_text;
pub mod minilm;
pub mod minilm_fetch;
pub mod table;
pub mod table_text;

pub use error::TableError;
pub use gene_text::{GeneText, Resolved};
pub use scgenept_model::{EmbedMode, KnowledgeSource, TextSource};
pub use table::{KnowledgeTable, TableFormat};
