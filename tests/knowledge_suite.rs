//! The knowledge crate's integration tests, one test binary: every test binary is linked on its
//! own, so one per crate keeps the build short (ARCHITECTURE.md, code map: `tests/`).

mod common;
#[path = "knowledge_pickle.rs"]
mod knowledge_pickle;
#[path = "minilm_parity.rs"]
mod minilm_parity;
