//! `scgenept data fetch`: progress bar and messages around `scgenept_data::fetch`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use scgenept_data::fetch::{fetch, FetchRequest, DATAVERSE};

#[derive(Args)]
pub struct FetchArgs {
    /// norman, adamson, dixit, replogle_k562_essential or replogle_rpe1_essential.
    pub dataset: String,
    /// Data directory; the dataset lands in <dir>/<dataset>/perturb_processed.h5ad.
    #[arg(long, default_value = "data")]
    pub dir: PathBuf,
    /// Require this SHA-256 of the zip (Dataverse's published MD5 is always checked when given).
    #[arg(long)]
    pub sha256: Option<String>,
    /// Replace an existing dataset directory.
    #[arg(long)]
    pub force: bool,
    /// Dataverse server (for mirrors).
    #[arg(long, default_value = DATAVERSE, env = "SCGENEPT_DATAVERSE_URL")]
    pub base_url: String,
}

pub fn run(a: FetchArgs) -> Result<()> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {wide_bar}",
        )
        .expect("valid template"),
    );
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let req = FetchRequest {
        name: a.dataset.clone(),
        dir: a.dir,
        base_url: a.base_url.trim_end_matches('/').to_string(),
        sha256: a.sha256,
        force: a.force,
    };
    let report = fetch(&req, &mut |done, total| {
        if let Some(t) = total {
            bar.set_length(t);
        }
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let report = report?;
    if report.resumed_from > 0 {
        println!("resumed at byte {}", report.resumed_from);
    }
    println!(
        "fetched {} ({} bytes, sha256 {}, {}) → {}",
        a.dataset,
        report.bytes,
        report.sha256,
        if report.md5_checked {
            "MD5 verified against Dataverse"
        } else {
            "no published checksum to verify"
        },
        report.h5ad.display()
    );
    Ok(())
}
