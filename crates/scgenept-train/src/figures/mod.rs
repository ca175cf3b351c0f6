//! Figures drawn in memory and written whole: the plot primitives, the learning curve and what
//! the figures read from a finished run.

pub mod inputs;
pub mod learning_curve;
pub mod plots;
