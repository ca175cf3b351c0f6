//! `scgenept`: train, evaluate, export and run scGenePT models. A thin layer over the library
//! crates: argument parsing, logging setup, and one-line errors.

mod baselines_cmd;
mod bench_cmd;
mod data_cmd;
mod demo_cmd;
mod eval_cmd;
mod fetch_cmd;
mod knowledge_cmd;
mod model_cmd;
mod panic_exit;
mod plot_cmd;
mod predict_cmd;
mod report;
mod run_args;
mod screen_cmd;
mod sweep_cmd;
mod train_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "scgenept",
    version,
    about = "Predict CRISPR perturbation responses with scGPT + gene knowledge (scGenePT)"
)]
struct Cli {
    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prove the network on this machine: import the committed reference checkpoint, compare the
    /// forward pass with PyTorch's, export a bundle, and time one training step.
    Demo(demo_cmd::DemoArgs),
    /// Build, import, inspect and export model checkpoints.
    #[command(subcommand)]
    Model(model_cmd::ModelCommand),
    /// Datasets: synthetic data, inspection, the GEARS split, fetching the real datasets.
    #[command(subcommand)]
    Data(data_cmd::DataCommand),
    /// Train a model from a config file, then score it on the test split beside the baselines.
    Train(train_cmd::TrainArgs),
    /// Train run configs × seeds (resumable), then the table of mean ± 95% CI over seeds with the
    /// baselines as rows (CSV, Markdown, bar plot).
    Sweep(sweep_cmd::SweepArgs),
    /// Figures of a finished run: the GEARS-style perturbation figure, or the learning curve.
    Plot(plot_cmd::PlotArgs),
    /// Write a self-contained inference bundle from a finished run.
    Export(predict_cmd::ExportArgs),
    /// Predict the mean expression after perturbations with an exported bundle.
    Predict(predict_cmd::PredictArgs),
    /// Screen every pair of a gene list in silico: predicted alone and together, ranked by GEARS'
    /// genetic-interaction scores (resumable).
    Screen(screen_cmd::ScreenArgs),
    /// Score the simple baselines (control mean, non-ctrl mean, random perturbation, additive,
    /// Systema's matching mean; ridge and kNN given a knowledge table) and the split-half
    /// replicate ceiling on a dataset's test split with GEARS' metrics, per subgroup.
    Baselines(baselines_cmd::BaselinesArgs),
    /// Score predicted cells against real cells with a rulebook's metrics (cell-eval's names and
    /// files: results.csv per perturbation, agg_results.csv, summary.md).
    Eval(eval_cmd::EvalArgs),
    /// Gene-knowledge text per knowledge source.
    #[command(subcommand)]
    Knowledge(knowledge_cmd::KnowledgeCommand),
    /// Benchmarks (numbers for benches/, never asserted).
    #[command(subcommand)]
    Bench(bench_cmd::BenchCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    panic_exit::install();
    scgenept_train::train::interrupt::install();
    let level = match cli.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "scgenept={level},scgenept_model={level},scgenept_train={level},scgenept_data={level},scgenept_eval={level}"
        ))
    });
    // Colour only on a terminal, and never with NO_COLOR set (log files stay plain text).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .init();
    // Environment switches read deep inside the kernels are checked here, so a misspelt one is a
    // one-line error rather than an internal failure halfway through a run.
    if let Err(e) = scgenept_model::attention::fused_plan::Kernels::from_env() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Demo(a) => demo_cmd::run(a),
        Command::Model(c) => model_cmd::run(c),
        Command::Bench(c) => bench_cmd::run(c),
        Command::Knowledge(c) => knowledge_cmd::run(c),
        Command::Data(c) => data_cmd::run(c),
        Command::Baselines(a) => baselines_cmd::run(a),
        Command::Eval(a) => eval_cmd::run(a),
        Command::Train(a) => train_cmd::run(a),
        Command::Sweep(a) => sweep_cmd::run(a),
        Command::Plot(a) => plot_cmd::run(a),
        Command::Export(a) => predict_cmd::export(a),
        Command::Predict(a) => predict_cmd::predict(a),
        Command::Screen(a) => screen_cmd::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<scgenept_train::train::interrupt::Interrupted>() {
            // Ctrl-C or SIGTERM: the conventional status 130, and how to continue.
            Some(i) => {
                eprintln!("{i}");
                ExitCode::from(130)
            }
            None => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}
