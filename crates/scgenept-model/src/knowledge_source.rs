//! Knowledge sources, named once: which gene text a knowledge table embeds ([`TextSource`]), how
//! GO text becomes one vector ([`EmbedMode`]), and the source a model branch reads
//! ([`KnowledgeSource`]). Configs, bundles and tables keep today's names (`go_c_concat`,
//! `ncbi_uniprot`, `random`); inside the program a name is parsed once into these types, so the
//! model, knowledge and training crates never format and re-parse it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A source name (or embedding mode) that is not one of ours.
#[derive(Debug, thiserror::Error)]
pub enum SourceNameError {
    #[error(
        "unknown knowledge source '{0}'; valid: go_{{f,c,p,all}}_{{concat,avg}}, ncbi, \
         ncbi_uniprot, random"
    )]
    Source(String),
    #[error("unknown knowledge source '{0}'; valid: go_f, go_c, go_p, go_all, ncbi, ncbi_uniprot")]
    Text(String),
    #[error("unknown embedding mode '{0}': use concat or avg")]
    Mode(String),
}

/// The gene text behind a knowledge table: a GO aspect (GO-all joins the three) or the NCBI
/// (+ UniProt) gene summaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TextSource {
    GoF,
    GoC,
    GoP,
    GoAll,
    Ncbi,
    NcbiUniprot,
}

impl TextSource {
    pub const ALL: [TextSource; 6] = [
        TextSource::GoF,
        TextSource::GoC,
        TextSource::GoP,
        TextSource::GoAll,
        TextSource::Ncbi,
        TextSource::NcbiUniprot,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TextSource::GoF => "go_f",
            TextSource::GoC => "go_c",
            TextSource::GoP => "go_p",
            TextSource::GoAll => "go_all",
            TextSource::Ncbi => "ncbi",
            TextSource::NcbiUniprot => "ncbi_uniprot",
        }
    }

    /// GO text (embedded per term, so it has an `avg` mode); the summaries are one text per gene.
    pub fn is_go(self) -> bool {
        !matches!(self, TextSource::Ncbi | TextSource::NcbiUniprot)
    }
}

impl fmt::Display for TextSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for TextSource {
    type Err = SourceNameError;
    fn from_str(s: &str) -> Result<Self, SourceNameError> {
        (TextSource::ALL.into_iter())
            .find(|t| t.name() == s)
            .ok_or_else(|| SourceNameError::Text(s.to_string()))
    }
}

/// How GO text becomes one vector: the gene's terms joined into one text (`concat`) or each term
/// embedded and the vectors averaged (`avg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EmbedMode {
    Concat,
    Avg,
}

impl FromStr for EmbedMode {
    type Err = SourceNameError;
    fn from_str(s: &str) -> Result<Self, SourceNameError> {
        match s {
            "concat" => Ok(Self::Concat),
            "avg" => Ok(Self::Avg),
            _ => Err(SourceNameError::Mode(s.to_string())),
        }
    }
}

impl fmt::Display for EmbedMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Concat => "concat",
            Self::Avg => "avg",
        })
    }
}

/// The knowledge a model branch reads: GO text in a mode (`go_c_concat`), a gene summary
/// (`ncbi`, `ncbi_uniprot`; always one text per gene), or the seeded random control (`random`).
/// Ordered by name, as the tables of a config have always been listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KnowledgeSource {
    Go(TextSource, EmbedMode),
    Summary(TextSource),
    Random,
}

impl KnowledgeSource {
    /// GO `aspect` text in `mode`, or a summary source (whose mode is always concat).
    pub fn text(text: TextSource, mode: EmbedMode) -> Self {
        if text.is_go() {
            KnowledgeSource::Go(text, mode)
        } else {
            KnowledgeSource::Summary(text)
        }
    }

    /// The gene text and embedding mode behind the source; `None` for the random control.
    pub fn gene_text(self) -> Option<(TextSource, EmbedMode)> {
        match self {
            KnowledgeSource::Go(t, m) => Some((t, m)),
            KnowledgeSource::Summary(t) => Some((t, EmbedMode::Concat)),
            KnowledgeSource::Random => None,
        }
    }

    pub fn is_random(self) -> bool {
        self == KnowledgeSource::Random
    }

    /// The reference's attribute the branch's weights live under (docs/reference.md §1.3): GO-all
    /// under `gopt_encoder_f`, exactly as in the reference.
    pub fn state_prefix(self) -> String {
        match self {
            KnowledgeSource::Go(TextSource::GoAll, _) => "gopt_encoder_f".into(),
            KnowledgeSource::Go(t, _) => format!("gopt_encoder_{}", &t.name()[3..]),
            KnowledgeSource::Summary(_) => "genept_encoder".into(),
            KnowledgeSource::Random => "random_encoder".into(),
        }
    }

    /// The projection Linear's name inside [`Self::state_prefix`].
    pub fn proj_key(self) -> ProjKey {
        match self {
            KnowledgeSource::Go(..) => ProjKey::Fc,
            _ => ProjKey::ProjLayer,
        }
    }
}

impl Ord for KnowledgeSource {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.to_string().cmp(&other.to_string())
    }
}

impl PartialOrd for KnowledgeSource {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for KnowledgeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KnowledgeSource::Go(t, m) => f.pad(&format!("{t}_{m}")),
            KnowledgeSource::Summary(t) => f.pad(t.name()),
            KnowledgeSource::Random => f.pad("random"),
        }
    }
}

impl FromStr for KnowledgeSource {
    type Err = SourceNameError;
    fn from_str(s: &str) -> Result<Self, SourceNameError> {
        let unknown = || SourceNameError::Source(s.to_string());
        if s == "random" {
            return Ok(KnowledgeSource::Random);
        }
        if let Ok(t) = s.parse::<TextSource>() {
            return (!t.is_go())
                .then_some(KnowledgeSource::Summary(t))
                .ok_or_else(unknown);
        }
        let (text, mode) = s.rsplit_once('_').ok_or_else(unknown)?;
        match (text.parse::<TextSource>(), mode.parse::<EmbedMode>()) {
            (Ok(t), Ok(m)) if t.is_go() => Ok(KnowledgeSource::Go(t, m)),
            _ => Err(unknown()),
        }
    }
}

impl serde::Serialize for KnowledgeSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for KnowledgeSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The reference's name of a knowledge encoder's projection Linear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProjKey {
    /// `GenePTEncoder.proj_layer`.
    #[serde(rename = "proj_layer")]
    ProjLayer,
    /// `GOPTEncoder.fc`.
    #[serde(rename = "fc")]
    Fc,
}

impl ProjKey {
    pub fn as_str(self) -> &'static str {
        match self {
            ProjKey::ProjLayer => "proj_layer",
            ProjKey::Fc => "fc",
        }
    }
}

impl std::fmt::Display for ProjKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ProjKey {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name a config, bundle or table holds today parses and is written back unchanged.
    #[test]
    fn names_round_trip_as_today() {
        let mut names = vec!["ncbi".to_string(), "ncbi_uniprot".into(), "random".into()];
        for a in ["f", "c", "p", "all"] {
            for m in ["concat", "avg"] {
                names.push(format!("go_{a}_{m}"));
            }
        }
        for n in &names {
            let s: KnowledgeSource = n.parse().unwrap();
            assert_eq!(&s.to_string(), n);
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{n}\""));
            assert_eq!(serde_json::from_str::<KnowledgeSource>(&json).unwrap(), s);
        }
        for bad in [
            "go_c",
            "ncbi_avg",
            "ncbi_uniprot_concat",
            "go_x_concat",
            "genept",
            "",
        ] {
            let e = bad.parse::<KnowledgeSource>().unwrap_err().to_string();
            assert!(
                e.contains("unknown knowledge source") && e.contains("ncbi_uniprot"),
                "{e}"
            );
        }
    }

    #[test]
    fn branches_live_under_the_reference_names() {
        let s = |n: &str| n.parse::<KnowledgeSource>().unwrap();
        assert_eq!(s("go_all_concat").state_prefix(), "gopt_encoder_f");
        assert_eq!(s("go_c_avg").state_prefix(), "gopt_encoder_c");
        assert_eq!(s("go_c_avg").proj_key(), ProjKey::Fc);
        assert_eq!(s("ncbi_uniprot").state_prefix(), "genept_encoder");
        assert_eq!(s("ncbi").proj_key(), ProjKey::ProjLayer);
        assert_eq!(s("random").state_prefix(), "random_encoder");
        assert_eq!(
            s("ncbi_uniprot").gene_text(),
            Some((TextSource::NcbiUniprot, EmbedMode::Concat))
        );
    }
}
