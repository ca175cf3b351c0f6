//! `scgenept knowledge …`: the gene-knowledge text behind each knowledge source.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Subcommand;

use scgenept_data::{GeneText, KnowledgeTable, Resolved, TextSource};

#[derive(Subcommand)]
pub enum KnowledgeCommand {
    /// Print each source's text for a gene (GO-F/C/P/all, NCBI, NCBI+UniProt).
    Show {
        /// Gene symbol, e.g. FOSB.
        gene: String,
        /// Only this source: go_f, go_c, go_p, go_all, ncbi, ncbi_uniprot.
        #[arg(long)]
        source: Option<TextSource>,
    },
    /// Per source, how many of a gene list have text; lists genes matched through an alias,
    /// ambiguous aliases and genes without text.
    Coverage {
        /// Gene symbols, one a line (`#` comments allowed).
        #[arg(long)]
        genes: PathBuf,
    },
    /// Convert a distributed embedding file (GenePT/scGenePT pickle, CSV `symbol,v1..vN`, or
    /// `.npy` with --genes) into a knowledge table (safetensors + gene list + provenance).
    Import {
        /// The embedding file: .pkl/.pickle, .csv or .npy.
        file: PathBuf,
        /// Gene list for a .npy file, one symbol a line, in row order.
        #[arg(long)]
        genes: Option<PathBuf>,
        /// Output table, e.g. knowledge/ncbi_uniprot_ada.safetensors.
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(cmd: KnowledgeCommand) -> Result<()> {
    match cmd {
        KnowledgeCommand::Show { gene, source } => {
            let text = GeneText::embedded();
            let sources = match source {
                Some(s) => vec![s],
                None => TextSource::ALL.to_vec(),
            };
            let mut any = false;
            for s in sources {
                match text.lookup(&gene, s) {
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
                bail!("no knowledge text for gene '{gene}' in any source (symbols are case-sensitive, e.g. FOSB)");
            }
            Ok(())
        }
        KnowledgeCommand::Coverage { genes } => {
            let list = std::fs::read_to_string(&genes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", genes.display()))?;
            let genes: Vec<&str> = list
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect();
            let text = GeneText::embedded();
            for s in TextSource::ALL {
                let (mut alias, mut ambiguous, mut missing) = (vec![], vec![], vec![]);
                let mut covered = 0;
                for g in &genes {
                    match text.lookup(g, s) {
                        (Some(_), Resolved::Alias(c)) => {
                            covered += 1;
                            alias.push(format!("{g}→{c}"))
                        }
                        (Some(_), _) => covered += 1,
                        (None, Resolved::Ambiguous(c)) => {
                            ambiguous.push(format!("{g}({})", c.join("|")))
                        }
                        (None, _) => missing.push(g.to_string()),
                    }
                }
                println!("{s:<13} {covered}/{} genes with text", genes.len());
                for (label, v) in [
                    ("via alias", alias),
                    ("ambiguous", ambiguous),
                    ("no text", missing),
                ] {
                    if !v.is_empty() {
                        println!("  {label} ({}): {}", v.len(), v.join(" "));
                    }
                }
            }
            Ok(())
        }
        KnowledgeCommand::Import { file, genes, out } => {
            let table = KnowledgeTable::import(&file, genes.as_deref())?;
            table.save(&out)?;
            println!(
                "wrote {}: {} genes × {} dims",
                out.display(),
                table.len(),
                table.dim()
            );
            Ok(())
        }
    }
}
