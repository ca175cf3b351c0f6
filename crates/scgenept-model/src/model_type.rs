//! The reference's `--model-type` names (scGenePT `train.py`, docs/reference.md §3.1) as configs.
//!
//! Deviations, each deliberate: `scgpt_tokens` works here (it matches no encoder in the reference
//! and so trains on the perturbation flags alone), and `scgenept_random` is our control arm: the
//! scGenePT architecture with a seeded random table in place of gene text.

use std::fmt;
use std::str::FromStr;

use crate::config::{InputsConfig, KnowledgeSourceConfig, ModelConfig};
use crate::error::{ModelError, Result};
use crate::knowledge_source::{KnowledgeSource, TextSource};

/// Parameter prefixes a model type copies from a pretrained scGPT checkpoint (docs/reference.md
/// §1.3).
pub const PRETRAINED_PREFIXES: [&str; 3] = ["encoder", "value_encoder", "transformer_encoder"];
/// `_no_attention` model types start the transformer from scratch.
pub const PRETRAINED_PREFIXES_NO_ATTENTION: [&str; 2] = ["encoder", "value_encoder"];

/// A named model type resolved into its network config and pretrained-loading policy.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelPreset {
    pub model_type: String,
    pub config: ModelConfig,
    pub pretrained_prefixes: Vec<String>,
}

const GO_ASPECTS: [&str; 4] = ["c", "f", "p", "all"];
const GO_MODES: [&str; 2] = ["concat", "avg"];
const TEXT_SOURCES: [&str; 2] = ["ncbi", "ncbi+uniprot"];

/// Every model-type name this crate understands (without `_no_attention` variants, which exist
/// for every `scgenept_*` type).
pub fn model_types() -> Vec<String> {
    let mut v = vec![
        "scgpt".to_string(),
        "scgpt_counts".into(),
        "scgpt_tokens".into(),
        "scgenept_random".into(),
    ];
    for t in TEXT_SOURCES {
        v.push(format!("scgenept_{t}_gpt"));
        v.push(format!("genept_{t}_gpt"));
    }
    for a in GO_ASPECTS {
        for m in GO_MODES {
            v.push(format!("scgenept_go_{a}_gpt_{m}"));
            v.push(format!("go_{a}_gpt_{m}"));
            for t in TEXT_SOURCES {
                v.push(format!("scgenept_{t}_gpt_go_{a}_gpt_{m}"));
            }
        }
    }
    v
}

/// `go_<aspect>_gpt_<mode>` → the GO source.
fn parse_go(s: &str) -> Option<KnowledgeSource> {
    let (aspect, mode) = s.strip_prefix("go_")?.split_once("_gpt_")?;
    GO_ASPECTS.iter().find(|a| **a == aspect)?;
    let text: TextSource = format!("go_{aspect}").parse().ok()?;
    Some(KnowledgeSource::Go(text, mode.parse().ok()?))
}

/// `<text>_gpt` → the summary source (`ncbi`, `ncbi+uniprot`).
fn parse_text(s: &str) -> Option<KnowledgeSource> {
    let t = s.strip_suffix("_gpt")?;
    TEXT_SOURCES.iter().find(|x| **x == t)?;
    Some(KnowledgeSource::Summary(t.replace('+', "_").parse().ok()?))
}

/// A reference model-type name, parsed once (configs hold this, not the string): which inputs
/// are summed, which knowledge branches, and whether the pretrained transformer is loaded.
/// Written back as its name.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelType {
    name: String,
    inputs: InputsConfig,
    branches: Vec<KnowledgeSource>,
    no_attention: bool,
}

impl ModelType {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The network config and pretrained-loading policy, with knowledge tables `d_llm` wide (1536
    /// for the paper's ada-002 files, 384 for MiniLM).
    pub fn preset(&self, d_llm: usize) -> ModelPreset {
        let prefixes: &[&str] = if self.no_attention {
            &PRETRAINED_PREFIXES_NO_ATTENTION
        } else {
            &PRETRAINED_PREFIXES
        };
        ModelPreset {
            model_type: self.name.clone(),
            config: ModelConfig {
                inputs: self.inputs.clone(),
                knowledge_sources: (self.branches.iter())
                    .map(|&b| KnowledgeSourceConfig::new(b, d_llm))
                    .collect(),
                ..ModelConfig::default()
            },
            pretrained_prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The knowledge sources in summation order, for their names and kinds; widths are left at
    /// 0 (the tables decide them, `preset`).
    pub fn knowledge_sources(&self) -> Vec<KnowledgeSourceConfig> {
        (self.branches.iter())
            .map(|&b| KnowledgeSourceConfig::new(b, 0))
            .collect()
    }
}

impl FromStr for ModelType {
    type Err = ModelError;

    fn from_str(model_type: &str) -> Result<Self> {
        let unknown = || ModelError::UnknownModelType {
            name: model_type.to_string(),
            valid: format!(
                "{} (and `_no_attention` variants of the scgenept_* types)",
                model_types().join(", ")
            ),
        };
        let (base, no_attention) = match model_type.strip_suffix("_no_attention") {
            Some(b) => (b, true),
            None => (model_type, false),
        };
        if no_attention && !base.starts_with("scgenept_") {
            return Err(unknown());
        }
        let (inputs, branches) = parse_base(base).ok_or_else(unknown)?;
        Ok(ModelType {
            name: model_type.to_string(),
            inputs,
            branches,
            no_attention,
        })
    }
}

impl fmt::Display for ModelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl TryFrom<String> for ModelType {
    type Error = ModelError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<ModelType> for String {
    fn from(t: ModelType) -> String {
        t.name
    }
}

impl serde::Serialize for ModelType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl<'de> serde::Deserialize<'de> for ModelType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A model-type name without `_no_attention` → its inputs and knowledge branches.
fn parse_base(base: &str) -> Option<(InputsConfig, Vec<KnowledgeSource>)> {
    let all = InputsConfig::default();
    let knowledge_only = InputsConfig {
        tokens: false,
        counts: false,
        pert_flags: true,
    };
    Some(match base {
        "scgpt" => (all, vec![]),
        "scgpt_counts" => (
            InputsConfig {
                tokens: false,
                ..all
            },
            vec![],
        ),
        "scgpt_tokens" => (
            InputsConfig {
                counts: false,
                ..all
            },
            vec![],
        ),
        "scgenept_random" => (all, vec![KnowledgeSource::Random]),
        _ => {
            if let Some(rest) = base.strip_prefix("scgenept_") {
                if let Some(go) = parse_go(rest) {
                    (all, vec![go])
                } else if let Some(t) = parse_text(rest) {
                    (all, vec![t])
                } else {
                    // "<text>_gpt_go_<a>_gpt_<m>"
                    let (text, go) = rest.split_once("_gpt_go_")?;
                    let t = parse_text(&format!("{text}_gpt"))?;
                    let go = parse_go(&format!("go_{go}"))?;
                    (all, vec![t, go])
                }
            } else if let Some(rest) = base.strip_prefix("genept_") {
                (knowledge_only, vec![parse_text(rest)?])
            } else {
                (knowledge_only, vec![parse_go(base)?])
            }
        }
    })
}

/// Resolves a reference model-type name (`ModelType::from_str`, then `ModelType::preset`).
pub fn preset(model_type: &str, d_llm: usize) -> Result<ModelPreset> {
    let preset = model_type.parse::<ModelType>()?.preset(d_llm);
    preset.config.validate()?;
    Ok(preset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_mapping() {
        let p = preset("scgpt", 1536).unwrap();
        assert!(p.config.inputs.tokens && p.config.inputs.counts);
        assert!(p.config.knowledge_sources.is_empty());

        let p = preset("scgenept_ncbi+uniprot_gpt", 1536).unwrap();
        assert_eq!(p.config.knowledge_sources[0].state_prefix, "genept_encoder");
        assert_eq!(p.config.knowledge_sources[0].proj_key, "proj_layer");

        let p = preset("scgenept_go_all_gpt_concat", 1536).unwrap();
        assert_eq!(p.config.knowledge_sources[0].state_prefix, "gopt_encoder_f");
        assert_eq!(p.config.knowledge_sources[0].proj_key, "fc");

        let p = preset("scgenept_ncbi+uniprot_gpt_go_c_gpt_avg", 384).unwrap();
        let names: Vec<_> = p
            .config
            .knowledge_sources
            .iter()
            .map(|s| s.source.to_string())
            .collect();
        assert_eq!(names, ["ncbi_uniprot", "go_c_avg"]);
        assert_eq!(p.config.knowledge_sources[1].d_llm, 384);

        let p = preset("genept_ncbi_gpt", 1536).unwrap();
        assert!(!p.config.inputs.counts && !p.config.inputs.tokens && p.config.inputs.pert_flags);

        let p = preset("scgenept_ncbi_gpt_no_attention", 1536).unwrap();
        assert_eq!(p.pretrained_prefixes, ["encoder", "value_encoder"]);
    }

    #[test]
    fn every_listed_type_resolves() {
        for t in model_types() {
            preset(&t, 1536).unwrap_or_else(|e| panic!("{t}: {e}"));
        }
    }

    #[test]
    fn unknown_types_are_rejected_with_the_list() {
        for bad in [
            "scgenept_go_c_gpt",
            "scgpt_no_attention",
            "go_x_gpt_concat",
            "",
        ] {
            let e = preset(bad, 1536).unwrap_err().to_string();
            assert!(
                e.contains("unknown model type") && e.contains("scgenept_go_c_gpt_concat"),
                "{e}"
            );
        }
    }
}
