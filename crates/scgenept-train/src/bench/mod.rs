//! What the network costs: the training-step and prediction benchmarks, the memory plan checked
//! against the allocator, and `scgenept demo` on the committed parity fixture.

pub mod demo;
pub mod memory_plan;
pub mod predict;
pub mod step;
