//! `scgenept screen`: every pair of a gene list predicted from a bundle and ranked by GEARS'
//! genetic-interaction scores (the work is in `scgenept_train::screen`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use scgenept_train::infer::predict::Pool;
use scgenept_train::screen::plot::{draw_screen, draws_title, screen_title};
use scgenept_train::screen::rows::Ranking;
use scgenept_train::screen::run::{parts_dir, ScreenJob};
use scgenept_train::screen::{Pairs, ScreenRequest};
use scgenept_train::Device;

#[derive(Args)]
pub struct ScreenArgs {
    /// A bundle from `scgenept export`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// The genes to screen, one per line.
    #[arg(long)]
    genes: PathBuf,
    /// `all` pairs of the genes, or a file of pairs (one per line: A+B).
    #[arg(long, default_value = "all")]
    pairs: String,
    /// The ranked table (CSV). Work in progress is kept in `<out>.parts/`: rerun the same
    /// command after an interruption and it continues.
    #[arg(long)]
    out: PathBuf,
    /// Drop listed genes the model cannot perturb (named on stderr) instead of stopping.
    #[arg(long)]
    skip_unknown: bool,
    /// Genes the scores are computed over, one per line (GEARS' GI_genes_file); default: all.
    #[arg(long)]
    gi_genes: Option<PathBuf>,
    /// Rank by this score, largest first: mag, c1, c2, corr_fit, dcor, dcor_singles,
    /// dcor_first, dcor_second, dominance, eq_contr.
    #[arg(long, default_value = "mag")]
    rank_by: Ranking,
    /// Smallest first instead.
    #[arg(long)]
    ascending: bool,
    /// Also draw the pairs (magnitude × model fit) with the top ones labelled (PNG).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Pairs labelled in the figure and printed.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Control cells to perturb (their ctrl cells); default: the bundle's pool.
    #[arg(long)]
    controls: Option<PathBuf>,
    /// Controls drawn (with replacement) per perturbation.
    #[arg(long, default_value_t = 300, value_parser = crate::predict_cmd::cells_per_forward)]
    pool_size: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Repeat the screen over this many control draws (seeds seed, seed+1, …): each score as the
    /// mean with its 95% interval (`<score>_ci95`), each pair's best and worst rank, and the
    /// ranking's stability (Spearman between draws).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100))]
    draws: u64,
    /// cpu, wgpu[:N] or cuda[:N] (inference, no autodiff).
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Cells per forward pass; default: sized to the device and the network.
    #[arg(long, value_parser = crate::predict_cmd::cells_per_forward)]
    batch_size: Option<usize>,
}

pub fn run(a: ScreenArgs) -> Result<()> {
    // Ctrl-C keeps the finished chunks in `<out>.parts/`: the same command continues.
    let again: Vec<String> = std::env::args()
        .map(|w| scgenept_train::train::interrupt::shell_quote(&w))
        .collect();
    scgenept_train::train::interrupt::set_resume_hint(again.join(" "));
    let pool = Pool {
        size: a.pool_size,
        seed: a.seed,
        per_perturbation: true,
    };
    let request = ScreenRequest {
        bundle: a.checkpoint.clone(),
        genes: a.genes.clone(),
        pairs: match a.pairs.as_str() {
            "all" => Pairs::All,
            file => Pairs::File(file.into()),
        },
        skip_unknown: a.skip_unknown,
        gi_genes: a.gi_genes.clone(),
        controls: a.controls.clone(),
        pool,
    };
    let plan = request.plan()?;
    for (gene, why) in &plan.dropped {
        eprintln!("skipped {gene}: {why}");
    }
    eprintln!(
        "screening {} genes, {} pairs (work kept in {})",
        plan.genes.len(),
        plan.pairs.len(),
        parts_dir(&a.out).display()
    );
    let ranking = Ranking {
        ascending: a.ascending,
        ..a.rank_by
    };
    let done = a.device.dispatch(ScreenJob {
        plan,
        bundle: a.checkpoint.clone(),
        pool,
        out: a.out.clone(),
        ranking,
        batch: a.batch_size,
        draws: a.draws as usize,
    })?;
    if let Some(png) = &a.plot {
        let mut title = screen_title(done.pairs, done.genes, done.synthetic);
        if let Some(s) = &done.stability {
            title = draws_title(&title, s);
        }
        draw_screen(&done.rows, a.top, &title, png)?;
    }
    let draws = match a.draws {
        1 => String::new(),
        n => format!(" over {n} control draws"),
    };
    println!(
        "screened {} pairs of {} genes{draws} in {:.1} s ({} of {} pair predictions from an \
         earlier run) → {}",
        done.pairs,
        done.genes,
        done.seconds,
        done.resumed,
        done.pairs * a.draws as usize,
        a.out.display()
    );
    if let Some(s) = &done.stability {
        println!("{}", s.line());
    }
    let col = ranking.column;
    let name = scgenept_eval::gi::GiScores::NAMES[col];
    for (i, r) in done.rows.iter().take(a.top).enumerate() {
        match &r.spread {
            None => println!("{:>3}. {}+{}  {name} {:.4}", i + 1, r.a, r.b, r.scores[col]),
            Some(sp) => println!(
                "{:>3}. {}+{}  {name} {:.4} ± {:.4}  (rank {}–{} across draws)",
                i + 1,
                r.a,
                r.b,
                r.scores[col],
                sp.ci95[col],
                sp.rank_min,
                sp.rank_max
            ),
        }
    }
    Ok(())
}
