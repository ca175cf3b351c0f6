//! GPU kernels compiled once per machine, not once per process (docs/gpu.md, "Kernel cache").
//!
//! cubecl compiles every kernel the first time a process launches it: CUDA through NVRTC to PTX,
//! wgpu through naga (or, with burn's `vulkan` feature, to SPIR-V). With burn's `autotune` it also
//! times the candidate kernels of each matmul and attention shape once. Both results can live on
//! disk, but cubecl 0.10 keeps compiled kernels only when its runtime configuration names a cache
//! (`[compilation] cache`), which burn leaves unset, and looks for that configuration in a
//! `cubecl.toml` found from the current directory upwards: a user running `scgenept` from their
//! data folder would get none.
//!
//! [`configure`] therefore sets cubecl's configuration once, before the first GPU call: compiled
//! kernels (CUDA's PTX; wgpu's SPIR-V where that compiler is in use) and autotune results both go
//! to `$SCGENEPT_CACHE/cubecl/` (default `~/.cache/scgenept/cubecl/`). A `cubecl.toml`,
//! `CubeCL.toml`, `burn.toml` or `Burn.toml` in the current directory or above wins: then cubecl
//! reads that file, as it would without scgenept, and nothing is set here. cubecl's own
//! environment switches (`CUBECL_DEBUG_LOG`, `CUBECL_AUTOTUNE_LEVEL`, …) still apply.

use std::path::{Path, PathBuf};

/// The configuration files cubecl reads, in its own search order (`CubeClRuntimeConfig`).
const CUBECL_FILES: [&str; 4] = ["cubecl.toml", "CubeCL.toml", "burn.toml", "Burn.toml"];

/// Where compiled kernels and autotune results are kept: `$SCGENEPT_CACHE/cubecl`.
pub fn kernel_cache_dir() -> PathBuf {
    scgenept_knowledge::minilm_fetch::cache_root().join("cubecl")
}

/// A cubecl configuration file in `dir` or one of its parents, as cubecl would find it.
pub fn user_cubecl_config(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .flat_map(|d| CUBECL_FILES.iter().map(move |f| d.join(f)))
        .find(|p| p.is_file())
}

/// Which configuration the GPU backends run with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelCache {
    /// scgenept's cache directory.
    Ours(PathBuf),
    /// A cubecl configuration file the user keeps (cubecl reads it; scgenept sets nothing).
    UserFile(PathBuf),
}

impl std::fmt::Display for KernelCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KernelCache::Ours(dir) => write!(f, "compiled kernels cached in {}", dir.display()),
            KernelCache::UserFile(file) => {
                write!(f, "cubecl configured by {}", file.display())
            }
        }
    }
}

/// Sets cubecl's configuration for this process (once; later calls return the first answer).
/// Call it before anything touches a GPU backend: cubecl reads its configuration once.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
pub fn configure() -> KernelCache {
    use burn::cubecl::config::cache::CacheConfig;
    use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
    static CHOSEN: std::sync::OnceLock<KernelCache> = std::sync::OnceLock::new();
    CHOSEN
        .get_or_init(|| {
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
            if let Some(file) = user_cubecl_config(&cwd) {
                return KernelCache::UserFile(file);
            }
            let dir = kernel_cache_dir();
            let mut config = CubeClRuntimeConfig::default();
            config.compilation.cache = Some(CacheConfig::File(dir.clone()));
            config.autotune.cache = CacheConfig::File(dir.clone());
            CubeClRuntimeConfig::set(config.override_from_env());
            tracing::debug!(
                "cubecl: kernels and autotune results cached in {}",
                dir.display()
            );
            KernelCache::Ours(dir)
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_file_above_the_working_directory_is_found() {
        let root = std::env::temp_dir().join(format!("kc-{}", std::process::id()));
        let deep = root.join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(user_cubecl_config(&deep), None);
        std::fs::write(root.join("burn.toml"), "[cubecl]\n").unwrap();
        assert_eq!(user_cubecl_config(&deep), Some(root.join("burn.toml")));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
