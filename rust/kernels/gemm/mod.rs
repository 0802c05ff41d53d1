//! Matrix products: the one place that calls a GEMM library.
//!
//! Products run on OpenBLAS when the bindings installed it (see `blas`) and
//! both operands have a unit stride, otherwise on faer. Both pick their SIMD
//! kernels at run time, so a wheel built for the baseline x86-64 CPU still
//! runs the widest kernels the machine has. Small products skip both: below
//! `TILE_MAX` multiply-adds the operands stay in cache and packing them costs
//! more than it saves, so register-blocked kernels (`tile`, at AVX2+FMA and
//! AVX-512) take them; where those do not apply (another CPU, a tiny
//! product, or no operand with the unit stride they read along), products
//! below `SMALL_GEMM` run in plain loops.

mod cblas;
mod faer;
mod small;
mod tile;
mod view;

#[cfg(test)]
mod fake_cblas;
#[cfg(test)]
pub(crate) mod tests;

pub use faer::kernel_name as faer_kernel_name;
pub use faer::panel_alignment as faer_panel_alignment;
pub use tile::kernel_name as small_kernel_name;
pub use view::View;

use super::blas;
use super::Element;

/// Products with fewer multiply-adds than this use the plain loop.
pub const SMALL_GEMM: usize = 4096;

/// Products with at least `TILE_MIN` and fewer than `TILE_MAX` multiply-adds
/// use the register-blocked kernels where their layout and the CPU allow:
/// float64 on one thread, in a release build without link-time
/// optimisation, they took 42 ns at 8³ (the plain loop 517, faer 75), 6.0 µs
/// at 64³ (faer 6.9) and 14.0 µs at 128×64×64 (faer 13.5). With the AVX2
/// intrinsics, the 4×3→8→1 network's step (products of 12 to 96
/// multiply-adds) took 136–156 ns on the kernels against 180–215 on the
/// plain loops at AVX2, and 161–178 against 192–210 at AVX-512 (an AMD
/// EPYC, median of 9 fits of 10,000 steps), so only the tiniest products
/// keep to the loops.
pub const TILE_MIN: usize = 16;
pub const TILE_MAX: usize = 1 << 19;

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
    if (TILE_MIN..TILE_MAX).contains(&work) && tile::matmul(out, &a, &b, accumulate, alpha) {
        return;
    }
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
