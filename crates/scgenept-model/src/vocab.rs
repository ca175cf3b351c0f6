//! The scGPT gene vocabulary and the mapping of dataset genes to table rows.
//!
//! Genes missing from the vocabulary either share the `<pad>` row, which never trains (the
//! reference behaviour), or get rows of their own appended after the vocabulary (our default), in
//! every gene-indexed table.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

const SCGPT_VOCAB_JSON: &str = include_str!("../assets/scgpt/vocab.json");
const SCGPT_ARGS_JSON: &str = include_str!("../assets/scgpt/args.json");

/// How out-of-vocabulary dataset genes are embedded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OovMode {
    /// All share `<pad>`: no gradient, and one shared knowledge row (reference).
    SharedPad,
    /// Each gets its own trainable row after the vocabulary (default).
    #[default]
    OwnRows,
}

#[derive(Clone, Debug)]
pub struct GeneVocab {
    ids: HashMap<String, usize>,
    size: usize,
    pad_id: usize,
    source: PathBuf,
}

/// Dataset genes → table rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VocabMapping {
    /// Row of each dataset gene, in dataset order.
    pub ids: Vec<usize>,
    /// Rows every gene-indexed table needs (`ModelConfig::vocab_size`).
    pub vocab_size: usize,
    pub pad_id: usize,
    /// Dataset genes missing from the vocabulary, in dataset order.
    pub oov_genes: Vec<String>,
    pub mode: OovMode,
}

impl VocabMapping {
    pub fn n_in_vocab(&self) -> usize {
        self.ids.len() - self.oov_genes.len()
    }
}

impl GeneVocab {
    /// The scGPT whole-human vocabulary shipped with the crate.
    pub fn scgpt() -> Self {
        Self::parse(SCGPT_VOCAB_JSON, Path::new("<embedded scGPT vocab.json>"))
            .expect("embedded vocab.json is valid")
    }

    /// Reads a `vocab.json` (`{"GENE": id, …}` with a `<pad>` entry).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        Self::parse(&text, path)
    }

    fn parse(text: &str, path: &Path) -> Result<Self> {
        let bad = |reason: String| ModelError::BadVocab {
            path: path.to_path_buf(),
            reason,
        };
        let ids: HashMap<String, usize> = serde_json::from_str(text)
            .map_err(|e| bad(format!("not a JSON object of gene → id: {e}")))?;
        let size = ids.len();
        let mut seen = vec![false; size];
        for (g, &i) in &ids {
            if i >= size || std::mem::replace(&mut seen[i], true) {
                return Err(bad(format!(
                    "ids must be a permutation of 0..{size}; '{g}' has id {i}"
                )));
            }
        }
        let pad_id = *ids
            .get("<pad>")
            .ok_or_else(|| bad("no '<pad>' token".into()))?;
        Ok(Self {
            ids,
            size,
            pad_id,
            source: path.to_path_buf(),
        })
    }

    pub fn len(&self) -> usize {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    pub fn pad_id(&self) -> usize {
        self.pad_id
    }

    pub fn get(&self, gene: &str) -> Option<usize> {
        self.ids.get(gene).copied()
    }

    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Maps dataset genes to rows. With `OwnRows`, the i-th distinct missing gene gets row
    /// `len() + i`; with `SharedPad`, every missing gene gets `<pad>`.
    pub fn map_genes<S: AsRef<str>>(&self, genes: &[S], mode: OovMode) -> VocabMapping {
        let mut extra: HashMap<&str, usize> = HashMap::new();
        let mut oov_genes = Vec::new();
        let ids = genes
            .iter()
            .map(|g| {
                let g = g.as_ref();
                match self.get(g) {
                    Some(i) => i,
                    None => {
                        oov_genes.push(g.to_string());
                        match mode {
                            OovMode::SharedPad => self.pad_id,
                            OovMode::OwnRows => {
                                let next = self.size + extra.len();
                                *extra.entry(g).or_insert(next)
                            }
                        }
                    }
                }
            })
            .collect();
        VocabMapping {
            ids,
            vocab_size: self.size + extra.len(),
            pad_id: self.pad_id,
            oov_genes,
            mode,
        }
    }
}

/// The transformer sizes recorded in a scGPT checkpoint's `args.json`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ScgptArgs {
    pub embsize: usize,
    pub nheads: usize,
    pub d_hid: usize,
    pub nlayers: usize,
}

impl ScgptArgs {
    pub fn whole_human() -> Self {
        serde_json::from_str(SCGPT_ARGS_JSON).expect("embedded args.json is valid")
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| ModelError::BadConfigFile {
            path: path.to_path_buf(),
            reason: format!("expected scGPT args.json with embsize/nheads/d_hid/nlayers: {e}"),
        })
    }

    /// Copies the sizes into `cfg`, leaving the fine-tuning settings (dropout, inputs) alone.
    pub fn apply_to(&self, cfg: &mut crate::ModelConfig) {
        cfg.d_model = self.embsize;
        cfg.nhead = self.nheads;
        cfg.d_hid = self.d_hid;
        cfg.nlayers = self.nlayers;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scgpt_vocab_special_tokens() {
        let v = GeneVocab::scgpt();
        assert_eq!(v.len(), 60_697);
        assert_eq!(v.pad_id(), 60_694);
        assert_eq!(v.get("<cls>"), Some(60_695));
        assert_eq!(v.get("<eoc>"), Some(60_696));
    }

    #[test]
    fn oov_modes() {
        let v = GeneVocab::scgpt();
        let genes = [
            "FOSB",
            "NOT_A_GENE_1",
            "CEBPB",
            "NOT_A_GENE_2",
            "NOT_A_GENE_1",
        ];
        let shared = v.map_genes(&genes, OovMode::SharedPad);
        assert_eq!(shared.vocab_size, 60_697);
        assert_eq!(shared.ids[1], 60_694);
        assert_eq!(shared.ids[3], 60_694);
        assert_eq!(shared.n_in_vocab(), 2);
        let own = v.map_genes(&genes, OovMode::OwnRows);
        assert_eq!(own.vocab_size, 60_699);
        assert_eq!(own.ids[1], 60_697);
        assert_eq!(own.ids[3], 60_698);
        assert_eq!(own.ids[4], 60_697, "a repeated gene keeps its row");
        assert_eq!(own.ids[0], v.get("FOSB").unwrap());
    }

    #[test]
    fn args_json_sizes() {
        let a = ScgptArgs::whole_human();
        assert_eq!((a.embsize, a.nheads, a.d_hid, a.nlayers), (512, 8, 512, 12));
    }

    #[test]
    fn bad_vocab_is_a_clear_error() {
        let e = GeneVocab::parse("[1,2]", Path::new("v.json"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("v.json:"), "{e}");
        let e = GeneVocab::parse(r#"{"A":0,"B":0}"#, Path::new("v.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("permutation"), "{e}");
    }
}
