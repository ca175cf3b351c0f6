//! `scgenept knowledge …`: the gene-knowledge text behind each knowledge source.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Subcommand;

use scgenept_data::{GeneText, KnowledgeTable, TextSource};

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
                match text.text(&gene, s) {
                    Some(t) => {
                        any = true;
                        println!("[{s}]\n{t}\n");
                    }
                    None => println!("[{s}]\n(no text)\n"),
                }
            }
            if !any {
                bail!("no knowledge text for gene '{gene}' in any source (symbols are case-sensitive, e.g. FOSB)");
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
