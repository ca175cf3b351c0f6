//! Any bytes given to the h5ad reader produce data or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use scgenept_data::{ObsColumns, PerturbData};

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir();
    let path = dir.join(format!("scgenept_fuzz_{}.h5ad", std::process::id()));
    std::fs::write(&path, data).unwrap();
    let _ = PerturbData::load(&path, &ObsColumns::default());
});
