//! `scgenept train`: prepare the inputs, run the epochs (checkpointed, resumable, interruptible),
//! evaluate, and hand the outputs to `run/`.

pub mod eval_section;
pub mod evaluate;
pub mod grad_clip;
pub mod inputs;
pub mod interrupt;
pub mod prepare;
pub mod progress;
pub mod resume;
pub mod step;
pub mod train_loop;
pub mod trainer;
