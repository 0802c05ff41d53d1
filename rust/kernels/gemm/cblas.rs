//! Large products through CBLAS, cut into row or column panels over neurust's pool.

use super::{View, PARALLEL_GEMM};
use crate::kernels::blas::{self, Cblas, Cuts, PANEL_MIN_WORK};
use crate::kernels::parallel;
use crate::kernels::Element;

/// At most this many panels run at once (OpenBLAS keeps a fixed table of
/// per-call buffers; 32 stays far inside it).
const MAX_PANELS: usize = 32;

/// How the output of an `m × n` product is cut: into panels of columns
/// (`by_columns`) or of rows.
struct Panels {
    by_columns: bool,
    cuts: Cuts,
}

impl Panels {
    fn plan(lib: &Cblas, m: usize, n: usize, k: usize) -> Self {
        let work = m * n * k;
        let threads = parallel::num_threads();
        // One panel per thread. More, taken by whichever thread is free,
        // helped only when a pool thread was pinned beside a busy loop, and
        // cost more otherwise, as each panel packs the shared operand again
        // (`neurust compare --workloads linear --sizes 2k --threads 2`, alone
        // and beside a busy loop; figures in docs/performance.md).
        let wanted = if work >= PARALLEL_GEMM && threads > 1 {
            threads.min(work / PANEL_MIN_WORK).min(MAX_PANELS)
        } else {
            1
        };
        // Cut where the kernels' register tiles start (see `blas`), so the
        // bits do not change; prefer the longer side.
        let align = if wanted > 1 {
            blas::panel_alignment(lib)
        } else {
            blas::PanelAlignment { rows: 0, cols: 0 }
        };
        let rows = Cuts::new(m, n * k, align.rows, wanted);
        let cols = Cuts::new(n, m * k, align.cols, wanted);
        let by_columns = cols.count() > 1 && (n >= m || rows.count() == 1);
        Panels {
            by_columns,
            cuts: if by_columns { cols } else { rows },
        }
    }
}

/// Whether an `n`-column product in `T` runs faster on faer than on
/// OpenBLAS on this CPU (see `blas::faer_max_cols_f64`).
pub(super) fn faer_is_faster<T: Element>(n: usize) -> bool {
    T::NAME == "float64" && blas::faer_max_cols_f64().is_some_and(|max| n <= max)
}

/// A raw pointer that may cross to a pool thread (each panel writes only
/// its own part of the output).
#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
// SAFETY: the panels given to different threads are disjoint.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer moved `count` elements on (a method, so closures capture
    /// the whole `SendPtr` rather than its raw field).
    ///
    /// # Safety
    /// As for `pointer::add`.
    unsafe fn add(self, count: usize) -> *mut T {
        self.0.add(count)
    }
}

/// `matmul` through CBLAS, split into row or column panels over the pool
/// for large products. Returns `false` (doing nothing) if an operand has no
/// unit stride.
pub(super) fn matmul<T: Element>(
    lib: &Cblas,
    out: &mut [T],
    a: View<'_, T>,
    b: View<'_, T>,
    accumulate: bool,
    alpha: T,
) -> bool {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let (Some((trans_a, lda)), Some((trans_b, ldb))) = (
        blas::operand(m, k, a.row_stride, a.col_stride),
        blas::operand(k, n, b.row_stride, b.col_stride),
    ) else {
        return false;
    };
    blas::keep_single_threaded(lib);
    let gemm = T::cblas_gemm(lib);
    let beta = if accumulate { T::ONE } else { T::ZERO };
    let Panels { by_columns, cuts } = Panels::plan(lib, m, n, k);
    // The library only reads through the `a` and `b` pointers.
    let a_ptr = SendPtr(a.data.as_ptr().cast_mut());
    let b_ptr = SendPtr(b.data.as_ptr().cast_mut());
    let c_ptr = SendPtr(out.as_mut_ptr());
    let panel = |(start, end): (usize, usize)| {
        let len = end - start;
        // Offsets of the panel's first element in `a`, `b` and `out`.
        let (a_off, b_off, c_off, rows, cols) = if by_columns {
            (0, start * b.col_stride, start, m, len)
        } else {
            (start * a.row_stride, 0, start * n, len, n)
        };
        // SAFETY: `operand` checked that the views' strides describe CBLAS
        // matrices (leading dimension at least the row length), and a
        // `View`'s slice holds every element it addresses, so every read
        // stays inside `a.data` and `b.data`; `out` is `m × n` row-major and
        // the panels are disjoint blocks of it. The library contract
        // (`blas::install`) makes concurrent calls sound.
        unsafe {
            gemm(
                blas::ROW_MAJOR,
                trans_a,
                trans_b,
                rows as i64,
                cols as i64,
                k as i64,
                alpha,
                a_ptr.add(a_off),
                lda,
                b_ptr.add(b_off),
                ldb,
                beta,
                c_ptr.add(c_off),
                n as i64,
            );
        }
    };
    parallel::for_each_index(cuts.count(), |index| {
        panel((cuts.boundary(index), cuts.boundary(index + 1)))
    });
    true
}
