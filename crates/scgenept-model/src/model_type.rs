//! The reference's `--model-type` names (scGenePT `train.py`, docs/reference.md §3.1) as configs.
//!
//! Deviations, each deliberate: `scgpt_tokens` works here (it matches no encoder in the reference
//! and so trains on the perturbation flags alone), and `scgenept_random` is our control arm: the
//! scGenePT architecture with a seeded random table in place of gene text.

use crate::config::{InputsConfig, LanguageSourceConfig, ModelConfig};
use crate::error::{ModelError, Result};

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

/// The knowledge-source branch for a GenePT text source (`ncbi`, `ncbi+uniprot`).
pub fn genept_source(text: &str, d_llm: usize) -> LanguageSourceConfig {
    LanguageSourceConfig {
        name: text.replace('+', "_"),
        state_prefix: "genept_encoder".into(),
        proj_key: "proj_layer".into(),
        d_llm,
    }
}

/// The knowledge-source branch for a GO aspect (`c`, `f`, `p`, `all`) in `concat`/`avg` mode.
/// GO-all lives under `gopt_encoder_f`, exactly as in the reference.
pub fn go_source(aspect: &str, mode: &str, d_llm: usize) -> LanguageSourceConfig {
    let prefix_aspect = if aspect == "all" { "f" } else { aspect };
    LanguageSourceConfig {
        name: format!("go_{aspect}_{mode}"),
        state_prefix: format!("gopt_encoder_{prefix_aspect}"),
        proj_key: "fc".into(),
        d_llm,
    }
}

/// The random-embedding control source.
pub fn random_source(d_llm: usize) -> LanguageSourceConfig {
    LanguageSourceConfig {
        name: LanguageSourceConfig::RANDOM.into(),
        state_prefix: "random_encoder".into(),
        proj_key: "proj_layer".into(),
        d_llm,
    }
}

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

/// `go_<aspect>_gpt_<mode>` → (aspect, mode).
fn parse_go(s: &str) -> Option<(&'static str, &'static str)> {
    let (aspect, mode) = s.strip_prefix("go_")?.split_once("_gpt_")?;
    let aspect = GO_ASPECTS.iter().copied().find(|a| *a == aspect)?;
    let mode = GO_MODES.iter().copied().find(|m| *m == mode)?;
    Some((aspect, mode))
}

/// `<text>_gpt` → text source.
fn parse_text(s: &str) -> Option<&'static str> {
    let t = s.strip_suffix("_gpt")?;
    TEXT_SOURCES.iter().copied().find(|x| *x == t)
}

/// Resolves a reference model-type name. `d_llm` is the width of the knowledge tables that will
/// be loaded (1536 for the paper's ada-002 files).
pub fn preset(model_type: &str, d_llm: usize) -> Result<ModelPreset> {
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
    let all = InputsConfig::default();
    let lang_only = InputsConfig {
        tokens: false,
        counts: false,
        pert_flags: true,
    };
    let (inputs, sources) = match base {
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
        "scgenept_random" => (all, vec![random_source(d_llm)]),
        _ => {
            if let Some(rest) = base.strip_prefix("scgenept_") {
                if let Some((a, m)) = parse_go(rest) {
                    (all, vec![go_source(a, m, d_llm)])
                } else if let Some(t) = parse_text(rest) {
                    (all, vec![genept_source(t, d_llm)])
                } else {
                    // "<text>_gpt_go_<a>_gpt_<m>"
                    let (text, go) = rest.split_once("_gpt_go_").ok_or_else(unknown)?;
                    let t = parse_text(&format!("{text}_gpt")).ok_or_else(unknown)?;
                    let (a, m) = parse_go(&format!("go_{go}")).ok_or_else(unknown)?;
                    (all, vec![genept_source(t, d_llm), go_source(a, m, d_llm)])
                }
            } else if let Some(rest) = base.strip_prefix("genept_") {
                let t = parse_text(rest).ok_or_else(unknown)?;
                (lang_only.clone(), vec![genept_source(t, d_llm)])
            } else if let Some((a, m)) = parse_go(base) {
                (lang_only, vec![go_source(a, m, d_llm)])
            } else {
                return Err(unknown());
            }
        }
    };
    if no_attention && !base.starts_with("scgenept_") {
        return Err(unknown());
    }
    let prefixes: &[&str] = if no_attention {
        &PRETRAINED_PREFIXES_NO_ATTENTION
    } else {
        &PRETRAINED_PREFIXES
    };
    let config = ModelConfig {
        inputs,
        language_sources: sources,
        ..ModelConfig::default()
    };
    config.validate()?;
    Ok(ModelPreset {
        model_type: model_type.to_string(),
        config,
        pretrained_prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_mapping() {
        let p = preset("scgpt", 1536).unwrap();
        assert!(p.config.inputs.tokens && p.config.inputs.counts);
        assert!(p.config.language_sources.is_empty());

        let p = preset("scgenept_ncbi+uniprot_gpt", 1536).unwrap();
        assert_eq!(p.config.language_sources[0].state_prefix, "genept_encoder");
        assert_eq!(p.config.language_sources[0].proj_key, "proj_layer");

        let p = preset("scgenept_go_all_gpt_concat", 1536).unwrap();
        assert_eq!(p.config.language_sources[0].state_prefix, "gopt_encoder_f");
        assert_eq!(p.config.language_sources[0].proj_key, "fc");

        let p = preset("scgenept_ncbi+uniprot_gpt_go_c_gpt_avg", 384).unwrap();
        let names: Vec<_> = p
            .config
            .language_sources
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["ncbi_uniprot", "go_c_avg"]);
        assert_eq!(p.config.language_sources[1].d_llm, 384);

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
