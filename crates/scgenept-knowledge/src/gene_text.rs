//! The text scGenePT embeds for each gene, per knowledge source (docs/reference.md §0, Knowledge
//! sources): GO molecular function / cellular component / biological process as
//! `"Molecular Function: term1, term2, …"`, GO-all as the three joined by a space (F, C, P order),
//! NCBI+UniProt summaries, and NCBI alone (the summary before `" Protein summary:"`).
//!
//! An aspect whose only annotation is its root term (`molecular_function`, …) means "no known
//! function" in GO and yields no text, like a gene without annotations.

use std::collections::HashMap;

use std::io::Read;
use std::path::{Path, PathBuf};

use scgenept_model::TextSource;

const GO_TSV_GZ: &[u8] = include_bytes!("../assets/knowledge/go_terms_by_symbol.tsv.gz");
const ALIASES_TSV_GZ: &[u8] = include_bytes!("../assets/knowledge/symbol_aliases.tsv.gz");
const SUMMARIES_JSON: &str = include_str!("../assets/knowledge/gene_summaries_ncbi_uniprot.json");
const PROTEIN_SUMMARY: &str = " Protein summary:";

#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// The io error is part of the message, not a `source`: the CLI prints error chains, which
    /// would repeat it.
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    Format {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// GO aspects in the order GO-all joins them.
const ASPECTS: [(&str, &str, &str); 3] = [
    ("MF", "Molecular Function", "molecular_function"),
    ("CC", "Cellular Component", "cellular_component"),
    ("BP", "Biological Process", "biological_process"),
];

/// Gene symbol → GO terms per aspect and NCBI+UniProt summary.
#[derive(Clone, Debug, Default)]
pub struct GeneText {
    /// Terms per aspect, in `ASPECTS` order.
    go: HashMap<String, [Vec<String>; 3]>,
    summaries: HashMap<String, String>,
    /// Old or alternative symbol → current symbol(s) (org.Hs.eg.db `alias`).
    aliases: HashMap<String, Vec<String>>,
}

/// How a dataset's gene symbol was matched to the annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// The annotations know the symbol as given.
    AsGiven,
    /// Found under its current symbol (GEARS uses old symbols: AARS → AARS1).
    Alias(String),
    /// The alias names several current genes; none is used.
    Ambiguous(Vec<String>),
    /// No text under the symbol or any alias.
    Unresolved,
}

impl GeneText {
    /// The annotations shipped with the crate (see assets/knowledge/SOURCE.md).
    pub fn embedded() -> Self {
        let tsv = gunzip(GO_TSV_GZ).expect("embedded GO table is valid gzip");
        let origin = Path::new("<embedded go_terms_by_symbol.tsv.gz>");
        let go = parse_go(&tsv, origin).expect("embedded GO table parses");
        let summaries = serde_json::from_str(SUMMARIES_JSON).expect("embedded summaries parse");
        let tsv = gunzip(ALIASES_TSV_GZ).expect("embedded alias table is valid gzip");
        let aliases = tsv
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(a, s)| (a.to_string(), s.split(',').map(str::to_string).collect()))
            .collect();
        Self {
            go,
            summaries,
            aliases,
        }
    }

    /// These annotations with the GO terms replaced by a table read from `go_tsv`
    /// (`symbol \t BP|CC|MF \t t1; t2`, optionally gzipped), e.g. a newer GO release.
    pub fn with_go_file(self, go_tsv: &Path) -> Result<Self, TextError> {
        let bytes = std::fs::read(go_tsv).map_err(io(go_tsv))?;
        let tsv = if bytes.starts_with(&[0x1f, 0x8b]) {
            gunzip(&bytes).map_err(io(go_tsv))?
        } else {
            String::from_utf8(bytes).map_err(|e| TextError::Format {
                path: go_tsv.to_path_buf(),
                line: 0,
                reason: format!("not UTF-8 text: {e}"),
            })?
        };
        Ok(Self {
            go: parse_go(&tsv, go_tsv)?,
            ..self
        })
    }

    /// These annotations with the NCBI+UniProt summaries replaced by a JSON object read from
    /// `summaries_json` (`{symbol: "Gene Symbol X … Protein summary: …"}`), e.g. GenePT's text
    /// for every gene rather than the 1,915 perturbation targets shipped here.
    pub fn with_summaries_file(self, summaries_json: &Path) -> Result<Self, TextError> {
        let text = std::fs::read_to_string(summaries_json).map_err(io(summaries_json))?;
        let summaries = serde_json::from_str(&text).map_err(|e| TextError::Format {
            path: summaries_json.to_path_buf(),
            line: e.line(),
            reason: format!("expected a JSON object of gene symbol → text: {e}"),
        })?;
        Ok(Self { summaries, ..self })
    }

    /// Symbols with at least one GO annotation, sorted.
    pub fn annotated_genes(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.go.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// The text of `gene` for `source`, or `None` when the source says nothing about it.
    pub fn text(&self, gene: &str, source: TextSource) -> Option<String> {
        let aspect = |i: usize| -> Option<String> {
            let terms = self.go.get(gene)?.get(i)?;
            (!terms.is_empty()).then(|| format!("{}: {}", ASPECTS[i].1, terms.join(", ")))
        };
        match source {
            TextSource::GoF => aspect(0),
            TextSource::GoC => aspect(1),
            TextSource::GoP => aspect(2),
            TextSource::GoAll => {
                let parts: Vec<String> = (0..3).filter_map(aspect).collect();
                (!parts.is_empty()).then(|| parts.join(" "))
            }
            TextSource::NcbiUniprot => self.summaries.get(gene).cloned(),
            TextSource::Ncbi => self
                .summaries
                .get(gene)
                .map(|s| match s.find(PROTEIN_SUMMARY) {
                    Some(i) => s[..i].to_string(),
                    None => s.clone(),
                }),
        }
    }

    /// The GO terms behind a GO source, grouped by aspect (one group for GO-F/C/P, up to three
    /// for GO-all), for the `avg` embedding mode; aliases as in [`GeneText::lookup`]. `None` for
    /// text sources and genes without terms.
    pub fn go_terms(&self, gene: &str, source: TextSource) -> Option<Vec<Vec<String>>> {
        let aspects: &[usize] = match source {
            TextSource::GoF => &[0],
            TextSource::GoC => &[1],
            TextSource::GoP => &[2],
            TextSource::GoAll => &[0, 1, 2],
            TextSource::Ncbi | TextSource::NcbiUniprot => return None,
        };
        let symbol = match self.lookup(gene, source) {
            (Some(_), Resolved::AsGiven) => gene.to_string(),
            (Some(_), Resolved::Alias(current)) => current,
            _ => return None,
        };
        let terms = self.go.get(&symbol)?;
        let groups: Vec<Vec<String>> = aspects
            .iter()
            .map(|&i| terms[i].clone())
            .filter(|g| !g.is_empty())
            .collect();
        (!groups.is_empty()).then_some(groups)
    }

    /// The text of `gene` for `source`, trying its current symbol when the annotations do not
    /// know the one given; says how it was matched.
    pub fn lookup(&self, gene: &str, source: TextSource) -> (Option<String>, Resolved) {
        if let Some(t) = self.text(gene, source) {
            return (Some(t), Resolved::AsGiven);
        }
        match self.aliases.get(gene).map(Vec::as_slice) {
            Some([one]) => match self.text(one, source) {
                Some(t) => (Some(t), Resolved::Alias(one.clone())),
                None => (None, Resolved::Unresolved),
            },
            Some(many) if many.len() > 1 => (None, Resolved::Ambiguous(many.to_vec())),
            _ => (None, Resolved::Unresolved),
        }
    }

    /// How many of `genes` have text for `source` (aliases included).
    pub fn coverage<S: AsRef<str>>(&self, genes: &[S], source: TextSource) -> usize {
        genes
            .iter()
            .filter(|g| self.lookup(g.as_ref(), source).0.is_some())
            .count()
    }
}

fn gunzip(bytes: &[u8]) -> std::io::Result<String> {
    let mut s = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut s)?;
    Ok(s)
}

/// The synthetic datasets' effects follow the shipped GO annotations (`scgenept_data::synth`).
impl scgenept_data::synth::GoAnnotations for GeneText {
    fn annotated_genes(&self) -> Vec<&str> {
        GeneText::annotated_genes(self)
    }

    fn go_terms(&self, gene: &str) -> Vec<String> {
        GeneText::go_terms(self, gene, TextSource::GoAll)
            .map(|groups| groups.concat())
            .unwrap_or_default()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TextError + '_ {
    move |cause| TextError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

fn parse_go(tsv: &str, path: &Path) -> Result<HashMap<String, [Vec<String>; 3]>, TextError> {
    let mut go: HashMap<String, [Vec<String>; 3]> = HashMap::new();
    for (n, line) in tsv.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| TextError::Format {
            path: path.to_path_buf(),
            line: n + 1,
            reason,
        };
        let mut cols = line.split('\t');
        let (Some(symbol), Some(code), Some(terms), None) =
            (cols.next(), cols.next(), cols.next(), cols.next())
        else {
            return Err(bad(
                "expected 3 tab-separated columns: symbol, aspect, terms".into(),
            ));
        };
        let i = ASPECTS
            .iter()
            .position(|(c, _, _)| *c == code)
            .ok_or_else(|| bad(format!("aspect '{code}' is not BP, CC or MF")))?;
        let root = ASPECTS[i].2;
        let entry = go.entry(symbol.to_string()).or_default();
        entry[i].extend(
            terms
                .split("; ")
                .map(str::trim)
                .filter(|t| !t.is_empty() && *t != root)
                .map(str::to_string),
        );
    }
    Ok(go)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fosb_text_per_source() {
        let t = GeneText::embedded();
        let f = t.text("FOSB", TextSource::GoF).unwrap();
        assert!(f.starts_with("Molecular Function: RNA polymerase II cis-regulatory region sequence-specific DNA binding, "), "{f}");
        assert!(f.contains("protein binding"));
        let c = t.text("FOSB", TextSource::GoC).unwrap();
        assert_eq!(c, "Cellular Component: chromatin, nucleus, nucleoplasm, intracellular membrane-bounded organelle");
        let p = t.text("FOSB", TextSource::GoP).unwrap();
        assert!(p.starts_with(
            "Biological Process: negative regulation of transcription by RNA polymerase II, "
        ));
        let all = t.text("FOSB", TextSource::GoAll).unwrap();
        assert_eq!(all, format!("{f} {c} {p}"));
        let ncbi = t.text("FOSB", TextSource::Ncbi).unwrap();
        assert!(ncbi.starts_with("Gene Symbol FOSB The Fos gene family consists of 4 members"));
        assert!(!ncbi.contains("Protein summary"));
        let full = t.text("FOSB", TextSource::NcbiUniprot).unwrap();
        assert!(
            full.starts_with(&ncbi)
                && full
                    .contains(" Protein summary: Heterodimerizes with proteins of the JUN family")
        );
    }

    #[test]
    fn root_only_aspects_and_unknown_genes_have_no_text() {
        let t = GeneText::embedded();
        // A1BG: BP and MF are annotated only with their root term.
        assert_eq!(t.text("A1BG", TextSource::GoF), None);
        assert_eq!(t.text("A1BG", TextSource::GoP), None);
        assert!(t.text("A1BG", TextSource::GoC).is_some());
        assert_eq!(
            t.text("A1BG", TextSource::GoAll),
            t.text("A1BG", TextSource::GoC)
        );
        assert_eq!(t.text("NOT_A_GENE", TextSource::GoAll), None);
        assert_eq!(t.text("NOT_A_GENE", TextSource::Ncbi), None);
        assert_eq!(
            t.coverage(&["FOSB", "A1BG", "NOT_A_GENE"], TextSource::GoF),
            1
        );
    }

    #[test]
    fn old_gears_symbols_resolve_through_aliases() {
        let t = GeneText::embedded();
        // GEARS' Adamson/Norman symbols predate the 2022 renames.
        let (text, how) = t.lookup("AARS", TextSource::GoF);
        assert_eq!(how, Resolved::Alias("AARS1".into()));
        assert!(text.unwrap().starts_with("Molecular Function: "));
        assert_eq!(
            t.lookup("C3orf72", TextSource::GoC).1,
            Resolved::Alias("FOXL2NB".into())
        );
        // The summaries are keyed by GEARS' own symbols.
        assert_eq!(t.lookup("AARS", TextSource::Ncbi).1, Resolved::AsGiven);
        assert_eq!(
            t.lookup("SARS", TextSource::GoF).1,
            Resolved::Ambiguous(vec!["SARS1".into(), "SARS2".into()])
        );
        assert_eq!(
            t.lookup("KIAA1804", TextSource::GoF).1,
            Resolved::Unresolved
        );
        assert_eq!(t.coverage(&["AARS", "SARS", "FOSB"], TextSource::GoF), 2);
    }

    #[test]
    fn go_terms_for_avg_mode() {
        let t = GeneText::embedded();
        let c = t.go_terms("FOSB", TextSource::GoC).unwrap();
        assert_eq!(
            c,
            vec![vec![
                "chromatin",
                "nucleus",
                "nucleoplasm",
                "intracellular membrane-bounded organelle"
            ]]
        );
        assert_eq!(t.go_terms("FOSB", TextSource::GoAll).unwrap().len(), 3);
        assert_eq!(t.go_terms("A1BG", TextSource::GoAll).unwrap().len(), 1);
        assert!(
            t.go_terms("AARS", TextSource::GoF).is_some(),
            "through the alias"
        );
        assert!(t.go_terms("FOSB", TextSource::Ncbi).is_none());
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = std::env::temp_dir().join(format!("scgenept-text-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tsv = dir.join("go.tsv");
        let json = dir.join("s.json");
        std::fs::write(&tsv, "FOSB\tXX\tsomething\n").unwrap();
        std::fs::write(&json, "{}").unwrap();
        let load = |tsv: &Path, json: &Path| {
            GeneText::default()
                .with_go_file(tsv)
                .and_then(|t| t.with_summaries_file(json))
        };
        let e = load(&tsv, &json).unwrap_err().to_string();
        assert!(e.contains("go.tsv:1") && e.contains("'XX'"), "{e}");
        std::fs::write(&tsv, "FOSB\tMF\tDNA binding\n").unwrap();
        std::fs::write(&json, "[1]").unwrap();
        let e = load(&tsv, &json).unwrap_err().to_string();
        assert!(e.contains("s.json") && e.contains("gene symbol"), "{e}");
        std::fs::write(
            &json,
            r#"{"FOSB": "Gene Symbol FOSB x Protein summary: y"}"#,
        )
        .unwrap();
        let t = load(&tsv, &json).unwrap();
        assert_eq!(
            t.text("FOSB", TextSource::GoF).unwrap(),
            "Molecular Function: DNA binding"
        );
        assert_eq!(
            t.text("FOSB", TextSource::Ncbi).unwrap(),
            "Gene Symbol FOSB x"
        );
        let e = load(&dir.join("none.tsv"), &json).unwrap_err().to_string();
        assert!(e.contains("none.tsv"), "{e}");
        assert!("go_x".parse::<TextSource>().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
