//! Register-blocked products for operands that stay in L1: no packing, each output tile summed in registers.
//!
//! A tile of `out` is summed over the whole inner dimension in registers
//! and written once at the end. Two forms cover the layouts a network's
//! step needs: `broadcast` when the rows of `b` are contiguous (each element
//! of `a` times a row of `b`), `dots` when the rows of `a` and the columns
//! of `b` are (lanes of a dot product, added in a fixed tree at the end).
//!
//! They run where the level in use (`simd::Level::detect`) is AVX2+FMA or
//! AVX-512: for AVX-512 the generic code in `avx512`, whose local arrays
//! the compiler keeps in the 32 zmm registers; for AVX2 the intrinsics in
//! `avx2`, because the compiler's AVX2 copy of the generic code
//! came out mostly scalar, slower than faer. Without either, products keep
//! to the plain loops and faer. `benches/test_small_products.py` measures
//! them at each level (figures in docs/performance.md).
//!
//! Where the bits may differ: the fused multiply-adds make them differ from
//! the plain loops' and faer's by the roundings FMA skips. They never
//! depend on the thread count (the kernels run on the calling thread), and
//! the AVX2 and AVX-512 kernels sum each element in the same order, so
//! they agree bit for bit. `avx512f` is a stable target feature from Rust
//! 1.89.

// Elsewhere only `matmul` is called, and it declines every product.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use super::View;
#[cfg(target_arch = "x86_64")]
use crate::kernels::simd::Level;
use crate::kernels::Float;

#[cfg(target_arch = "x86_64")]
mod avx2;
mod avx512;
#[cfg(all(test, target_arch = "x86_64"))]
mod tests;

/// Partial sums to a dot product, at every level (the tree that adds them
/// fixes the bits).
const DOT_LANES: usize = 16;

/// `out = alpha * a @ b` (or `+=` when `accumulate`) if a register-blocked
/// form suits the strides and the level in use has kernels; returns whether
/// it ran.
pub(super) fn matmul<T: Float>(
    out: &mut [T],
    a: &View<'_, T>,
    b: &View<'_, T>,
    accumulate: bool,
    alpha: T,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if let Some(level) = kernel_level() {
        return matmul_at(level, out, a, b, accumulate, alpha);
    }
    let _ = (out, a, b, accumulate, alpha);
    false
}

/// The level whose kernels run: AVX-512 or AVX2+FMA, if in use (one load).
#[cfg(target_arch = "x86_64")]
#[inline]
fn kernel_level() -> Option<Level> {
    let level = Level::detect();
    (level >= Level::Avx2Fma).then_some(level)
}

/// Which kernels take the small products at the level in use, as
/// `build_info` reports it.
pub fn kernel_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    match kernel_level() {
        Some(Level::Avx512) => return "avx512 register tiles",
        Some(_) => return "avx2+fma register tiles",
        None => {}
    }
    "plain loops"
}

/// [`matmul`] with the kernels of `level` (AVX2+FMA or AVX-512), which the
/// CPU must have.
///
/// # Panics
/// If the CPU lacks `level`, or `level` has no kernels.
#[cfg(target_arch = "x86_64")]
fn matmul_at<T: Float>(
    level: Level,
    out: &mut [T],
    a: &View<'_, T>,
    b: &View<'_, T>,
    accumulate: bool,
    alpha: T,
) -> bool {
    assert!(
        (Level::Avx2Fma..=Level::Avx512).contains(&level) && level <= Level::cpu(),
        "no tile kernels for {level:?} on this CPU"
    );
    let Some(form) = Form::of(a, b) else {
        return false;
    };
    assert_eq!(a.cols, b.rows, "matmul: inner dimensions differ");
    assert_eq!(out.len(), a.rows * b.cols, "matmul: output shape");
    check_extent(a);
    check_extent(b);
    let store = &mut Store {
        out,
        accumulate,
        alpha,
        cols: b.cols,
        first_col: 0,
    };
    // SAFETY: the CPU has the level's features (asserted above), and every
    // element the views address lies within their data. The AVX-512
    // constants are (elements per register, broadcast tile columns, dot
    // lanes): 32 columns of float32 too, since 64 came out scalar.
    unsafe {
        match level {
            Level::Avx512 if size_of::<T>() == 4 => {
                avx512::matmul::<T, 16, 32, DOT_LANES>((a, b, form, store))
            }
            Level::Avx512 => avx512::matmul::<T, 8, 32, DOT_LANES>((a, b, form, store)),
            _ => avx2::matmul(a, b, form, store),
        }
    }
    true
}

/// Which kernel computes a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// Rows of `b` contiguous.
    Broadcast,
    /// Rows of `a` and columns of `b` contiguous.
    Dots,
    /// A one-column result from an `a` with contiguous columns:
    /// `outᵀ = bᵀ · aᵀ` in the broadcast form (`out` is the same memory).
    TransposedBroadcast,
}

impl Form {
    fn of<T>(a: &View<'_, T>, b: &View<'_, T>) -> Option<Form> {
        let (m, n) = (a.rows, b.cols);
        if b.col_stride == 1 && (n > 1 || m == 1) {
            Some(Form::Broadcast)
        } else if a.col_stride == 1 && b.row_stride == 1 {
            Some(Form::Dots)
        } else if n == 1 && a.row_stride == 1 {
            Some(Form::TransposedBroadcast)
        } else {
            None
        }
    }
}

/// Panics unless every element `view` addresses lies within its data, so
/// that the kernels can read without bounds checks.
fn check_extent<T>(view: &View<'_, T>) {
    if view.rows == 0 || view.cols == 0 {
        return;
    }
    let last = (view.rows - 1) * view.row_stride + (view.cols - 1) * view.col_stride;
    assert!(last < view.data.len(), "matmul: view outside its data");
}

/// `out = alpha * sums`, or `out += alpha * sums` when `accumulate`.
struct Store<'o, T> {
    out: &'o mut [T],
    /// The row length of `out` (a one-column result is written by the
    /// broadcast form as one row: `first_col` then counts its rows).
    cols: usize,
    /// Where the columns of the kernel's `b` start in `out`.
    first_col: usize,
    accumulate: bool,
    alpha: T,
}

impl<T: Float> Store<'_, T> {
    /// Takes elements `start..start + N` of the row-major result.
    ///
    /// By value: with a reference, the tile's address escaped, and the
    /// compiler then stored every sum to the stack at every step of the
    /// inner loop (`benches/test_small_products.py`).
    #[inline(always)]
    fn write<const N: usize>(&mut self, start: usize, sums: [T; N]) {
        let out = &mut self.out[start..start + N];
        for (slot, sum) in out.iter_mut().zip(sums) {
            let value = self.alpha * sum;
            *slot = if self.accumulate {
                *slot + value
            } else {
                value
            };
        }
    }
}

/// Writes each row of a tile at `(i0, j0)` of the kernel's columns, with
/// constant indices rather than a loop, so that the tile need not be
/// addressable memory.
#[inline(always)]
fn put<T: Float, const MR: usize, const NR: usize>(
    store: &mut Store<'_, T>,
    i0: usize,
    j0: usize,
    tile: [[T; NR]; MR],
) {
    const { assert!(MR <= 4) };
    let (cols, j0) = (store.cols, store.first_col + j0);
    store.write(i0 * cols + j0, tile[0]);
    if MR > 1 {
        store.write((i0 + 1) * cols + j0, tile[1 % MR]);
    }
    if MR > 2 {
        store.write((i0 + 2) * cols + j0, tile[2 % MR]);
    }
    if MR > 3 {
        store.write((i0 + 3) * cols + j0, tile[3 % MR]);
    }
}

/// Rows per tile in the broadcast form.
const ROWS: usize = 4;

/// The lanes added in a fixed tree: halves onto halves. Written with
/// constant indices so that the lanes stay in registers (a loop over the
/// widths kept them in memory: `benches/test_small_products.py`).
#[inline(always)]
fn lane_sum<T: Float, const LANES: usize>(mut lanes: [T; LANES]) -> T {
    const { assert!(LANES.is_power_of_two() && LANES >= 4 && LANES <= 32) };
    if LANES >= 32 {
        for l in 0..16 {
            lanes[l] += lanes[l + 16];
        }
    }
    if LANES >= 16 {
        for l in 0..8 {
            lanes[l] += lanes[l + 8];
        }
    }
    if LANES >= 8 {
        for l in 0..4 {
            lanes[l] += lanes[l + 4];
        }
    }
    for l in 0..2 {
        lanes[l] += lanes[l + 2];
    }
    lanes[0] + lanes[1]
}
