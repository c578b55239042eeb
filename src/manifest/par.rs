//! Per-resource work on all cores (stage: ⑤ render).
//!
//! Input: resources and a function of one resource. Output: the function applied to each.
//! Transformers act on each resource independently, so large renders split the list into
//! one chunk per core; small ones stay on the calling thread (threads cost more than they save).

use super::resource::Resource;

/// Below this many resources the work stays on one thread.
const PARALLEL_FROM: usize = 256;

fn workers(len: usize) -> usize {
    if len < PARALLEL_FROM {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(len)
}

/// Applies `f` to every resource, in parallel chunks when the list is large.
pub fn each(ra: &mut [Resource], f: impl Fn(&mut Resource) + Sync) {
    let n = workers(ra.len());
    if n <= 1 {
        ra.iter_mut().for_each(f);
        return;
    }
    let chunk = ra.len().div_ceil(n);
    let f = &f;
    std::thread::scope(|scope| {
        for part in ra.chunks_mut(chunk) {
            scope.spawn(move || part.iter_mut().for_each(f));
        }
    });
}

/// Applies `f` to the resources whose indices are in `selected` (sorted), in parallel.
pub fn each_selected(ra: &mut [Resource], selected: &[usize], f: impl Fn(&mut Resource) + Sync) {
    let mut picked: Vec<&mut Resource> = Vec::with_capacity(selected.len());
    let mut wanted = selected.iter().peekable();
    for (i, r) in ra.iter_mut().enumerate() {
        if wanted.peek() == Some(&&i) {
            picked.push(r);
            wanted.next();
        }
    }
    let n = workers(picked.len());
    if n <= 1 {
        picked.into_iter().for_each(f);
        return;
    }
    let chunk = picked.len().div_ceil(n);
    let f = &f;
    std::thread::scope(|scope| {
        for part in picked.chunks_mut(chunk) {
            scope.spawn(move || part.iter_mut().for_each(|r| f(r)));
        }
    });
}

/// Like [`each`] for fallible work; the first error (in list order) wins.
pub fn try_each<E: Send>(
    ra: &mut [Resource],
    f: impl Fn(&mut Resource) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let n = workers(ra.len());
    if n <= 1 {
        return ra.iter_mut().try_for_each(f);
    }
    let chunk = ra.len().div_ceil(n);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = ra
            .chunks_mut(chunk)
            .map(|part| scope.spawn(move || part.iter_mut().try_for_each(f)))
            .collect();
        let mut first = Ok(());
        for h in handles {
            let r = h.join().unwrap_or(Ok(()));
            if first.is_ok() {
                first = r;
            }
        }
        first
    })
}
