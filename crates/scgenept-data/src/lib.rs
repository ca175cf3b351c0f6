//! GEARS datasets, splits and batches (see ARCHITECTURE.md); filled in by the data-crate work.
