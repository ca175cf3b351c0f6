//! Knowledge tables: one embedding vector per gene symbol for a knowledge source, as the model's
//! knowledge branch consumes them. Stored as safetensors (`embeddings` `[genes, d]` f32) with the
//! gene list and provenance in the header metadata; imported from the files GenePT / scGenePT
//! distribute (pickled dicts), delimited text (`table_text.rs`) or `.npy` + a gene list.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use scgenept_data::pickle::read_embedding_pickle;

const TENSOR: &str = "embeddings";

use crate::error::table_err as err;
pub use crate::error::TableError;

/// The file kinds `KnowledgeTable::import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableFormat {
    Pickle,
    Csv,
    Tsv,
    Npy,
}

impl TableFormat {
    pub const NAMES: &'static str = "pickle, csv, tsv or npy";

    fn name(self) -> &'static str {
        match self {
            Self::Pickle => "pickle",
            Self::Csv => "csv",
            Self::Tsv => "tsv",
            Self::Npy => "npy",
        }
    }

    /// From the extension; a `.csv` whose first line has tabs and no commas is TSV.
    pub fn guess(path: &Path) -> Result<Self, TableError> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext.to_ascii_lowercase().as_str() {
            "pkl" | "pickle" => Ok(Self::Pickle),
            "tsv" | "tab" => Ok(Self::Tsv),
            "npy" => Ok(Self::Npy),
            "csv" | "txt" => {
                let mut first = String::new();
                if let Ok(f) = std::fs::File::open(path) {
                    use std::io::BufRead;
                    let _ = std::io::BufReader::new(f).read_line(&mut first);
                }
                Ok(if first.contains('\t') && !first.contains(',') {
                    Self::Tsv
                } else {
                    Self::Csv
                })
            }
            _ => Err(err(
                path,
                format!(
                    "unknown table format '.{ext}': pass --format ({})",
                    Self::NAMES
                ),
            )),
        }
    }
}

impl std::fmt::Display for TableFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for TableFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Self::Pickle, Self::Csv, Self::Tsv, Self::Npy]
            .into_iter()
            .find(|f| f.name() == s || (s == "pkl" && *f == Self::Pickle))
            .ok_or_else(|| format!("unknown table format '{s}': use {}", Self::NAMES))
    }
}

/// Gene symbol → vector, all of width `dim`.
#[derive(Clone, Debug, PartialEq)]
pub struct KnowledgeTable {
    genes: Vec<String>,
    index: HashMap<String, usize>,
    dim: usize,
    data: Vec<f32>,
    /// Where the table came from: source, mode, model, file, date, … (free-form).
    pub provenance: BTreeMap<String, String>,
}

impl KnowledgeTable {
    /// Builds a table, refusing duplicate genes, ragged widths and non-finite values.
    /// `origin` names the input in errors.
    pub fn from_pairs(
        pairs: Vec<(String, Vec<f32>)>,
        provenance: BTreeMap<String, String>,
        origin: &Path,
    ) -> Result<Self, TableError> {
        let dim = pairs.first().map(|(_, v)| v.len()).unwrap_or(0);
        if dim == 0 {
            return Err(err(origin, "no gene vectors found"));
        }
        let mut genes = Vec::with_capacity(pairs.len());
        let mut index = HashMap::with_capacity(pairs.len());
        let mut data = Vec::with_capacity(pairs.len() * dim);
        for (gene, v) in pairs {
            if v.len() != dim {
                return Err(err(
                    origin,
                    format!(
                        "gene '{gene}' has {} values, the first gene has {dim}",
                        v.len()
                    ),
                ));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(err(
                    origin,
                    format!("gene '{gene}' has NaN or infinite values"),
                ));
            }
            if index.insert(gene.clone(), genes.len()).is_some() {
                return Err(err(origin, format!("gene '{gene}' appears twice")));
            }
            genes.push(gene);
            data.extend_from_slice(&v);
        }
        Ok(Self {
            genes,
            index,
            dim,
            data,
            provenance,
        })
    }

    /// The random control source: a seeded standard-normal vector per gene, scaled to unit
    /// length like text embeddings.
    pub fn random(genes: &[String], dim: usize, seed: u64) -> Result<Self, TableError> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let pairs = genes
            .iter()
            .map(|g| {
                let v: Vec<f32> = (0..dim)
                    .map(|_| rng.sample::<f32, _>(StandardNormal))
                    .collect();
                let norm = v
                    .iter()
                    .map(|x| x * x)
                    .sum::<f32>()
                    .sqrt()
                    .max(f32::MIN_POSITIVE);
                (g.clone(), v.into_iter().map(|x| x / norm).collect())
            })
            .collect();
        let provenance = BTreeMap::from([
            ("source".to_string(), "random".to_string()),
            ("seed".to_string(), seed.to_string()),
        ]);
        Self::from_pairs(pairs, provenance, Path::new("<random>"))
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn genes(&self) -> &[String] {
        &self.genes
    }

    pub fn len(&self) -> usize {
        self.genes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.genes.is_empty()
    }

    pub fn get(&self, gene: &str) -> Option<&[f32]> {
        self.index
            .get(gene)
            .map(|&i| &self.data[i * self.dim..(i + 1) * self.dim])
    }

    /// Imports a distributed embedding file: a pickled dict of arrays (GenePT / scGenePT),
    /// delimited text in any layout [`crate::table_text`] detects (plain, headed, pandas
    /// `to_csv`; comma or tab), or `.npy` (needs `gene_list`, one symbol a line). `format`
    /// overrides the guess from the extension.
    pub fn import(
        path: &Path,
        gene_list: Option<&Path>,
        format: Option<TableFormat>,
    ) -> Result<Self, TableError> {
        let format = match format {
            Some(f) => f,
            None => TableFormat::guess(path)?,
        };
        let pairs = match format {
            TableFormat::Pickle => read_embedding_pickle(path).map_err(|e| err(path, e.reason))?,
            TableFormat::Csv => crate::table_text::read_delimited(path, b',')?,
            TableFormat::Tsv => crate::table_text::read_delimited(path, b'\t')?,
            TableFormat::Npy => {
                let list = gene_list.ok_or_else(|| {
                    err(
                        path,
                        "a .npy table needs its gene list: pass --genes FILE (one symbol a line)",
                    )
                })?;
                read_npy_with_genes(path, list)?
            }
        };
        let provenance = BTreeMap::from([
            ("imported_from".to_string(), path.display().to_string()),
            ("imported_as".to_string(), format.to_string()),
        ]);
        Self::from_pairs(pairs, provenance, path)
    }

    /// Writes the table atomically (temporary sibling, then rename).
    pub fn save(&self, path: &Path) -> Result<(), TableError> {
        let bytes: Vec<u8> = self.data.iter().flat_map(|x| x.to_le_bytes()).collect();
        let view = TensorView::new(Dtype::F32, vec![self.len(), self.dim], &bytes)
            .map_err(|e| err(path, e.to_string()))?;
        let mut meta: HashMap<String, String> = self
            .provenance
            .iter()
            .map(|(k, v)| (format!("provenance.{k}"), v.clone()))
            .collect();
        meta.insert(
            "genes".into(),
            serde_json::to_string(&self.genes).expect("strings serialise"),
        );
        let out = safetensors::serialize([(TENSOR, view)], &Some(meta))
            .map_err(|e| err(path, e.to_string()))?;
        scgenept_data::files::write_atomic(path, &out).map_err(|e| err(path, e.to_string()))
    }

    /// Reads a table written by [`KnowledgeTable::save`].
    pub fn load(path: &Path) -> Result<Self, TableError> {
        let bytes = std::fs::read(path).map_err(|e| err(path, e.to_string()))?;
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| err(path, format!("not a knowledge table (safetensors): {e}")))?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| err(path, format!("not a knowledge table (safetensors): {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let genes: Vec<String> = meta
            .get("genes")
            .and_then(|g| serde_json::from_str(g).ok())
            .ok_or_else(|| {
                err(
                    path,
                    "no gene list in the header; write tables with `scgenept knowledge import`",
                )
            })?;
        let view = st
            .tensor(TENSOR)
            .map_err(|_| err(path, format!("no '{TENSOR}' tensor")))?;
        if view.dtype() != Dtype::F32 || view.shape().len() != 2 || view.shape()[0] != genes.len() {
            return Err(err(
                path,
                format!(
                    "'{TENSOR}' must be f32 [{} genes, d], found {:?} {:?}",
                    genes.len(),
                    view.dtype(),
                    view.shape()
                ),
            ));
        }
        let dim = view.shape()[1];
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let pairs = genes
            .into_iter()
            .enumerate()
            .map(|(i, g)| (g, data[i * dim..(i + 1) * dim].to_vec()))
            .collect();
        let provenance = meta
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("provenance.")
                    .map(|k| (k.to_string(), v.clone()))
            })
            .collect();
        Self::from_pairs(pairs, provenance, path)
    }
}

/// Reads a 2-D little-endian f4/f8 C-order `.npy` and pairs its rows with the gene list.
fn read_npy_with_genes(
    path: &Path,
    gene_list: &Path,
) -> Result<Vec<(String, Vec<f32>)>, TableError> {
    let bytes = std::fs::read(path).map_err(|e| err(path, e.to_string()))?;
    if !bytes.starts_with(b"\x93NUMPY") || bytes.len() < 10 {
        return Err(err(path, "not a .npy file"));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(err(path, format!("unsupported .npy version {v}"))),
    };
    let header = std::str::from_utf8(
        bytes
            .get(start..start + hlen)
            .ok_or_else(|| err(path, "truncated header"))?,
    )
    .map_err(|_| err(path, "header is not text"))?;
    let field = |key: &str| -> Option<&str> {
        let i = header.find(&format!("'{key}':"))? + key.len() + 3;
        Some(header[i..].trim_start())
    };
    let descr = field("descr").ok_or_else(|| err(path, "header lacks descr"))?;
    let width = if descr.starts_with("'<f8'") {
        8
    } else if descr.starts_with("'<f4'") {
        4
    } else {
        return Err(err(
            path,
            "only little-endian float32/float64 .npy tables are supported",
        ));
    };
    if field("fortran_order").is_some_and(|f| f.starts_with("True")) {
        return Err(err(
            path,
            "Fortran-ordered arrays are not supported; save with np.ascontiguousarray",
        ));
    }
    let shape_text = field("shape").ok_or_else(|| err(path, "header lacks shape"))?;
    let inner = &shape_text[1..shape_text.find(')').ok_or_else(|| err(path, "bad shape"))?];
    let shape: Vec<usize> = inner
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().map_err(|_| err(path, "bad shape")))
        .collect::<Result<_, _>>()?;
    let [rows, dim] = shape[..] else {
        return Err(err(
            path,
            format!("expected a 2-D array [genes, d], found shape {shape:?}"),
        ));
    };
    let body = &bytes[start + hlen..];
    if body.len() != rows * dim * width {
        return Err(err(path, "array data is truncated"));
    }
    let values: Vec<f32> = if width == 8 {
        body.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8")) as f32)
            .collect()
    } else {
        body.chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4")))
            .collect()
    };
    let list = std::fs::read_to_string(gene_list).map_err(|e| err(gene_list, e.to_string()))?;
    let genes: Vec<String> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if genes.len() != rows {
        return Err(err(
            gene_list,
            format!("{} genes listed but the array has {rows} rows", genes.len()),
        ));
    }
    Ok(genes
        .into_iter()
        .enumerate()
        .map(|(i, g)| (g, values[i * dim..(i + 1) * dim].to_vec()))
        .collect())
}

/// The embedding baselines of the evaluation crate read a table through this.
impl scgenept_eval::baselines::GeneVectors for KnowledgeTable {
    fn dim(&self) -> usize {
        KnowledgeTable::dim(self)
    }
    fn get(&self, gene: &str) -> Option<&[f32]> {
        KnowledgeTable::get(self, gene)
    }
}
