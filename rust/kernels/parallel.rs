//! The thread pool every kernel runs in, and the size cut-offs for using it.
//!
//! neurust keeps its own rayon pool instead of the global one so that
//! `set_num_threads` can change the count at run time (rayon's global pool can
//! be built only once). Kernels split work into chunks whose boundaries do not
//! depend on the thread count, so results are identical for any count.

use std::sync::{Arc, OnceLock, RwLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

/// Memory-bound work (relu, step, their gradients, dot products) below this
/// many elements runs on the calling thread. Measured on 2 cores: `relu` of
/// 64k float64 took 20 µs on one thread and 46 µs on two, of 256k 81 µs and
/// 139 µs, of 1M 674 µs and 609 µs; the cores share one memory bus, so a
/// second thread only pays once the hand-off is small beside the copy.
pub const ELEMENTWISE_PARALLEL_MIN: usize = 1 << 20;

/// Compute-bound elementwise work (the sigmoid's exponential, about 2.7 ns
/// an element) is split from this size: 64k float64 sigmoids took 164–169
/// µs on one thread and 101–102 µs on two, in two runs on a noisy VM (the
/// halves start on the calling thread and one pool thread).
pub const EXPENSIVE_PARALLEL_MIN: usize = 1 << 16;

/// The fixed chunk length for parallel elementwise work and for the ordered
/// partial sums of long dot products.
pub const CHUNK: usize = 1 << 14;

struct Pool {
    threads: usize,
    pool: Arc<ThreadPool>,
}

fn slot() -> &'static RwLock<Pool> {
    static POOL: OnceLock<RwLock<Pool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = default_threads();
        RwLock::new(Pool {
            threads,
            pool: Arc::new(build(threads)),
        })
    })
}

/// More threads than this is a mistake, not a machine (4096 threads take
/// seconds to start, 100000 minutes).
pub const MAX_THREADS: usize = 4096;

/// The environment variable that sets the thread count at start-up.
pub const THREADS_VARIABLE: &str = "NEURUST_NUM_THREADS";

/// `value` as a thread count, if it is an integer in `1..=MAX_THREADS` (the
/// rule `set_num_threads` applies too).
pub fn parse_threads(value: &str) -> Option<usize> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_THREADS).contains(n))
}

/// [`THREADS_VARIABLE`]'s thread count: `Ok(None)` when it is not set (or
/// blank), and `Err(value)` when [`parse_threads`] rejects it (the pool then
/// ignores it).
pub fn threads_from_environment() -> Result<Option<usize>, String> {
    match std::env::var_os(THREADS_VARIABLE) {
        None => Ok(None),
        Some(raw) if raw.to_str().is_some_and(|value| value.trim().is_empty()) => Ok(None),
        Some(raw) => match raw.to_str().and_then(parse_threads) {
            Some(threads) => Ok(Some(threads)),
            None => Err(raw.to_string_lossy().into_owned()),
        },
    }
}

/// The thread count when nothing sets one: the CPU count.
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn default_threads() -> usize {
    threads_from_environment()
        .ok()
        .flatten()
        .unwrap_or_else(available_threads)
}

fn build(threads: usize) -> ThreadPool {
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("neurust-{i}"))
        .build()
        .expect("building a rayon pool only fails if threads cannot be spawned")
}

/// The number of threads kernels use.
pub fn num_threads() -> usize {
    slot().read().unwrap_or_else(|e| e.into_inner()).threads
}

/// Sets the number of threads kernels use (`threads >= 1`; 0 is treated as 1).
pub fn set_num_threads(threads: usize) {
    let threads = threads.max(1);
    let mut guard = slot().write().unwrap_or_else(|e| e.into_inner());
    if guard.threads != threads {
        *guard = Pool {
            threads,
            pool: Arc::new(build(threads)),
        };
    }
}

/// Runs `work` inside neurust's pool, so rayon and faer use its thread count.
pub fn install<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    let pool = Arc::clone(&slot().read().unwrap_or_else(|e| e.into_inner()).pool);
    pool.install(work)
}

/// Runs `work` on every part: the first on the calling thread, the others
/// as tasks on neurust's pool; returns once all are done. Handing the whole
/// job to the pool (`install`) and sleeping until it is done cost about
/// 100 µs a call on the 2-core VM the cut-offs were measured on.
pub fn for_each_part<P: Send>(parts: impl IntoIterator<Item = P>, work: impl Fn(P) + Sync) {
    let mut parts = parts.into_iter().peekable();
    let Some(first) = parts.next() else {
        return;
    };
    if parts.peek().is_none() {
        return work(first);
    }
    let work = &work;
    let pool = Arc::clone(&slot().read().unwrap_or_else(|e| e.into_inner()).pool);
    pool.in_place_scope(|scope| {
        for part in parts {
            scope.spawn(move |_| work(part));
        }
        work(first);
    });
}

/// Whether a memory-bound job of `elements` is worth splitting over threads.
#[inline]
pub fn worth_parallel(elements: usize) -> bool {
    worth_parallel_from(elements, ELEMENTWISE_PARALLEL_MIN)
}

/// Whether a job of `elements` is worth splitting, given its cut-off.
#[inline]
pub fn worth_parallel_from(elements: usize, min_elements: usize) -> bool {
    elements >= min_elements && num_threads() > 1
}
