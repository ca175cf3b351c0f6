//! Inference bundles (`scgenept export`) and prediction from them (`scgenept predict`).
//!
//! A bundle is self-contained: `model.safetensors` + `config.json` (reference names), `meta.json`
//! (dataset genes, their table rows, which genes each knowledge source had a vector for) and
//! `controls.h5ad` (a pool of control cells to perturb). Prediction from a bundle is in
//! `predict.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use scgenept_data::csr::CsrMatrix;
use scgenept_data::h5ad_write::{AnnData, Frame, FrameColumn};
use scgenept_model::{export_safetensors, ScGenePT};

use crate::prepare::Prepared;

/// What a bundle knows besides the weights.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BundleMeta {
    pub genes: Vec<String>,
    pub gene_ids: Vec<String>,
    /// Table row of each gene.
    pub vocab_ids: Vec<usize>,
    /// Per knowledge source, the genes that had a vector (others start from random rows).
    pub knowledge_genes: BTreeMap<String, Vec<String>>,
    pub source_run: String,
}

/// Writes the bundle for `model` trained on `p`, with up to `pool` control cells.
pub fn export_bundle<B: Backend>(
    model: &ScGenePT<B>,
    p: &Prepared,
    run: &Path,
    out: &Path,
    pool: usize,
) -> Result<()> {
    export_safetensors(model, out)?;
    let knowledge_genes = p
        .tables
        .iter()
        .map(|(source, t)| {
            (
                source.clone(),
                p.data
                    .gene_names
                    .iter()
                    .filter(|g| t.get(g).is_some())
                    .cloned()
                    .collect(),
            )
        })
        .collect();
    let meta = BundleMeta {
        genes: p.data.gene_names.clone(),
        gene_ids: p.data.gene_ids.clone(),
        vocab_ids: p.mapping.ids.clone(),
        knowledge_genes,
        source_run: run.display().to_string(),
    };
    scgenept_data::files::write_atomic(
        &out.join("meta.json"),
        serde_json::to_string_pretty(&meta)?.as_bytes(),
    )?;
    let ctrl = p.data.cells_by_condition()[p.data.control_index()].clone();
    let mut rows = Vec::new();
    let g = p.data.n_genes();
    let mut row = vec![0f32; g];
    for c in ctrl.iter().take(pool) {
        p.data.x.row_into(*c as usize, &mut row);
        rows.extend_from_slice(&row);
    }
    let n = rows.len() / g.max(1);
    let x = CsrMatrix::from_dense(n, g, &rows);
    AnnData {
        x: &x,
        layers: vec![],
        obs: Frame {
            index_name: "cell".into(),
            index: (0..n).map(|i| format!("ctrl_{i}")).collect(),
            columns: vec![(
                "condition".into(),
                FrameColumn::Categorical(vec!["ctrl".into(); n]),
            )],
        },
        var: Frame::genes(&p.data.gene_ids, &p.data.gene_names),
        uns: vec![],
    }
    .write(&out.join("controls.h5ad"))?;
    Ok(())
}

/// Parses `"FOSB+CEBPB,KLF1"` and checks every gene against the bundle: each must be a dataset
/// gene (for its flag) and have had a knowledge vector in every source (else its row is random).
pub fn check_perturbations(meta: &BundleMeta, list: &str) -> Result<Vec<String>> {
    let perts: Vec<String> = list
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if perts.is_empty() {
        bail!("no perturbations given; e.g. --perturbations \"FOSB+CEBPB,KLF1\"");
    }
    let mut missing_gene = Vec::new();
    let mut missing_text: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for p in &perts {
        let genes = perturbation_genes(p)?;
        for g in genes {
            if !meta.genes.iter().any(|x| x == g) {
                missing_gene.push(g.to_string());
            }
            for (source, known) in &meta.knowledge_genes {
                if !known.iter().any(|x| x == g) {
                    missing_text.entry(source).or_default().push(g.to_string());
                }
            }
        }
    }
    if !missing_gene.is_empty() {
        bail!(
            "not among the model's genes, so they cannot be flagged: {}",
            missing_gene.join(", ")
        );
    }
    if let Some((source, genes)) = missing_text.into_iter().next() {
        bail!("no '{source}' knowledge vector for {} (the model would see a random row); use genes with text", genes.join(", "));
    }
    let named: Vec<String> = perts
        .iter()
        .map(|p| {
            let genes = perturbation_genes(p).expect("checked above");
            match genes[..] {
                [a] => format!("{a}+ctrl"),
                [a, b] => format!("{a}+{b}"),
                _ => unreachable!("one or two genes"),
            }
        })
        .collect();
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (p, given) in named.iter().zip(&perts) {
        if let Some(first) = seen.insert(crate::predict::canonical_condition(p), given) {
            bail!(
                "'{first}' and '{given}' are the same perturbation (a pair's order does not \
                 matter); list it once"
            );
        }
    }
    Ok(named)
}

/// Why the bundle's model cannot perturb `gene`, if it cannot: it is not one of the model's genes
/// (no position to flag), or a knowledge source had no vector for it (its row is random).
pub fn why_unusable(meta: &BundleMeta, gene: &str) -> Option<String> {
    if !meta.genes.iter().any(|g| g == gene) {
        return Some("not one of the model's genes".into());
    }
    (meta.knowledge_genes.iter())
        .find(|(_, known)| !known.iter().any(|g| g == gene))
        .map(|(source, _)| format!("no '{source}' knowledge vector"))
}

/// The genes of one perturbation (`A`, `A+B`, `A+ctrl`, `ctrl+A`): one or two different,
/// non-empty names.
fn perturbation_genes(p: &str) -> Result<Vec<&str>> {
    let parts: Vec<&str> = p.split('+').map(str::trim).collect();
    if parts.iter().any(|g| g.is_empty()) {
        bail!("'{p}' has an empty gene name; write one gene (A) or two joined by '+' (A+B)");
    }
    let genes: Vec<&str> = parts.into_iter().filter(|g| *g != "ctrl").collect();
    match genes[..] {
        [] => bail!("'{p}' names no gene; write one gene (A) or two joined by '+' (A+B)"),
        [a, b] if a == b => bail!(
            "'{p}' names {a} twice; a double perturbation is two different genes (A+B), a single \
             one is written {a}"
        ),
        [_] | [_, _] => Ok(genes),
        _ => bail!("'{p}': a perturbation is one or two genes (A, A+B)"),
    }
}

/// Reads a bundle's meta.json.
pub fn read_meta(dir: &Path) -> Result<BundleMeta> {
    let path = dir.join("meta.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{}: not an scgenept bundle (run `scgenept export` first)",
            path.display()
        )
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: damaged bundle metadata", path.display()))
}

/// `scgenept export` on a device: the run's checkpoint loaded on the device's backend (no
/// autodiff) and written as a bundle with up to `pool` control cells.
pub struct ExportJob {
    /// The run's saved config (its data, split and tables are prepared again for the bundle).
    pub config: crate::train_config::TrainConfig,
    pub checkpoint: std::path::PathBuf,
    pub run: std::path::PathBuf,
    pub out: std::path::PathBuf,
    pub pool: usize,
}

impl crate::device::WithBackend for ExportJob {
    type Output = ();

    fn run<B: burn::tensor::backend::AutodiffBackend>(
        self,
        device: B::Device,
        _label: &str,
    ) -> Result<()> {
        // After the device probe, so an unusable device costs no data preparation.
        let prepared = crate::prepare::prepare(&self.config)?;
        let model = scgenept_model::load_checkpoint::<B::InnerBackend>(&self.checkpoint, &device)?;
        export_bundle(&model, &prepared, &self.run, &self.out, self.pool)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perturbations_need_a_flag_position_and_knowledge() {
        let meta = BundleMeta {
            genes: vec!["A".into(), "B".into(), "C".into()],
            gene_ids: vec!["1".into(), "2".into(), "3".into()],
            vocab_ids: vec![0, 1, 2],
            knowledge_genes: [(
                "go_c_concat".to_string(),
                vec!["A".to_string(), "B".to_string()],
            )]
            .into(),
            source_run: String::new(),
        };
        assert_eq!(
            check_perturbations(&meta, "A, A+B").unwrap(),
            vec!["A+ctrl", "A+B"]
        );
        let e = check_perturbations(&meta, "A+Z,Y").unwrap_err().to_string();
        assert!(e.contains("Z, Y") && e.contains("cannot be flagged"), "{e}");
        let e = check_perturbations(&meta, "C").unwrap_err().to_string();
        assert!(e.contains("no 'go_c_concat' knowledge vector for C"), "{e}");
        assert!(check_perturbations(&meta, "A+B+C").is_err());
        assert!(check_perturbations(&meta, " , ").is_err());
    }
}
