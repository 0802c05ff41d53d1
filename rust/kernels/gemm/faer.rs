//! The faer path: every product CBLAS does not take, on one thread or in panels over neurust's pool.

use std::ffi::c_int;
use std::sync::OnceLock;

use faer::{MatMut, MatRef, Par};

use super::{cblas, View, PARALLEL_GEMM};
use crate::kernels::blas::{self, Cblas, PanelAlignment};
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

/// `matmul` through faer. From `PARALLEL_GEMM` on more than one thread,
/// the product is cut into panels that neurust's threads take in turn, as
/// OpenBLAS's are (`cblas::matmul`), through `FAER` below; faer's own rayon
/// split remains for operands without a unit stride. Under load from other
/// processes that split ran the seeds' fit (1024 rows) at half its one-thread
/// speed on two threads, 15.1 against 7.2 ms a step, its threads waiting for
/// each other busily; the panels stay near the one-thread speed.
pub(super) fn matmul<T: Element>(
    out: &mut [T],
    a: View<'_, T>,
    b: View<'_, T>,
    accumulate: bool,
    alpha: T,
) {
    let (m, n) = (a.rows, b.cols);
    let work = m * n * a.cols;
    let threads = parallel::num_threads();
    let parallel = work >= PARALLEL_GEMM && threads > 1;
    if parallel && cblas::matmul(&FAER, out, a, b, accumulate, alpha) {
        return;
    }
    // SAFETY: `out` holds exactly m * n elements (checked by the caller),
    // laid out row-major, and is borrowed mutably for the whole call.
    let out = unsafe { MatMut::from_raw_parts_mut(out.as_mut_ptr(), m, n, n as isize, 1) };
    if parallel {
        let par = Par::rayon(threads);
        parallel::install(|| T::faer_gemm(out, as_faer(a), as_faer(b), accumulate, alpha, par));
    } else {
        T::faer_gemm(out, as_faer(a), as_faer(b), accumulate, alpha, Par::Seq);
    }
}

static FAER_ALIGNMENT: OnceLock<PanelAlignment> = OnceLock::new();

/// faer on one thread behind the CBLAS function type, for the panels.
static FAER: Cblas = Cblas {
    dgemm: faer_gemm::<f64>,
    sgemm: faer_gemm::<f32>,
    get_threads: blas::one_thread,
    set_threads: blas::no_threads_to_set,
    name: "faer",
    alignment: &FAER_ALIGNMENT,
};

/// The widths at which faer's products can be cut without changing their
/// bits (measured on first use, as OpenBLAS's are).
pub fn panel_alignment() -> PanelAlignment {
    blas::panel_alignment(&FAER)
}

/// A row-major CBLAS `?gemm` (64-bit integers) computed by faer on the
/// calling thread, for `beta` 0 or 1 (all `cblas::matmul` passes).
///
/// # Safety
/// As for CBLAS: the pointers and leading dimensions describe the matrices,
/// and `c` overlaps neither `a` nor `b`.
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn faer_gemm<T: Element>(
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
) {
    debug_assert_eq!(layout, blas::ROW_MAJOR);
    debug_assert!(beta == T::ZERO || beta == T::ONE);
    let (m, n, k) = (m as usize, n as usize, k as usize);
    // (row stride, column stride) of the operand as the product uses it.
    let strides = |trans: c_int, ld: i64| {
        if trans == blas::TRANS {
            (1, ld as isize)
        } else {
            (ld as isize, 1)
        }
    };
    let ((a_rows, a_cols), (b_rows, b_cols)) = (strides(trans_a, lda), strides(trans_b, ldb));
    let a = MatRef::from_raw_parts(a, m, k, a_rows, a_cols);
    let b = MatRef::from_raw_parts(b, k, n, b_rows, b_cols);
    let out = MatMut::from_raw_parts_mut(c, m, n, ldc as isize, 1);
    T::faer_gemm(out, a, b, beta != T::ZERO, alpha, Par::Seq);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gemm::tests::filled;

    /// faer cut into panels at its measured alignment, on several threads,
    /// against one call on one thread: the same bits.
    fn panels_match_one_call<T: Element>(m: usize, k: usize, n: usize, transposed: bool) {
        let cast = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect::<Vec<T>>();
        let (a, b) = (cast(filled(m * k, 3)), cast(filled(k * n, 4)));
        let a_view = if transposed {
            View::row_major(&a, k, m).t()
        } else {
            View::row_major(&a, m, k)
        };
        let b_view = View::row_major(&b, k, n);
        let mut whole = vec![T::ZERO; m * n];
        T::faer_gemm(
            // SAFETY: `whole` is m × n row-major and borrowed for the call.
            unsafe { MatMut::from_raw_parts_mut(whole.as_mut_ptr(), m, n, n as isize, 1) },
            as_faer(a_view),
            as_faer(b_view),
            false,
            T::ONE,
            Par::Seq,
        );
        let before = parallel::num_threads();
        parallel::set_num_threads(3);
        let mut cut = vec![T::ZERO; m * n];
        let took = cblas::matmul(&FAER, &mut cut, a_view, b_view, false, T::ONE);
        parallel::set_num_threads(before);
        assert!(took, "unit-stride operands go to the panels");
        assert!(
            whole == cut,
            "{m}x{k}x{n} {} transposed={transposed}",
            T::NAME
        );
    }

    #[test]
    fn panels_have_the_bits_of_one_call() {
        assert_ne!(panel_alignment(), PanelAlignment { rows: 0, cols: 0 });
        for &(m, k, n) in &[
            (128, 1000, 100),
            (1000, 128, 100),
            (301, 257, 999),
            (67, 1000, 33),
        ] {
            for transposed in [false, true] {
                panels_match_one_call::<f64>(m, k, n, transposed);
                panels_match_one_call::<f32>(m, k, n, transposed);
            }
        }
    }
}
