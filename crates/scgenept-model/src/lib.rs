//! The scGenePT network in burn: scGPT's gene-token, expression and perturbation embeddings plus
//! any number of gene-knowledge embeddings, summed, layer-normed, encoded by a
//! post-norm transformer and decoded per gene. Generic over the burn backend.
//!
//! Parameter names are the reference PyTorch state-dict names (`encoder.embedding.weight`,
//! `transformer_encoder.layers.3.linear2.bias`, `genept_encoder.proj_layer.weight`, …), so
//! checkpoints move between the two frameworks name for name (`checkpoint.rs`).

pub mod attention;
pub mod autodiff_inner;
pub mod checkpoint;
pub mod config;
pub mod counter_hash;
pub mod decoder;
pub mod dropout;
pub mod encoders;
pub mod error;
pub mod host;
pub mod knowledge_source;
pub mod layer_norm;
pub mod memory_probe;
pub mod model;
pub mod model_type;
pub mod params;
pub mod precision;
pub mod shared_genes;
pub mod softmax;
pub mod state_dict;
pub mod transformer;
pub mod vocab;

pub use checkpoint::{export_safetensors, load_checkpoint, LoadReport};
pub use config::{InputsConfig, KnowledgeSourceConfig, ModelConfig, SumNorm};
pub use error::{ModelError, Result};
pub use knowledge_source::{EmbedMode, KnowledgeSource, ProjKey, TextSource};
pub use model::{KnowledgeRows, ScGenePT};
pub use model_type::{preset, ModelPreset, ModelType};
pub use precision::Precision;
pub use shared_genes::GeneTerms;
pub use state_dict::{HostTensor, StateDict};
pub use vocab::GeneVocab;
