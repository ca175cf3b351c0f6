//! Any bytes given to the pickle readers produce data or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use scgenept_data::pickle::{read_embedding_pickle, read_string_tree_pickle};

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("scgenept_fuzz_{}.pkl", std::process::id()));
    std::fs::write(&path, data).unwrap();
    let _ = read_embedding_pickle(&path);
    let _ = read_string_tree_pickle(&path);
});
