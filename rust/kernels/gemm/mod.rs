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
use super::{Element, Float};

/// Products with fewer multiply-adds than this use the plain loop.
pub const SMALL_GEMM: usize = 4096;

/// Products with at least `TILE_MIN` and fewer than `TILE_MAX` multiply-adds
/// use the register-blocked kernels where their layout and the CPU allow:
/// they beat the plain loops even on the 4×3→8→1 network's products of 12
/// to 96 multiply-adds, and faer up to `TILE_MAX`, where its packing starts
/// to pay. Measured by
/// `benches/test_small_products.py` and `neurust compare --workloads
/// train_step --sizes 4x3x8x1` (figures in docs/performance.md).
pub const TILE_MIN: usize = 16;
pub const TILE_MAX: usize = 1 << 19;

/// Products with fewer multiply-adds than this run on one thread: below
/// about 128³ thread start-up and synchronisation outweigh the arithmetic.
/// Measured by `neurust compare --workloads linear --threads 1,2`.
pub const PARALLEL_GEMM: usize = 1 << 21;

/// Products with fewer multiply-adds than this stay on faer even when
/// OpenBLAS is loaded: below about 100³ faer's set-up is as cheap and its
/// kernels as fast. Measured by `neurust compare --workloads linear` with
/// and without `NEURUST_GEMM=faer` (figures in docs/performance.md).
pub const BLAS_MIN: usize = 1 << 20;

/// Whether an `m × k` by `k × n` product with unit strides runs on the
/// register tiles, whose bits a fused pass may then reproduce.
pub fn tiles_take(m: usize, k: usize, n: usize) -> bool {
    (TILE_MIN..TILE_MAX).contains(&(m * k * n)) && tile::runs()
}

/// What [`matmul_then`] applies to each element of a product after adding
/// its column's intercept.
pub trait Epilogue {
    fn apply<T: Float>(x: T) -> T;
}

/// `out = a @ b`, then `out[i, j] = E::apply(out[i, j] + intercepts[j])`
/// where the register tiles take the product: each element is finished as
/// its tile is stored, so the result is not read back. The bits are those of
/// [`matmul`] followed by that pass. Returns whether the tiles ran: if not,
/// `out` holds the bare product and the pass is the caller's to run.
///
/// # Panics
/// If the shapes do not chain, or `intercepts` is not one per column of `b`.
pub fn matmul_then<T: Element, E: Epilogue>(
    out: &mut [T],
    a: View<'_, T>,
    b: View<'_, T>,
    intercepts: &[T],
) -> bool {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(intercepts.len(), n, "matmul: intercepts' length");
    if (TILE_MIN..TILE_MAX).contains(&(m * k * n)) {
        assert_eq!(b.rows, k, "matmul: inner dimensions differ");
        assert_eq!(out.len(), m * n, "matmul: output shape");
        if tile::matmul_then::<T, E>(out, &a, &b, intercepts) {
            return true;
        }
    }
    matmul(out, a, b, false, T::ONE);
    false
}

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
