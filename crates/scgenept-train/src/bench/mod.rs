//! What the network costs: the training-step and prediction benchmarks, the memory plan checked
//! against the allocator, the fused GPU kernels against their references, and `scgenept demo` on
//! the committed parity fixture.

pub mod demo;
pub mod kernels;
pub mod memory_plan;
pub mod predict;
pub mod step;
