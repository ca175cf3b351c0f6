//! The host (CPU) backend: whether a backend keeps its tensors in host memory, and how many threads
//! the host kernels may use.

use std::any::TypeId;

use burn::tensor::backend::Backend;

/// Threads the host kernels may use: what [`with_host_threads`] set for this thread, else
/// `SCGENEPT_THREADS` when set (a sweep running several runs side by side gives each its share
/// of the cores), else every core.
pub fn host_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    LOCAL_THREADS.with(|t| t.get()).unwrap_or_else(|| {
        *THREADS.get_or_init(|| {
            std::env::var("SCGENEPT_THREADS")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        })
    })
}

thread_local! {
    static LOCAL_THREADS: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with the host kernels of this thread limited to `n` threads: a caller that already
/// runs one forward per core (batched prediction) keeps them from spawning more.
pub fn with_host_threads<R>(n: usize, f: impl FnOnce() -> R) -> R {
    /// Puts the previous setting back, also when `f` panics.
    struct Restore(Option<usize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            LOCAL_THREADS.with(|t| t.set(self.0));
        }
    }
    let _restore = Restore(LOCAL_THREADS.with(|t| t.replace(Some(n.max(1)))));
    f()
}

/// Whether `B` keeps its tensors in host memory (burn-flex, with or without autodiff), so host
/// kernels can work on its data directly.
pub fn on_host<B: Backend>() -> bool {
    #[cfg(feature = "flex")]
    {
        TypeId::of::<B::Device>() == TypeId::of::<burn_flex::FlexDevice>()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = TypeId::of::<B::Device>;
        false
    }
}
