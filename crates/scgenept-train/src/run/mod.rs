//! A run directory and what lives in it: claiming it (finished? interrupted?), the manifest, the
//! outputs written at the end, and a finished run read back by sweeps and reports.

pub mod dir;
pub mod finished;
pub mod manifest;
pub mod outputs;
