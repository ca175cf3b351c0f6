//! Work split over the cores: `map` in order, each item on one thread, results in input order
//! (so every result is the same whatever the thread count). `SCGENEPT_THREADS` caps the threads.

/// Threads to use: `SCGENEPT_THREADS` when set, else every core.
pub fn threads() -> usize {
    std::env::var("SCGENEPT_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `items.map(f)` over up to [`threads`] threads, in order.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let n = threads().min(items.len()).max(1);
    if n == 1 {
        return items.iter().map(f).collect();
    }
    let per = items.len().div_ceil(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (items.chunks(per))
            .map(|chunk| {
                let f = &f;
                s.spawn(move || chunk.iter().map(f).collect::<Vec<R>>())
            })
            .collect();
        (handles.into_iter())
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// `f(i, item)` for every item, over up to [`threads`] threads (contiguous runs of items each).
pub fn for_each_mut<T: Send>(items: &mut [T], f: impl Fn(usize, &mut T) + Sync) {
    let n = threads().min(items.len()).max(1);
    let per = items.len().div_ceil(n).max(1);
    std::thread::scope(|s| {
        for (c, chunk) in items.chunks_mut(per).enumerate() {
            let f = &f;
            s.spawn(move || {
                for (k, item) in chunk.iter_mut().enumerate() {
                    f(c * per + k, item);
                }
            });
        }
    });
}
