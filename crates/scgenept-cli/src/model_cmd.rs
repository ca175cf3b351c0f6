//! `scgenept model …`: model types, fresh bundles, checkpoint import and inspection.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::backend::Flex;
use clap::{Args, Subcommand};

use scgenept_model::checkpoint::{self, export_safetensors, import_checkpoint};
use scgenept_model::model_type;
use scgenept_model::vocab::ScgptArgs;
use scgenept_model::{ModelConfig, ScGenePT};

type B = Flex;

#[derive(Subcommand)]
pub enum ModelCommand {
    /// List the model types (reference `--model-type` names).
    Types,
    /// Write a freshly initialised model bundle (model.safetensors + config.json).
    Init(InitArgs),
    /// Import a PyTorch checkpoint (scGPT pretrained or scGenePT fine-tuned) and write a bundle.
    Import(ImportArgs),
    /// Summarise a bundle directory or a checkpoint file: config, keys, shapes, parameter count.
    Info {
        /// Bundle directory, `.pt` or `.safetensors` file.
        path: PathBuf,
    },
}

/// Where the network's shape comes from.
#[derive(Args)]
pub struct ModelSpec {
    /// Reference model type, e.g. scgpt, scgenept_ncbi+uniprot_gpt, scgenept_go_c_gpt_concat
    /// (`scgenept model types` lists them).
    #[arg(long, conflicts_with = "config")]
    model_type: Option<String>,
    /// Model config file (TOML or JSON with the ModelConfig fields).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Width of the knowledge-source tables (1536 for the paper's ada-002 files, 384 for MiniLM).
    #[arg(long, default_value_t = 1536)]
    d_llm: usize,
    /// Rows of every gene-indexed table (60,697 + genes added for out-of-vocabulary genes).
    #[arg(long)]
    vocab_size: Option<usize>,
    /// scGPT `args.json` to take the transformer sizes from (default with --model-type: the
    /// whole-human checkpoint's; with --config: the config's own).
    #[arg(long)]
    scgpt_args: Option<PathBuf>,
}

#[derive(Args)]
pub struct InitArgs {
    #[command(flatten)]
    spec: ModelSpec,
    /// Seed for the initial weights.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output bundle directory.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
pub struct ImportArgs {
    /// The checkpoint: `best_model.pt` (flash `Wqkv` or torch `in_proj` layout) or `.safetensors`.
    #[arg(long)]
    checkpoint: PathBuf,
    #[command(flatten)]
    spec: ModelSpec,
    /// Load only what the reference copies from a pretrained scGPT model (encoder,
    /// value_encoder, transformer_encoder; no transformer for `_no_attention` types); the rest
    /// keeps a fresh init. Without it every matching key is loaded (fine-tuned checkpoints).
    #[arg(long)]
    pretrained: bool,
    /// Seed for the parameters the checkpoint does not set.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output bundle directory.
    #[arg(long)]
    out: PathBuf,
}

/// Resolves `ModelSpec` into a config and the pretrained-prefix policy.
fn resolve(spec: &ModelSpec) -> Result<(ModelConfig, Vec<String>)> {
    let (mut cfg, prefixes) = match (&spec.model_type, &spec.config) {
        (Some(t), None) => {
            let p = model_type::preset(t, spec.d_llm)?;
            (p.config, p.pretrained_prefixes)
        }
        (None, Some(path)) => (
            read_model_config(path)?,
            model_type::PRETRAINED_PREFIXES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ),
        (None, None) => bail!("give --model-type NAME or --config FILE"),
        (Some(_), Some(_)) => unreachable!("clap forbids both"),
    };
    // Transformer sizes: an explicit args.json always wins; a model type defaults to the
    // whole-human checkpoint's; a config file keeps its own.
    match (&spec.scgpt_args, &spec.model_type) {
        (Some(p), _) => ScgptArgs::load(p)?.apply_to(&mut cfg),
        (None, Some(_)) => ScgptArgs::whole_human().apply_to(&mut cfg),
        (None, None) => {}
    }
    if let Some(v) = spec.vocab_size {
        cfg.vocab_size = v;
    }
    cfg.validate()?;
    Ok((cfg, prefixes))
}

/// Reads a ModelConfig from TOML or JSON (by extension), refusing unknown keys.
pub fn read_model_config(path: &Path) -> Result<ModelConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let cfg: ModelConfig = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => serde_json::from_str(&text)
            .with_context(|| format!("{}: not a model config", path.display()))?,
        _ => toml::from_str(&text)
            .with_context(|| format!("{}: not a model config", path.display()))?,
    };
    cfg.validate()
        .with_context(|| format!("{}: invalid model config", path.display()))?;
    Ok(cfg)
}

pub fn run(cmd: ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Types => {
            for t in model_type::model_types() {
                let p = model_type::preset(&t, 1536)?;
                let c = &p.config;
                let mut parts = Vec::new();
                if c.inputs.tokens {
                    parts.push("tokens".to_string());
                }
                if c.inputs.counts {
                    parts.push("counts".into());
                }
                parts.extend(
                    c.knowledge_sources
                        .iter()
                        .map(|s| format!("{} ({})", s.source, s.state_prefix)),
                );
                if c.inputs.pert_flags {
                    parts.push("pert_flags".into());
                }
                println!("{t:<42} {}", parts.join(" + "));
            }
            Ok(())
        }
        ModelCommand::Init(a) => {
            let (cfg, _) = resolve(&a.spec)?;
            let device = Default::default();
            <B as burn::tensor::backend::Backend>::seed(&device, a.seed);
            let model = ScGenePT::<B>::new(&cfg, &device)?;
            export_safetensors(&model, &a.out)?;
            println!(
                "wrote {} ({} parameters)",
                a.out.display(),
                burn::module::Module::num_params(&model)
            );
            Ok(())
        }
        ModelCommand::Import(a) => {
            let (cfg, prefixes) = resolve(&a.spec)?;
            let device = Default::default();
            <B as burn::tensor::backend::Backend>::seed(&device, a.seed);
            let model = ScGenePT::<B>::new(&cfg, &device)?;
            let filter = a.pretrained.then_some(prefixes.as_slice());
            let (model, report) = import_checkpoint(model, &a.checkpoint, filter)?;
            print!("{report}");
            if report.applied.is_empty() {
                bail!(
                    "{}: no tensor matched the model; is this a scGPT/scGenePT checkpoint?",
                    a.checkpoint.display()
                );
            }
            export_safetensors(&model, &a.out)?;
            println!("wrote {}", a.out.display());
            Ok(())
        }
        ModelCommand::Info { path } => info(&path),
    }
}

fn info(path: &Path) -> Result<()> {
    let weights = if path.is_dir() {
        let cfg = checkpoint::read_config(path)?;
        println!("{}", serde_json::to_string_pretty(&cfg)?);
        path.join(checkpoint::WEIGHTS_FILE)
    } else {
        path.to_path_buf()
    };
    let sd = checkpoint::read_state_dict(&weights)?;
    let mut total = 0usize;
    for (k, t) in &sd {
        total += t.data.len();
        println!("{k:<60} {:?}", t.shape);
    }
    println!("{} tensors, {total} values", sd.len());
    Ok(())
}
