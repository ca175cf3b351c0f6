//! Inference bundles (`scgenept export`) and prediction from them (`scgenept predict`).
//!
//! A bundle is self-contained: `model.safetensors` + `config.json` (reference names), `meta.json`
//! (dataset genes, their table rows, which genes each knowledge source had a vector for) and
//! `controls.h5ad` (a pool of control cells to perturb). `meta.json` also records where the
//! bundle came from (the run's data, config, whether it had finished, the synthetic mark) and the
//! SHA-256 of the other files, checked before the bundle is used. Prediction from a bundle is in
//! `predict.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use scgenept_data::condition::{condition_genes, control_cell_name, is_control, single, CTRL};
use scgenept_data::csr::CsrMatrix;
use scgenept_data::h5ad_write::{AnnData, Frame, FrameColumn};
use scgenept_model::{export_safetensors, ScGenePT};

use crate::train::prepare::Prepared;

/// What a bundle knows besides the weights.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BundleMeta {
    pub genes: Vec<String>,
    pub gene_ids: Vec<String>,
    /// Table row of each gene.
    pub vocab_ids: Vec<usize>,
    /// Per knowledge source, the genes that had a vector (others start from random rows).
    pub knowledge_genes: BTreeMap<scgenept_model::KnowledgeSource, Vec<String>>,
    pub source_run: String,
    /// Where the bundle came from and its files' sums (bundles exported before provenance was
    /// recorded have none: they load, unchecked).
    #[serde(default)]
    pub provenance: Option<Provenance>,
}

/// The bundle files whose SHA-256 `meta.json` records, checked before a bundle is used.
pub const SUMMED_FILES: [&str; 3] = ["model.safetensors", "config.json", "controls.h5ad"];

/// Where a bundle came from: the source run's data, config and state, and the SHA-256 of each
/// bundle file ([`SUMMED_FILES`]), which [`verify_bundle`] checks.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Provenance {
    /// The data file as the run's config gave it, and its SHA-256 at export.
    pub data: String,
    pub data_sha256: Option<String>,
    /// The data file's own synthetic mark (`uns`: generator, preset, seed) when the data are
    /// synthetic (no real cells).
    pub synthetic: Option<String>,
    /// The run's config as it was started (TOML: data, split, model, training).
    pub config: String,
    /// Whether the source run had finished (its metrics.json existed) when it was exported.
    pub finished: bool,
    pub sha256: BTreeMap<String, String>,
}

impl BundleMeta {
    /// The bundle's id: the first 12 hex digits of its weights' SHA-256.
    pub fn id(&self) -> Option<String> {
        let p = self.provenance.as_ref()?;
        Some(
            p.sha256
                .get("model.safetensors")?
                .chars()
                .take(12)
                .collect(),
        )
    }

    /// The synthetic mark of the data the bundle's model was trained on, if they were.
    pub fn synthetic(&self) -> Option<&str> {
        self.provenance.as_ref()?.synthetic.as_deref()
    }

    /// What an output made with this bundle carries: its id, the source run, the data and
    /// whether they were synthetic.
    pub fn stamp(&self) -> Vec<(String, String)> {
        let p = self.provenance.clone().unwrap_or_default();
        vec![
            (
                "bundle_id".into(),
                self.id().unwrap_or_else(|| "unrecorded".into()),
            ),
            ("source_run".into(), self.source_run.clone()),
            ("data".into(), p.data),
            ("data_sha256".into(), p.data_sha256.unwrap_or_default()),
            (
                "synthetic".into(),
                match &p.synthetic {
                    Some(what) if what.starts_with("SYNTHETIC") => what.clone(),
                    Some(what) => format!("SYNTHETIC: {what}"),
                    None => "no".into(),
                },
            ),
        ]
    }
}

/// Checks each file `meta.json` has a sum for: a one-line error naming the file whose bytes
/// changed since export.
pub fn verify_bundle(dir: &Path, meta: &BundleMeta) -> Result<()> {
    let Some(p) = &meta.provenance else {
        return Ok(());
    };
    for (file, want) in &p.sha256 {
        let path = dir.join(file);
        let got = scgenept_data::files::file_sha256(&path)
            .with_context(|| format!("{}: cannot read the bundle file", path.display()))?;
        if &got != want {
            bail!(
                "{}: its SHA-256 differs from the one meta.json recorded at export (the file \
                 changed or is damaged); export the bundle again",
                path.display()
            );
        }
    }
    Ok(())
}

/// What `export_bundle` records about the source run besides the model.
pub struct Source<'a> {
    pub run: &'a Path,
    pub config: &'a crate::train_config::TrainConfig,
    pub finished: bool,
}

/// Writes the bundle for `model` trained on `p`, with up to `pool` control cells: the weights,
/// the control cells, then `meta.json` with the files' sums, last.
pub fn export_bundle<B: Backend>(
    model: &ScGenePT<B>,
    p: &Prepared,
    source: &Source<'_>,
    out: &Path,
    pool: usize,
) -> Result<()> {
    export_safetensors(model, out)?;
    write_controls(p, out, pool)?;
    let knowledge_genes = p
        .tables
        .iter()
        .map(|(source, t)| {
            (
                *source,
                p.data
                    .gene_names
                    .iter()
                    .filter(|g| t.get(g).is_some())
                    .cloned()
                    .collect(),
            )
        })
        .collect();
    let mut sha256 = BTreeMap::new();
    for f in SUMMED_FILES {
        let path = out.join(f);
        let sum = scgenept_data::files::file_sha256(&path)
            .with_context(|| format!("{}: cannot read back", path.display()))?;
        sha256.insert(f.to_string(), sum);
    }
    let data = &source.config.data.path;
    let meta = BundleMeta {
        genes: p.data.gene_names.clone(),
        gene_ids: p.data.gene_ids.clone(),
        vocab_ids: p.mapping.ids.clone(),
        knowledge_genes,
        source_run: source.run.display().to_string(),
        provenance: Some(Provenance {
            data: data.display().to_string(),
            data_sha256: scgenept_data::files::file_sha256(data).ok(),
            synthetic: p.data.synthetic.clone(),
            config: toml::to_string_pretty(source.config)?,
            finished: source.finished,
            sha256,
        }),
    };
    scgenept_data::files::write_atomic(
        &out.join("meta.json"),
        serde_json::to_string_pretty(&meta)?.as_bytes(),
    )?;
    Ok(())
}

/// `controls.h5ad`: up to `pool` of the data's control cells.
fn write_controls(p: &Prepared, out: &Path, pool: usize) -> Result<()> {
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
            index: (0..n).map(control_cell_name).collect(),
            columns: vec![(
                "condition".into(),
                FrameColumn::Categorical(vec![CTRL.into(); n]),
            )],
        },
        var: Frame::genes(&p.data.gene_ids, &p.data.gene_names),
        uns: vec![],
    }
    .write(&out.join("controls.h5ad"))?;
    Ok(())
}

/// Parses `"CEBPE+ETS2,KLF1"` and checks every gene against the bundle: each must be a dataset
/// gene (for its flag) and have had a knowledge vector in every source (else its row is random).
pub fn check_perturbations(meta: &BundleMeta, list: &str) -> Result<Vec<String>> {
    let perts: Vec<String> = list
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if perts.is_empty() {
        bail!("no perturbations given; e.g. --perturbations \"CEBPE+ETS2,KLF1\"");
    }
    let mut missing_gene = Vec::new();
    let mut missing_text: BTreeMap<scgenept_model::KnowledgeSource, Vec<String>> = BTreeMap::new();
    for p in &perts {
        let genes = perturbation_genes(p)?;
        for g in genes {
            if !meta.genes.iter().any(|x| x == g) {
                missing_gene.push(g.to_string());
            }
            for (source, known) in &meta.knowledge_genes {
                if !known.iter().any(|x| x == g) {
                    missing_text.entry(*source).or_default().push(g.to_string());
                }
            }
        }
    }
    if !missing_gene.is_empty() {
        // Symbols are case-sensitive; a gene in another case is the likeliest slip.
        let hints: Vec<String> = (missing_gene.iter())
            .filter_map(|g| {
                let found = meta.genes.iter().find(|x| x.eq_ignore_ascii_case(g))?;
                Some(format!("{found} for {g}"))
            })
            .collect();
        let hint = match hints.is_empty() {
            true => String::new(),
            false => format!(
                " (symbols are case-sensitive: did you mean {}?)",
                hints.join(", ")
            ),
        };
        bail!(
            "not among the model's genes, so they cannot be flagged: {}{hint}",
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
                [a] => single(a),
                [a, b] => format!("{a}+{b}"),
                _ => unreachable!("one or two genes"),
            }
        })
        .collect();
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (p, given) in named.iter().zip(&perts) {
        if let Some(first) = seen.insert(canonical_condition(p), given) {
            bail!(
                "'{first}' and '{given}' are the same perturbation (a pair's order does not \
                 matter); list it once"
            );
        }
    }
    Ok(named)
}

/// One name per perturbation whatever its spelling: the genes of a pair in sorted order (`B+A`
/// and `A+B` are one perturbation), a single as `A+ctrl`.
pub fn canonical_condition(name: &str) -> String {
    let mut genes = condition_genes(name);
    genes.sort_unstable();
    match genes[..] {
        [] => CTRL.to_string(),
        [a] => single(a),
        _ => genes.join("+"),
    }
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
    let genes: Vec<&str> = parts.into_iter().filter(|g| !is_control(g)).collect();
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

/// Reads a bundle's meta.json and checks the other files against the sums it records.
pub fn open_bundle(dir: &Path) -> Result<BundleMeta> {
    let meta = read_meta(dir)?;
    verify_bundle(dir, &meta)?;
    Ok(meta)
}

/// Whether `out` may receive a bundle: absent or empty, or `overwrite` given.
pub fn claim_bundle_dir(out: &Path, overwrite: bool) -> Result<()> {
    let occupied = std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some());
    if out.exists() && !out.is_dir() {
        bail!(
            "{}: exists and is not a directory; give a new bundle directory",
            out.display()
        );
    }
    if occupied && !overwrite {
        bail!(
            "{}: already holds files (a bundle?); use --overwrite to replace it, or give a new \
             directory",
            out.display()
        );
    }
    Ok(())
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
        let prepared = crate::train::prepare::prepare(&self.config)?;
        let model = scgenept_model::load_checkpoint::<B::InnerBackend>(&self.checkpoint, &device)?;
        let source = Source {
            run: &self.run,
            config: &self.config,
            finished: crate::run::dir::RunDir::new(&self.run).is_finished(),
        };
        export_bundle(&model, &prepared, &source, &self.out, self.pool)
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
                "go_c_concat".parse().unwrap(),
                vec!["A".to_string(), "B".to_string()],
            )]
            .into(),
            source_run: String::new(),
            provenance: None,
        };
        assert_eq!(
            check_perturbations(&meta, "A, A+B").unwrap(),
            vec!["A+ctrl", "A+B"]
        );
        let e = check_perturbations(&meta, "A+Z,Y").unwrap_err().to_string();
        assert!(e.contains("Z, Y") && e.contains("cannot be flagged"), "{e}");
        assert!(!e.contains("did you mean"), "{e}");
        let e = check_perturbations(&meta, "a+B").unwrap_err().to_string();
        assert!(e.contains("did you mean A for a?"), "{e}");
        let e = check_perturbations(&meta, "C").unwrap_err().to_string();
        assert!(e.contains("no 'go_c_concat' knowledge vector for C"), "{e}");
        assert!(check_perturbations(&meta, "A+B+C").is_err());
        // The hint names genes the demo model has (it has no FOSB).
        let e = check_perturbations(&meta, " , ").unwrap_err().to_string();
        assert!(e.contains("CEBPE+ETS2,KLF1"), "{e}");
    }
}
