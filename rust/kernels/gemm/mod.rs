//! Matrix products: the one place that calls a GEMM library.
//!
//! Products run on OpenBLAS when the bindings installed it (see `blas`) and
//! both operands have a unit stride, otherwise on faer. Both pick their SIMD
//! kernels at run time, so a wheel built for the baseline x86-64 CPU still
//! runs the widest kernels the machine has. Tiny products skip both: below
//! `SMALL_GEMM` multiply-adds the set-up costs more than the arithmetic, and
//! a plain loop that stays in registers wins (measured on the 4×3→8→1
//! network).

mod cblas;
mod faer;
mod small;
mod view;

#[cfg(test)]
mod fake_cblas;
#[cfg(test)]
pub(crate) mod tests;

pub use faer::panel_alignment as faer_panel_alignment;
pub use view::View;

use super::blas;
use super::Element;

/// Products with fewer multiply-adds than this use the plain loop.
pub const SMALL_GEMM: usize = 4096;

/// Products with fewer multiply-adds than this run on one thread: 64³
/// float64 took 13.5 µs on one thread and 41 µs on two (thread start-up and
/// synchronisation outweigh the arithmetic below about 128³).
pub const PARALLEL_GEMM: usize = 1 << 21;

/// Products with fewer multiply-adds than this stay on faer even when
/// OpenBLAS is loaded: below about 100³ faer's set-up is as cheap and its
/// kernels as fast (128³ float64 on one thread: faer 32.7, OpenBLAS 32.2
/// GFLOP/s; 1024³: 31.4 against 37.5).
pub const BLAS_MIN: usize = 1 << 20;

/// `out = alpha * a @ b`, or `out += alpha * a @ b` when `accumulate`, with
/// `out` row-major `a.rows() × b.cols()`.
///
/// # Panics
/// If the shapes do not chain (callers validate first).
pub fn matmul<T: Element>(
    out: &mut [T],
    a: View<'_, T>,
    b: View<'_, T>,
    accumulate: bool,
    alpha: T,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "matmul: inner dimensions differ");
    assert_eq!(out.len(), m * n, "matmul: output shape");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            out.fill(T::ZERO);
        }
        return;
    }
    let work = m * n * k;
    if work < SMALL_GEMM {
        // By reference: the views are not copied on the way to the loops.
        return small::matmul(out, &a, &b, accumulate, alpha);
    }
    if let Some(lib) = blas::active().filter(|_| work >= BLAS_MIN && !cblas::faer_is_faster::<T>(n))
    {
        if cblas::matmul(lib, out, a, b, accumulate, alpha) {
            return;
        }
    }
    faer::matmul(out, a, b, accumulate, alpha);
}
