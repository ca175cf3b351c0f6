//! `scgenept knowledge …`: the gene-knowledge text behind each knowledge source.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};

use scgenept_data::gene_list::{read_gene_list, read_perturbation_targets};
use scgenept_knowledge::build::{coverage, embed_source, BuildSource};
use scgenept_knowledge::EmbedMode;
use scgenept_knowledge::{GeneText, KnowledgeTable, Resolved, TableFormat, TextSource};

/// Where the gene text comes from: the annotations shipped in the binary unless a file is given.
#[derive(Args, Debug, Clone, Default)]
pub struct TextFiles {
    /// GO annotations to use instead of the shipped ones: `symbol<TAB>BP|CC|MF<TAB>t1; t2` lines,
    /// optionally gzipped (the shipped table's format; `scripts/build_go_annotations.sh`).
    #[arg(long, value_name = "TSV")]
    go_annotations: Option<PathBuf>,
    /// NCBI+UniProt summaries to use instead of the shipped 1,915 perturbation targets: a JSON
    /// object `{symbol: "Gene Symbol X <NCBI> Protein summary: <UniProt>"}`, e.g. GenePT's text
    /// for every gene.
    #[arg(long, value_name = "JSON")]
    summaries: Option<PathBuf>,
}

impl TextFiles {
    fn load(&self) -> Result<GeneText> {
        let mut text = GeneText::embedded();
        if let Some(p) = &self.go_annotations {
            text = text.with_go_file(p)?;
        }
        if let Some(p) = &self.summaries {
            text = text.with_summaries_file(p)?;
        }
        Ok(text)
    }

    /// Provenance entry: which text the table was embedded from.
    fn describe(&self) -> String {
        let file = |p: &Option<PathBuf>, shipped: &str| {
            p.as_ref()
                .map_or(shipped.to_string(), |p| p.display().to_string())
        };
        format!(
            "GO: {}; summaries: {}",
            file(
                &self.go_annotations,
                "shipped org.Hs.eg.db 3.16 / GO 2022-07-01"
            ),
            file(
                &self.summaries,
                "shipped GenePT NCBI+UniProt (1,915 targets)"
            )
        )
    }
}

#[derive(Args)]
pub struct BuildArgs {
    /// go_f, go_c, go_p, go_all, ncbi, ncbi_uniprot or random.
    #[arg(long)]
    source: BuildSource,
    /// concat (embed the joined text once) or avg (embed each GO term, average).
    #[arg(long, default_value = "concat")]
    mode: EmbedMode,
    /// Genes, one symbol a line (`#` comments allowed), or an h5ad (its var.gene_name).
    #[arg(long)]
    genes: PathBuf,
    /// Output table (.safetensors).
    #[arg(long)]
    out: PathBuf,
    /// MiniLM directory holding model.safetensors and tokenizer.json (default:
    /// $SCGENEPT_MINILM_DIR, else downloaded once into $SCGENEPT_CACHE/minilm/).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Embedding cache file (default $SCGENEPT_CACHE/embeddings/minilm-l6-v2.bin;
    /// SCGENEPT_CACHE defaults to ~/.cache/scgenept).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Width of the random table.
    #[arg(long, default_value_t = scgenept_knowledge::minilm::DIM)]
    dim: usize,
    /// Seed of the random table.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    text: TextFiles,
}

#[derive(Subcommand)]
pub enum KnowledgeCommand {
    /// Print each source's text for a gene (GO-F/C/P/all, NCBI, NCBI+UniProt).
    Show {
        /// Gene symbol, e.g. FOSB.
        gene: String,
        /// Only this source: go_f, go_c, go_p, go_all, ncbi, ncbi_uniprot.
        #[arg(long)]
        source: Option<TextSource>,
        #[command(flatten)]
        text: TextFiles,
    },
    /// Per source, how many of a gene list have text; lists genes matched through an alias,
    /// ambiguous aliases and genes without text.
    Coverage {
        /// Gene symbols, one a line (`#` comments allowed), or an h5ad (its var.gene_name).
        #[arg(long)]
        genes: PathBuf,
        #[command(flatten)]
        text: TextFiles,
    },
    /// Embed each gene's text for a knowledge source with the local MiniLM into a table
    /// (or draw the seeded random control table with `--source random`).
    Build(BuildArgs),
    /// Convert a distributed embedding file (GenePT/scGenePT pickle, CSV or TSV in the usual
    /// layouts, pandas `to_csv` included, or
    /// `.npy` with --genes) into a knowledge table (safetensors + gene list + provenance).
    Import {
        /// The embedding file: .pkl/.pickle, .csv, .tsv or .npy.
        file: PathBuf,
        /// Gene list for a .npy file, one symbol a line, in row order.
        #[arg(long)]
        genes: Option<PathBuf>,
        /// pickle, csv, tsv or npy (default: from the extension). CSV/TSV layouts are detected:
        /// `symbol,v1..vN` with or without a header row, and pandas `to_csv` files.
        #[arg(long)]
        format: Option<TableFormat>,
        /// Output table, e.g. knowledge/ncbi_uniprot_ada.safetensors.
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(cmd: KnowledgeCommand) -> Result<()> {
    match cmd {
        KnowledgeCommand::Show { gene, source, text } => show(&gene, source, &text),
        KnowledgeCommand::Coverage { genes, text } => print_coverage(&genes, &text),
        KnowledgeCommand::Build(a) => build(a),
        KnowledgeCommand::Import {
            file,
            genes,
            format,
            out,
        } => {
            let table = KnowledgeTable::import(&file, genes.as_deref(), format)?;
            table.save(&out)?;
            println!(
                "wrote {}: {} genes × {} dims",
                out.display(),
                table.len(),
                table.dim()
            );
            let misspelt = other_case(table.genes());
            if !misspelt.is_empty() {
                println!(
                    "warning: {} gene(s) match a known symbol only in another case, so no \
                     dataset gene will find them (symbols are case-sensitive): {}",
                    misspelt.len(),
                    scgenept_data::perturb_data::preview(&misspelt)
                );
            }
            Ok(())
        }
    }
}

/// `knowledge coverage`: per source, the genes with text; for an h5ad also its perturbation
/// targets (a target without text keeps the model's random row, like any gene without text).
fn print_coverage(path: &std::path::Path, text: &TextFiles) -> Result<()> {
    let genes = read_gene_list(path)?;
    let text = text.load()?;
    for (s, c) in coverage(&text, &genes) {
        println!("{s:<13} {}/{} genes with text", c.covered, genes.len());
        print_matches(&c.via_alias, &c.ambiguous, &c.without_text, "ambiguous");
    }
    let Some(targets) = read_perturbation_targets(path)? else {
        return Ok(());
    };
    println!(
        "perturbation targets ({}, from obs.condition):",
        targets.len()
    );
    for (s, c) in coverage(&text, &targets) {
        let ambiguous: Vec<String> = c.ambiguous.iter().map(|(g, _)| g.clone()).collect();
        let mut missing = String::new();
        for (what, genes) in [("without", &c.without_text), ("ambiguous", &ambiguous)] {
            if !genes.is_empty() {
                let list = scgenept_data::perturb_data::preview(genes);
                missing.push_str(&format!("; {what}: {list}"));
            }
        }
        println!(
            "{s:<13} {}/{} targets with text{missing}",
            c.covered,
            targets.len()
        );
    }
    Ok(())
}

/// Genes of an imported table that are not HGNC symbols as written but are in another case
/// (`klf1` for KLF1), as `klf1 → KLF1`.
fn other_case(genes: &[String]) -> Vec<String> {
    let text = GeneText::embedded();
    let known = text.annotated_genes();
    let exact: std::collections::HashSet<&str> = known.iter().copied().collect();
    let folded: std::collections::HashMap<String, &str> = (known.iter())
        .map(|g| (g.to_ascii_uppercase(), *g))
        .collect();
    (genes.iter())
        .filter(|g| !exact.contains(g.as_str()))
        .filter_map(|g| {
            let hit = folded.get(&g.to_ascii_uppercase())?;
            Some(format!("{g} → {hit}"))
        })
        .collect()
}

/// `knowledge show`: each source's text for `gene`.
fn show(gene: &str, source: Option<TextSource>, text: &TextFiles) -> Result<()> {
    let text = text.load()?;
    let sources = match source {
        Some(s) => vec![s],
        None => TextSource::ALL.to_vec(),
    };
    let mut any = false;
    for s in sources {
        match text.lookup(gene, s) {
            (Some(t), how) => {
                any = true;
                let via = match how {
                    Resolved::Alias(current) => format!(" (as {current})"),
                    _ => String::new(),
                };
                println!("[{s}]{via}\n{t}\n");
            }
            (None, Resolved::Ambiguous(c)) => {
                println!("[{s}]\n(no text: ambiguous alias of {})\n", c.join(", "))
            }
            (None, _) => println!("[{s}]\n(no text)\n"),
        }
    }
    if !any {
        let hint = (text.annotated_genes().into_iter())
            .find(|g| g.eq_ignore_ascii_case(gene))
            .map(|g| format!("; did you mean {g}?"))
            .unwrap_or_default();
        bail!(
            "no knowledge text for gene '{gene}' in any source (symbols are case-sensitive{hint})"
        );
    }
    Ok(())
}

/// `knowledge build`: a table embedded from gene text, or the seeded random control.
fn build(a: BuildArgs) -> Result<()> {
    let BuildArgs {
        source,
        mode,
        genes,
        out,
        model_dir,
        cache,
        batch,
        dim,
        seed,
        text: text_files,
    } = a;
    let genes = read_gene_list(&genes)?;
    let BuildSource::Text(source) = source else {
        let table = KnowledgeTable::random(&genes, dim, seed)?;
        table.save(&out)?;
        println!(
            "wrote {}: random, {} genes × {dim}, seed {seed}",
            out.display(),
            table.len()
        );
        return Ok(());
    };
    let text = text_files.load()?;
    let (mut table, r) = embed_source(
        &text,
        source,
        mode,
        &genes,
        model_dir.as_deref(),
        cache.as_deref(),
        batch,
    )?;
    table
        .provenance
        .insert("text".into(), text_files.describe());
    table.save(&out)?;
    // Throughput only means something when the model ran for a while.
    let rate = if r.seconds >= 0.5 {
        format!(
            " ({:.0} genes/s, {:.0} word pieces/s)",
            r.with_text as f64 / r.seconds,
            r.word_pieces as f64 / r.seconds
        )
    } else {
        String::new()
    };
    println!(
            "wrote {}: {source} ({mode}), {}/{} genes with text, {} × {}; {} texts ({} from cache, {} word pieces embedded) in {:.1} s{rate}",
            out.display(),
            r.with_text,
            r.asked,
            table.len(),
            table.dim(),
            r.texts,
            r.texts_from_cache,
            r.word_pieces,
            r.seconds
        );
    print_matches(
        &r.via_alias,
        &r.ambiguous,
        &r.without_text,
        "ambiguous, left out",
    );
    Ok(())
}

/// The genes matched through an alias, the ambiguous ones and those without text, one line each
/// (none when empty).
fn print_matches(
    via_alias: &[(String, String)],
    ambiguous: &[(String, Vec<String>)],
    without_text: &[String],
    ambiguous_label: &str,
) {
    let alias: Vec<String> = via_alias.iter().map(|(a, b)| format!("{a}→{b}")).collect();
    let ambiguous: Vec<String> = ambiguous
        .iter()
        .map(|(a, c)| format!("{a}({})", c.join("|")))
        .collect();
    for (label, v) in [
        ("via alias", alias),
        (ambiguous_label, ambiguous),
        ("no text", without_text.to_vec()),
    ] {
        if !v.is_empty() {
            println!("  {label} ({}): {}", v.len(), v.join(" "));
        }
    }
}
