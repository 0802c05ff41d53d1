//! The faer path: every product CBLAS does not take, on one thread or on neurust's pool.

use faer::{MatMut, MatRef, Par};

use super::{View, PARALLEL_GEMM};
use crate::kernels::parallel;
use crate::kernels::Element;

fn as_faer<T>(view: View<'_, T>) -> MatRef<'_, T> {
    // SAFETY: a `View` is only built over a slice holding every element it
    // addresses (checked in `row_major`; `t` only swaps the strides), the
    // strides fit in isize because the slice length does, and the borrow
    // keeps the data alive and unmutated for the returned lifetime.
    unsafe {
        MatRef::from_raw_parts(
            view.data.as_ptr(),
            view.rows,
            view.cols,
            view.row_stride as isize,
            view.col_stride as isize,
        )
    }
}

/// `matmul` through faer, on neurust's pool from `PARALLEL_GEMM`.
pub(super) fn matmul<T: Element>(
    out: &mut [T],
    a: View<'_, T>,
    b: View<'_, T>,
    accumulate: bool,
    alpha: T,
) {
    let (m, n) = (a.rows, b.cols);
    let work = m * n * a.cols;
    // SAFETY: `out` holds exactly m * n elements (checked by the caller),
    // laid out row-major, and is borrowed mutably for the whole call.
    let out = unsafe { MatMut::from_raw_parts_mut(out.as_mut_ptr(), m, n, n as isize, 1) };
    let threads = parallel::num_threads();
    if work >= PARALLEL_GEMM && threads > 1 {
        let par = Par::rayon(threads);
        parallel::install(|| T::faer_gemm(out, as_faer(a), as_faer(b), accumulate, alpha, par));
    } else {
        T::faer_gemm(out, as_faer(a), as_faer(b), accumulate, alpha, Par::Seq);
    }
}
