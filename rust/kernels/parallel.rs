//! The thread pool every kernel runs in, and the size cut-offs for using it.
//!
//! neurust keeps its own rayon pool instead of the global one so that
//! `set_num_threads` can change the count at run time (rayon's global pool can
//! be built only once). Kernels split work into chunks whose boundaries do not
//! depend on the thread count, so results are identical for any count.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rayon::{ThreadPool, ThreadPoolBuilder};

/// Memory-bound work (relu, step, their gradients, dot products) below this
/// many elements runs on the calling thread: below it the work takes about
/// as long as a split costs. Measured by `neurust compare --workloads relu
/// --threads 1,2` (figures in docs/performance.md).
pub const ELEMENTWISE_PARALLEL_MIN: usize = 1 << 16;

/// Compute-bound elementwise work (the sigmoid's exponential) is split from
/// this size, where even float32 gains from a second thread. Measured by
/// `neurust compare --workloads sigmoid --dtype float64,float32 --threads
/// 1,2` (figures in docs/performance.md).
pub const EXPENSIVE_PARALLEL_MIN: usize = 1 << 16;

/// The fixed chunk length for parallel elementwise work and for the ordered
/// partial sums of long dot products.
pub const CHUNK: usize = 1 << 14;

struct Pool {
    threads: usize,
    pool: Arc<ThreadPool>,
}

/// The pool and the board its polling threads watch, as built in one process.
/// A forked child gets a fresh `State`: the parent's pool threads do not
/// exist there (fork copies only the calling thread), so jobs handed to them
/// would never run and never be freed, and a lock one of them held at the
/// fork would stay locked. The old `State` is leaked, never dropped: its
/// destructor would signal threads that are gone.
struct State {
    generation: usize,
    slot: RwLock<Pool>,
    /// The latest job posted for polling threads, and how many were posted.
    posted: Mutex<Option<Arc<Shared>>>,
    posts: AtomicUsize,
    /// How many pool threads are polling (or running a job they found so).
    polling: AtomicUsize,
    /// The thread count, readable without the lock (a child reads it from
    /// its parent's `State`, whose lock a vanished thread may hold).
    threads: AtomicUsize,
}

/// Forks seen by this process's lineage: bumped in the child by the
/// `pthread_atfork` handler, compared with `State::generation` on every use
/// (an atomic load; `getpid` would be a system call per kernel call).
static GENERATION: AtomicUsize = AtomicUsize::new(0);
static CURRENT: AtomicPtr<State> = AtomicPtr::new(std::ptr::null_mut());

#[cfg(unix)]
fn watch_forks() {
    extern "C" fn in_child() {
        // Only an atomic add: the child of a multi-threaded process may run
        // nothing that locks or allocates here.
        GENERATION.fetch_add(1, Ordering::AcqRel);
    }
    extern "C" {
        fn pthread_atfork(
            prepare: Option<extern "C" fn()>,
            parent: Option<extern "C" fn()>,
            child: Option<extern "C" fn()>,
        ) -> std::ffi::c_int;
    }
    static REGISTER: std::sync::Once = std::sync::Once::new();
    REGISTER.call_once(|| {
        // SAFETY: the handler is a plain function that only touches an
        // atomic; registering it has no other precondition.
        unsafe {
            pthread_atfork(None, None, Some(in_child));
        }
    });
}

#[cfg(not(unix))]
fn watch_forks() {}

fn state() -> &'static State {
    let generation = GENERATION.load(Ordering::Acquire);
    let current = CURRENT.load(Ordering::Acquire);
    // SAFETY: a non-null CURRENT points to a leaked `State` (never freed).
    match unsafe { current.as_ref() } {
        Some(state) if state.generation == generation => state,
        previous => renew(generation, current, previous),
    }
}

/// Builds the first `State`, or a forked child's, with the thread count its
/// parent had.
#[cold]
fn renew(
    generation: usize,
    current: *mut State,
    previous: Option<&'static State>,
) -> &'static State {
    watch_forks();
    let threads = previous.map_or_else(default_threads, |p| p.threads.load(Ordering::Acquire));
    let fresh = Box::into_raw(Box::new(State {
        generation,
        slot: RwLock::new(Pool {
            threads,
            pool: Arc::new(build(threads)),
        }),
        posted: Mutex::new(None),
        posts: AtomicUsize::new(0),
        polling: AtomicUsize::new(0),
        threads: AtomicUsize::new(threads),
    }));
    match CURRENT.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: `fresh` came from `Box::into_raw` and is never freed.
        Ok(_) => unsafe { &*fresh },
        Err(_) => {
            // Another thread renewed first: use its `State`, drop ours
            // (built in this process, so its threads exist to be stopped).
            // SAFETY: `fresh` was never shared.
            drop(unsafe { Box::from_raw(fresh) });
            state()
        }
    }
}

fn slot() -> &'static RwLock<Pool> {
    &state().slot
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
    let state = state();
    let mut guard = state.slot.write().unwrap_or_else(|e| e.into_inner());
    if guard.threads != threads {
        *guard = Pool {
            threads,
            pool: Arc::new(build(threads)),
        };
        state.threads.store(threads, Ordering::Release);
    }
}

/// Runs `work` inside neurust's pool, so rayon and faer use its thread count.
pub fn install<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    let pool = Arc::clone(&slot().read().unwrap_or_else(|e| e.into_inner()).pool);
    pool.install(work)
}

/// Runs `work` on every part: the first on the calling thread, the others
/// as tasks on neurust's pool; returns once all are done. Handing the whole
/// job to the pool (`install`) and sleeping until it is done costs more
/// than the small jobs themselves (see `POLL_FOR` in docs/performance.md).
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

/// Runs `work(index)` for every index below `count`, self-scheduled: the
/// calling thread and up to `num_threads() - 1` pool threads each take the
/// next index from a shared counter until none is left, and the call
/// returns once every index is done. When another process holds a core, the
/// thread on the free core takes the parts the other cannot, and the call
/// never waits for a pool thread that has not started: a late helper finds
/// the job closed and leaves. (With a scope, a worker pinned to a busy core
/// made each hand-off wait for its time slice, and the tutorial's fit ran
/// several times slower beside a busy loop on that core: `neurust compare
/// --workloads fit --threads 2` beside a pinned busy loop; figures in
/// docs/performance.md.)
pub fn for_each_index(count: usize, work: impl Fn(usize) + Sync) {
    let helpers = num_threads().min(count).saturating_sub(1);
    if helpers == 0 {
        return (0..count).for_each(work);
    }
    let work: &(dyn Fn(usize) + Sync) = &work;
    // SAFETY: only the lifetime is erased. A helper calls `work` only
    // between a successful `Shared::enter` and its `leave`, and `Closer`
    // (below, also on unwinding) closes the job and waits until every
    // entered helper has left before this function returns.
    let work: &'static (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(work) };
    let shared = Arc::new(Shared {
        next: AtomicUsize::new(0),
        count,
        state: AtomicUsize::new(0),
        panicked: AtomicBool::new(false),
        caller: std::thread::current(),
        work: WorkPtr(work),
    });
    // Pool threads still polling after their last job join this one at
    // once; the rest are woken, which is slow (see `POLL_FOR`).
    let state = state();
    let polling = state.polling.load(Ordering::Acquire).min(helpers);
    if polling > 0 {
        *state.posted.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&shared));
        state.posts.fetch_add(1, Ordering::Release);
    }
    let pool = Arc::clone(&state.slot.read().unwrap_or_else(|e| e.into_inner()).pool);
    for _ in polling..helpers {
        let shared = Arc::clone(&shared);
        pool.spawn(move || {
            help(&shared);
            drop(shared);
            poll_for_jobs(state);
        });
    }
    let closer = Closer(&shared);
    shared.run();
    drop(closer);
    let mut posted = state.posted.lock().unwrap_or_else(|e| e.into_inner());
    if posted.as_ref().is_some_and(|job| Arc::ptr_eq(job, &shared)) {
        *posted = None;
    }
    drop(posted);
    assert!(
        !shared.panicked.load(Ordering::Acquire),
        "a part run on neurust's pool panicked"
    );
}

/// Runs `work` on every part, self-scheduled over the pool
/// ([`for_each_index`]): the calling thread starts at once and
/// takes every part a pool thread has not woken in time to take, so a
/// split never waits on a sleeping or busy core. (Handing each thread one
/// half with [`for_each_part`] made 64k float32 sigmoids slower
/// on two threads than on one while the other core was busy: `neurust
/// compare --workloads sigmoid --sizes 64k --dtype float32 --threads 1,2`.)
pub fn for_each_chunk<P: Send>(parts: impl Iterator<Item = P>, work: impl Fn(P) + Sync) {
    let parts: Vec<Mutex<Option<P>>> = parts.map(|part| Mutex::new(Some(part))).collect();
    for_each_index(parts.len(), |index| {
        let part = parts[index]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(part) = part {
            work(part);
        }
    });
}

/// How long a pool thread that has helped with a [`for_each_index`] job
/// keeps polling for the next one (running any rayon work meanwhile) before
/// it goes back to sleep: a thread woken from sleep, on a virtual machine
/// above all, can arrive after the caller has done the whole job alone.
/// numpy's OpenBLAS threads spin longer still. Measured by `neurust compare
/// --quick --isolate --threads 2` (the `linear` 512 row; docs/performance.md).
pub const POLL_FOR: Duration = Duration::from_millis(60);

/// Runs `shared`'s parts until none is left, unless the job is closed.
fn help(shared: &Shared) {
    if shared.enter() {
        // A panic on a pool thread would abort the process: carry it to
        // the caller instead, after leaving the job.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shared.run()));
        if run.is_err() {
            shared.panicked.store(true, Ordering::Release);
        }
        shared.leave();
    }
}

/// Joins each newly posted job, until none has come for [`POLL_FOR`].
fn poll_for_jobs(state: &State) {
    state.polling.fetch_add(1, Ordering::AcqRel);
    let mut seen = state.posts.load(Ordering::Acquire);
    let mut idle_since = Instant::now();
    loop {
        let posts = state.posts.load(Ordering::Acquire);
        if posts != seen {
            seen = posts;
            let job = state
                .posted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            if let Some(job) = job {
                help(&job);
            }
            idle_since = Instant::now();
        } else if idle_since.elapsed() > POLL_FOR {
            break;
        } else if rayon::yield_now() != Some(rayon::Yield::Executed) {
            // Rayon work (faer's splits, scopes) queued meanwhile runs here
            // rather than waiting for this poll to end.
            std::hint::spin_loop();
        }
    }
    state.polling.fetch_sub(1, Ordering::AcqRel);
}

/// The `CLOSED` bit of `Shared::state`; the other bits count the helpers
/// inside the job.
const CLOSED: usize = 1 << (usize::BITS - 1);

/// `work` behind a pointer that may cross threads (it is `Sync`).
struct WorkPtr(&'static (dyn Fn(usize) + Sync));

struct Shared {
    next: AtomicUsize,
    count: usize,
    state: AtomicUsize,
    panicked: AtomicBool,
    caller: std::thread::Thread,
    work: WorkPtr,
}

impl Shared {
    fn run(&self) {
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= self.count {
                break;
            }
            (self.work.0)(index);
        }
    }

    /// Joins the job unless the caller has closed it.
    fn enter(&self) -> bool {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & CLOSED != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
    }

    fn leave(&self) {
        if self.state.fetch_sub(1, Ordering::AcqRel) == CLOSED + 1 {
            self.caller.unpark();
        }
    }
}

/// Closes the job and waits for the helpers inside it, also when the
/// caller's own part panics.
struct Closer<'a>(&'a Shared);

impl Drop for Closer<'_> {
    fn drop(&mut self) {
        self.0.state.fetch_or(CLOSED, Ordering::AcqRel);
        // Spin first: a helper's last part ends within microseconds, and
        // waking from `park` takes tens of them (an `unpark` left unused
        // only makes some later `park` return early, which every caller
        // re-checks).
        let since = Instant::now();
        while self.0.state.load(Ordering::Acquire) != CLOSED {
            if since.elapsed() < POLL_FOR {
                std::hint::spin_loop();
            } else {
                std::thread::park();
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_each_index_runs_every_index_once() {
        let before = num_threads();
        for threads in [1, 2, 3] {
            set_num_threads(threads);
            // Back-to-back calls: later ones are joined by polling threads.
            for count in [0, 1, 2, 5, 33].repeat(50) {
                let runs: Vec<AtomicUsize> = (0..count).map(|_| AtomicUsize::new(0)).collect();
                for_each_index(count, |index| {
                    runs[index].fetch_add(1, Ordering::Relaxed);
                });
                assert!(runs.iter().all(|r| r.load(Ordering::Relaxed) == 1));
            }
        }
        set_num_threads(before);
    }

    #[test]
    fn a_panic_in_a_part_reaches_the_caller_and_the_pool_still_works() {
        let before = num_threads();
        set_num_threads(2);
        for _ in 0..20 {
            let caught = std::panic::catch_unwind(|| {
                for_each_index(64, |index| {
                    std::thread::sleep(Duration::from_micros(10));
                    assert!(index != 40, "part 40");
                })
            });
            assert!(caught.is_err());
            let runs = AtomicUsize::new(0);
            for_each_index(64, |_| {
                runs.fetch_add(1, Ordering::Relaxed);
            });
            assert_eq!(runs.load(Ordering::Relaxed), 64);
        }
        set_num_threads(before);
    }
}
