//! The `scgenept` binary's end-to-end tests, one test binary: every test binary is linked on its
//! own, so one per crate keeps the build short (ARCHITECTURE.md, code map: `tests/`).

// First in name order, which is the order libtest starts tests in: the README's two tests take
// about 160 of the suite's 215 test-seconds, so on 2 cores starting them first ends the suite
// about 45 s sooner (CI, 2026-12-06).
#[path = "readme.rs"]
mod a_readme;
#[path = "cli.rs"]
mod cli;
#[path = "cli_data.rs"]
mod cli_data;
#[path = "cli_edges.rs"]
mod cli_edges;
#[path = "cli_eval.rs"]
mod cli_eval;
#[path = "cli_screen.rs"]
mod cli_screen;
#[path = "cli_sweep.rs"]
mod cli_sweep;
#[path = "cli_train.rs"]
mod cli_train;
#[path = "cli_wgpu.rs"]
mod cli_wgpu;
mod common;
#[path = "gpu_script.rs"]
mod gpu_script;
#[path = "tidy.rs"]
mod tidy;
