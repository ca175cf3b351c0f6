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
    map_with(items, || (), |_, item| f(item))
}

/// [`map`] where each thread first makes its own `state` (a scratch buffer, say) and hands it to
/// `f` with each of its items. Threads take the next item as they finish one, so a slower core
/// (or a costlier item) holds up no one; the results still come back in input order.
pub fn map_with<T: Sync, S, R: Send>(
    items: &[T],
    state: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> R + Sync,
) -> Vec<R> {
    let n = threads().min(items.len()).max(1);
    if n == 1 {
        let mut s = state();
        return items.iter().map(|item| f(&mut s, item)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut s = state();
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(&mut s, item)));
        }
    };
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n).map(|_| scope.spawn(work)).collect();
        (handles.into_iter())
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// `f(i, item)` for every item, over up to [`threads`] threads, dealt in turn (thread t takes
/// items t, t + threads, …), so that items whose cost falls or rises along the slice even out.
pub fn for_each_mut<T: Send>(items: &mut [T], f: impl Fn(usize, &mut T) + Sync) {
    let n = threads().min(items.len()).max(1);
    let mut dealt: Vec<Vec<(usize, &mut T)>> = (0..n).map(|_| Vec::new()).collect();
    for (i, item) in items.iter_mut().enumerate() {
        dealt[i % n].push((i, item));
    }
    std::thread::scope(|s| {
        for hand in dealt {
            let f = &f;
            s.spawn(move || hand.into_iter().for_each(|(i, item)| f(i, item)));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_with_keeps_input_order_and_each_threads_state() {
        let items: Vec<u64> = (0..2_000).collect();
        // Items of uneven cost, so that threads take them out of turn.
        let got = map_with(&items, Vec::new, |seen: &mut Vec<u64>, &x| {
            seen.push(x);
            let spin = (0..(x % 7) * 1_000).fold(x, |a, b| a.wrapping_mul(31).wrapping_add(b));
            // A thread's own items come to it in increasing order.
            assert!(seen.windows(2).all(|w| w[0] < w[1]));
            (x * 2, spin)
        });
        let want: Vec<u64> = items.iter().map(|x| x * 2).collect();
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), want);
    }

    #[test]
    fn for_each_mut_reaches_every_item_once_with_its_index() {
        let mut items = vec![0usize; 37];
        for_each_mut(&mut items, |i, x| *x += i + 1);
        assert_eq!(items, (1..=37).collect::<Vec<_>>());
    }
}
