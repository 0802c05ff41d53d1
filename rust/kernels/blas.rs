//! An external CBLAS GEMM for large products (OpenBLAS, when installed).
//!
//! OpenBLAS's hand-written x86 kernels beat faer's on large square products
//! on the CPUs measured (`neurust compare --workloads linear --sizes 1k`;
//! figures in docs/performance.md), and they are what numpy runs; at AVX2
//! and AVX-512 alike, faer wins float64 products with few output columns
//! (`faer_max_cols_f64`). The kernels know nothing of where the library
//! comes from: the bindings find it, resolve its symbols and hand the
//! function pointers to `install`. Until then, or if none is found, `gemm`
//! uses faer alone.
//!
//! The library always runs on one thread; `gemm` splits large products into
//! row or column panels over neurust's own pool. OpenBLAS's own threading
//! can change the order of the inner sums with the thread count, and so
//! the bits. A single-threaded call blocks the inner dimension the same way
//! whatever part of the output it computes, but its register tiles sum
//! differently at their edges, so a panel must start where a tile of the
//! whole product starts (the Haswell kernel steps by 24 rows). The tile
//! step depends on the CPU's kernel, so `panel_alignment` measures it once:
//! the least width whose cuts reproduce the whole product's bits. The
//! bit-identity tests at every thread count check it; the cases found are
//! in docs/performance.md.

use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use super::simd::Level;
use super::Float;

/// `cblas_?gemm` with 64-bit integers (the ILP64 interface).
pub type GemmFn<T> = unsafe extern "C" fn(
    layout: c_int,
    trans_a: c_int,
    trans_b: c_int,
    m: i64,
    n: i64,
    k: i64,
    alpha: T,
    a: *const T,
    lda: i64,
    b: *const T,
    ldb: i64,
    beta: T,
    c: *mut T,
    ldc: i64,
) -> ();

/// CBLAS's row-major layout flag.
pub const ROW_MAJOR: c_int = 101;
/// CBLAS's "use the matrix as stored" flag.
pub const NO_TRANS: c_int = 111;
/// CBLAS's "use the transpose" flag.
pub const TRANS: c_int = 112;

/// OpenBLAS's `openblas_get_num_threads`.
pub type GetThreadsFn = unsafe extern "C" fn() -> c_int;
/// OpenBLAS's `openblas_set_num_threads`.
pub type SetThreadsFn = unsafe extern "C" fn(threads: c_int);

/// `get_threads` of a library that always computes on the calling thread.
pub extern "C" fn one_thread() -> c_int {
    1
}

/// `set_threads` of such a library: there is no count to set.
pub extern "C" fn no_threads_to_set(_: c_int) {}

/// The entry points of one CBLAS library.
#[derive(Clone, Copy)]
pub struct Cblas {
    pub dgemm: GemmFn<f64>,
    pub sgemm: GemmFn<f32>,
    /// The library's own thread count, which must stay 1.
    pub get_threads: GetThreadsFn,
    pub set_threads: SetThreadsFn,
    /// What `build_info` reports, such as "OpenBLAS 0.3.34 (Haswell)".
    pub name: &'static str,
    /// Where `panel_alignment` keeps this library's measured alignment.
    pub alignment: &'static OnceLock<PanelAlignment>,
}

static LIBRARY: OnceLock<Cblas> = OnceLock::new();
static ENABLED: AtomicBool = AtomicBool::new(true);

/// Makes `cblas` the GEMM for large products. Only the first call has an
/// effect; it returns whether this call installed the library.
///
/// # Safety
/// Both function pointers must be CBLAS `dgemm`/`sgemm` with 64-bit integer
/// arguments, callable from any thread at once, and must stay valid for the
/// rest of the process (the library is never unloaded).
pub unsafe fn install(cblas: Cblas) -> bool {
    LIBRARY.set(cblas).is_ok()
}

/// Puts the library back on one thread if something changed that (tools
/// such as threadpoolctl set the count of every OpenBLAS in the process).
pub fn keep_single_threaded(lib: &Cblas) {
    // SAFETY: `install`'s contract: valid OpenBLAS entry points.
    unsafe {
        if (lib.get_threads)() != 1 {
            (lib.set_threads)(1);
        }
    }
}

/// Turns the installed library on or off (off: every product uses faer).
pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// The installed library, whether enabled or not.
pub fn installed() -> Option<&'static Cblas> {
    LIBRARY.get()
}

/// The library large products use now, if any.
pub fn active() -> Option<&'static Cblas> {
    LIBRARY.get().filter(|_| ENABLED.load(Ordering::Relaxed))
}

/// How a strided matrix is passed to a row-major CBLAS call: the transpose
/// flag and the leading dimension, or `None` if neither stride is 1.
pub fn operand(
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
) -> Option<(c_int, i64)> {
    // A one-row (one-column) matrix never steps by its row (column) stride,
    // so any leading dimension CBLAS accepts describes it.
    if cols <= 1 || col_stride == 1 {
        let ld = if rows <= 1 { cols.max(1) } else { row_stride };
        if ld >= cols.max(1) {
            return Some((NO_TRANS, i64::try_from(ld).ok()?));
        }
    }
    if rows <= 1 || row_stride == 1 {
        let ld = if cols <= 1 { rows.max(1) } else { col_stride };
        if ld >= rows.max(1) {
            return Some((TRANS, i64::try_from(ld).ok()?));
        }
    }
    None
}

/// Panel widths tried by `panel_alignment`, smallest first: products of
/// the register-tile sizes of OpenBLAS's x86 and ARM kernels (2 to 32).
const ALIGNMENT_CANDIDATES: [usize; 7] = [16, 24, 32, 48, 96, 192, 384];

/// The least work in one panel of a split product. OpenBLAS sends products
/// of at most 100³ multiply-adds to "small matrix" kernels on some CPUs
/// (SkylakeX among them), which sum in another order than its main ones, so
/// a thin last panel would change the bits (the thread-count tests).
pub const PANEL_MIN_WORK: usize = 1 << 20;

/// Output columns up to which float64 products stay on faer at AVX-512
/// (where OpenBLAS runs its SkylakeX kernels): faer won the narrow products
/// on an Intel Xeon and every width on an AMD EPYC; 512 costs the Xeon at
/// most a tie, and beyond it OpenBLAS keeps the products it won there. In
/// float32 the two tie. Measured by `benches/test_training.py` with and
/// without `NEURUST_GEMM=faer` (figures in docs/performance.md).
const FAER_MAX_COLS_AVX512: usize = 512;

/// The same at AVX2+FMA, against OpenBLAS's Haswell kernels: faer wins up
/// to 512 columns and ties at 1024. Measured as above with `NEURUST_SIMD=avx2
/// OPENBLAS_CORETYPE=Haswell` (figures in docs/performance.md).
const FAER_MAX_COLS_AVX2: usize = 512;

/// The most output columns of a float64 product that faer takes although
/// OpenBLAS could, at the level in use: `None` where OpenBLAS takes them
/// all (below AVX2+FMA, where neither library was measured).
pub fn faer_max_cols_f64() -> Option<usize> {
    match Level::detect() {
        Level::Avx512 => Some(FAER_MAX_COLS_AVX512),
        Level::Avx2Fma => Some(FAER_MAX_COLS_AVX2),
        Level::Avx | Level::Baseline => None,
    }
}

/// The widths that row and column panels of a split product must be whole
/// multiples of for the split to give the same bits as one call, for both
/// element types; 0 for a direction in which no candidate width does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PanelAlignment {
    pub rows: usize,
    pub cols: usize,
}

/// Where one side of a product's output is cut into panels: only at
/// multiples of `step`, as evenly as that allows, and never into a panel
/// of less than `PANEL_MIN_WORK`. The production split and the calibration
/// both use it, so what is calibrated is what runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cuts {
    side: usize,
    step: usize,
    panels: usize,
}

impl Cuts {
    /// At most `wanted` panels of a `side` whose lines are `line_work`
    /// multiply-adds each; one panel when `step` is 0 (no cut keeps the bits).
    pub fn new(side: usize, line_work: usize, step: usize, wanted: usize) -> Self {
        let panels = if step == 0 {
            1
        } else {
            // Each boundary lands within step/2 of an even cut, so panels of
            // side/panels ≥ min_len + step + 1 lines keep at least min_len.
            let min_len = PANEL_MIN_WORK.div_ceil(line_work.max(1));
            wanted.min(side / (min_len + step + 1)).max(1)
        };
        Cuts { side, step, panels }
    }

    /// How many panels.
    pub fn count(&self) -> usize {
        self.panels
    }

    /// The start of panel `index` (the side's end for `index == count()`).
    pub fn boundary(&self, index: usize) -> usize {
        if index == 0 {
            0
        } else if index >= self.panels {
            self.side
        } else {
            let even = index * self.side / self.panels;
            (even + self.step / 2) / self.step * self.step
        }
    }

    /// Each panel as `(start, end)`.
    pub fn panels(self) -> impl Iterator<Item = (usize, usize)> {
        (0..self.panels).map(move |index| (self.boundary(index), self.boundary(index + 1)))
    }
}

/// The panel alignment of `lib`, measured once, on its first use (what that
/// costs: the panel calibration row of docs/performance.md).
pub fn panel_alignment(lib: &Cblas) -> PanelAlignment {
    *lib.alignment.get_or_init(|| calibrate(lib))
}

/// The shapes calibrated, as (the uncut side, the inner length). A cut
/// must keep the bits of all three: on SkylakeX, float64 row cuts of the
/// wide one change its odd last column unless they fall at multiples of
/// 24, and column cuts of the thin one change bits at every width below
/// 384 (while those of the other two pass at some of them).
const CALIBRATION_SHAPES: [(usize, usize); 3] = [(257, 300), (67, 1000), (33, 999)];

/// The least candidate widths at which cut products match whole ones.
///
/// On OpenBLAS 0.3.34's Haswell kernels this finds 24 for rows and none
/// for columns: its float32 kernel treats the last 8 columns of every call
/// differently, wherever the call ends. On its SkylakeX kernels it finds
/// 24 for rows and 384 for columns (the time it takes, once per process, is
/// in docs/performance.md).
pub fn calibrate(lib: &Cblas) -> PanelAlignment {
    let least = |by_columns: bool| {
        ALIGNMENT_CANDIDATES
            .into_iter()
            .find(|&width| {
                CALIBRATION_SHAPES.into_iter().all(|(short, k)| {
                    // float32 first: where a cut fails, it often fails there.
                    cuts_match_whole(lib.sgemm, width, by_columns, short, k)
                        && cuts_match_whole(lib.dgemm, width, by_columns, short, k)
                })
            })
            .unwrap_or(0)
    };
    PanelAlignment {
        rows: least(false),
        cols: least(true),
    }
}

/// Whether a product cut by `Cuts` at multiples of `width` rows (or
/// columns) equals, bit for bit, the same product computed in one call.
fn cuts_match_whole<T: Float>(
    gemm: GemmFn<T>,
    width: usize,
    by_columns: bool,
    short: usize,
    k: usize,
) -> bool {
    // Four panels, the last one ragged, each above `PANEL_MIN_WORK`.
    let min_len = PANEL_MIN_WORK.div_ceil(short * k);
    let long = 4 * (width + min_len + 1) + 7;
    let cuts = Cuts::new(long, short * k, width, 4);
    let (m, n) = if by_columns {
        (short, long)
    } else {
        (long, short)
    };
    let fill = |len: usize, seed: u64| -> Vec<T> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                T::from_f64((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5)
            })
            .collect()
    };
    let (a, b) = (fill(m * k, 1), fill(k * n, 2));
    let call = |rows: usize, cols: usize, a_off: usize, b_off: usize, c: &mut [T], c_off: usize| {
        // SAFETY: `a` is m × k and `b` k × n row-major; the panel (rows ×
        // cols from the offsets) lies inside them and inside `c` (m × n).
        unsafe {
            gemm(
                ROW_MAJOR,
                NO_TRANS,
                NO_TRANS,
                rows as i64,
                cols as i64,
                k as i64,
                T::ONE,
                a.as_ptr().add(a_off),
                k as i64,
                b.as_ptr().add(b_off),
                n as i64,
                T::ZERO,
                c.as_mut_ptr().add(c_off),
                n as i64,
            )
        }
    };
    let (mut whole, mut cut) = (vec![T::ZERO; m * n], vec![T::ZERO; m * n]);
    call(m, n, 0, 0, &mut whole, 0);
    for (start, end) in cuts.panels() {
        if by_columns {
            call(m, end - start, 0, start, &mut cut, start);
        } else {
            call(end - start, n, start * k, 0, &mut cut, start * n);
        }
    }
    whole
        .iter()
        .zip(&cut)
        .all(|(x, y)| x.to_f64().to_bits() == y.to_f64().to_bits())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_fall_on_the_step_and_keep_every_panel_above_the_small_kernels() {
        for (side, line_work, step, wanted) in [
            (512, 257 * 300, 24, 2),
            (130, 100 * 1000, 48, 2),
            (1000, 513 * 777, 16, 32),
            (4096, 4096 * 4096, 24, 7),
        ] {
            let cuts = Cuts::new(side, line_work, step, wanted);
            assert!(cuts.count() >= 2, "{side} lines should be cut");
            let panels: Vec<_> = cuts.panels().collect();
            assert_eq!(panels.first().unwrap().0, 0);
            assert_eq!(panels.last().unwrap().1, side);
            for pair in panels.windows(2) {
                assert_eq!(pair[0].1, pair[1].0);
            }
            for &(start, end) in &panels {
                assert_eq!(start % step, 0);
                assert!((end - start) * line_work >= PANEL_MIN_WORK);
            }
        }
        // Too little work for two panels above the limit, or no step: one panel.
        assert_eq!(Cuts::new(64, 20_000, 16, 2).count(), 1);
        assert_eq!(Cuts::new(4096, 1 << 20, 0, 2).count(), 1);
    }

    #[test]
    fn row_major_and_transposed_views_map_to_cblas_flags() {
        assert_eq!(operand(3, 4, 4, 1), Some((NO_TRANS, 4)));
        assert_eq!(operand(3, 4, 10, 1), Some((NO_TRANS, 10)));
        assert_eq!(operand(4, 3, 1, 4), Some((TRANS, 4)));
        // One row or one column: the unused stride does not matter.
        assert_eq!(operand(1, 5, 0, 1), Some((NO_TRANS, 5)));
        assert_eq!(operand(5, 1, 7, 3), Some((NO_TRANS, 7)));
        // Neither stride is 1: CBLAS cannot take it.
        assert_eq!(operand(3, 4, 8, 2), None);
        // Rows that overlap are not a CBLAS matrix either.
        assert_eq!(operand(3, 4, 2, 1), None);
    }
}
