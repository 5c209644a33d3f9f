//! Load-time work spread over the cores (rule compilation).

/// `f` over `items` on all cores, results in order (parsing the rule
/// regexes dominates load time). Threads take items from a shared counter,
/// costliest first by `cost` (longest-processing-time order): a handful of
/// `replace_tags` rules expand to 100-200 KB patterns, and taken in name
/// order one of them alone could keep a core busy after the other is done.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    cost: impl Fn(&T) -> usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let n = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cost(&items[i])));
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(&i) = order.get(k) else {
                return done;
            };
            done.push((i, f(&items[i])));
        }
    };
    let mut out: Vec<(usize, R)> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..n).map(|_| sc.spawn(work)).collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("rule compile thread"))
            .collect()
    });
    out.sort_unstable_by_key(|r| r.0);
    out.into_iter().map(|r| r.1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Results come back in input order whatever order the costs make
    /// the threads take the items in.
    #[test]
    fn parallel_map_keeps_input_order() {
        let items: Vec<usize> = (0..500).collect();
        let out = parallel_map(&items, |&i| (i * 7919) % 500, |&i| i * 2);
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(parallel_map(&[] as &[u8], |_| 0, |_| ()).is_empty());
    }
}
