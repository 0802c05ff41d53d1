//! The faer path: every product CBLAS does not take, on one thread or on neurust's pool.

use faer::linalg::matmul::matmul as faer_matmul;
use faer::{Accum, MatMut, MatRef, Par};

use super::{View, PARALLEL_GEMM};
use crate::kernels::blas::{Cblas, GemmFn};
use crate::kernels::parallel;
use crate::kernels::Float;

/// The element operations faer provides for one concrete type.
pub trait Gemm: Sized {
    /// This type's `cblas_?gemm` in `lib`.
    fn cblas_gemm(lib: &Cblas) -> GemmFn<Self>;

    /// `out = alpha * a @ b (+ out if accumulate)`, through faer.
    fn faer_gemm(
        out: MatMut<'_, Self>,
        a: MatRef<'_, Self>,
        b: MatRef<'_, Self>,
        accumulate: bool,
        alpha: Self,
        par: Par,
    );
}

macro_rules! impl_gemm {
    ($t:ty, $cblas:ident) => {
        impl Gemm for $t {
            fn cblas_gemm(lib: &Cblas) -> GemmFn<Self> {
                lib.$cblas
            }

            fn faer_gemm(
                out: MatMut<'_, Self>,
                a: MatRef<'_, Self>,
                b: MatRef<'_, Self>,
                accumulate: bool,
                alpha: Self,
                par: Par,
            ) {
                let accum = if accumulate {
                    Accum::Add
                } else {
                    Accum::Replace
                };
                faer_matmul(out, accum, a, b, alpha, par);
            }
        }
    };
}

impl_gemm!(f32, sgemm);
impl_gemm!(f64, dgemm);

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
pub(super) fn matmul<T: Float>(
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
