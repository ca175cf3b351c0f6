//! Scoring perturbation predictions, without a network: GEARS' per-condition metrics and their
//! subgroup summaries (`metrics.rs`), the one metric table and the `test_…` keys
//! (`metric_key.rs`), the scored methods (`method.rs`), the field's simple baselines
//! (`baselines.rs`), GEARS' genetic-interaction scores (`gi.rs`), and `scgenept eval`: a
//! predicted and a real AnnData in cell-eval's layout (`pair.rs`) scored with cell-eval's
//! metrics (`cell_eval.rs`, `cell_eval_de.rs`, `edistance/`, `clustering/`), GEARS' (`gears.rs`) or
//! Systema's (`systema.rs`), and written as cell-eval writes them (`judge.rs`).
//!
//! Depends on the data crate only; the training crate and the CLI use it.

pub mod baselines;
pub mod cell_eval;
pub mod cell_eval_de;
pub mod clustering;
pub mod de;
pub mod edistance;
pub mod gears;
pub mod gi;
pub mod judge;
pub mod method;
pub mod metric_key;
pub mod metrics;
pub mod pair;
pub mod par;
pub mod run_cells;
pub mod run_scores;
pub mod scores;
pub mod systema;
pub mod vcc2026;
