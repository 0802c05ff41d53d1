//! How the register tiles store their sums: plainly (`alpha`, accumulating or not), or with a layer's intercepts added and an epilogue applied.

use std::marker::PhantomData;

use super::super::Epilogue;
use crate::kernels::Float;

/// How a tile's sums reach `out`.
pub(super) trait Finish {
    /// Whether the element stored is `apply(sum + intercept)` rather than
    /// the sum.
    const ADDS: bool;
    fn apply<T: Float>(x: T) -> T;
}

/// The plain product.
pub(super) struct Plain;

impl Finish for Plain {
    const ADDS: bool = false;
    #[inline(always)]
    fn apply<T: Float>(x: T) -> T {
        x
    }
}

/// The product, then `E` after adding each column's intercept.
pub(super) struct Adding<E>(PhantomData<E>);

impl<E: Epilogue> Finish for Adding<E> {
    const ADDS: bool = true;
    #[inline(always)]
    fn apply<T: Float>(x: T) -> T {
        E::apply(x)
    }
}

/// `out = alpha * sums`, or `out += alpha * sums` when `accumulate`; with
/// [`Adding`], `out = apply(sums + intercepts)`, where `alpha` is one and
/// `accumulate` false: the bits of the plain store followed by a pass that
/// adds and applies, since `1 · sum` is `sum` bit for bit (a sum is never a
/// signalling NaN) and the addition rounds as in the pass. The multiply by
/// one, kept, cost about what the fused pass saved
/// (`benches/network_per_batch.py`, the diabetes row).
pub(super) struct Store<'o, T, F> {
    pub out: &'o mut [T],
    /// The row length of `out` (a one-column result is written by the
    /// broadcast form as one row: `first_col` then counts its rows).
    pub cols: usize,
    /// Where the columns of the kernel's `b` start in `out`.
    pub first_col: usize,
    pub accumulate: bool,
    pub alpha: T,
    /// One per column of `out`, for [`Adding`] only.
    pub intercepts: &'o [T],
    pub finish: PhantomData<F>,
}

impl<T: Float, F: Finish> Store<'_, T, F> {
    /// Takes elements `start..start + N` of the row-major result, which
    /// are columns `col..col + N` of a row.
    ///
    /// By value: with a reference, the tile's address escaped, and the
    /// compiler then stored every sum to the stack at every step of the
    /// inner loop (`benches/test_small_products.py`).
    #[inline(always)]
    fn write<const N: usize>(&mut self, start: usize, col: usize, sums: [T; N]) {
        let out = &mut self.out[start..start + N];
        if F::ADDS {
            let intercepts = &self.intercepts[col..col + N];
            for ((slot, sum), &b) in out.iter_mut().zip(sums).zip(intercepts) {
                *slot = F::apply(sum + b);
            }
            return;
        }
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
pub(super) fn put<T: Float, const MR: usize, const NR: usize>(
    store: &mut Store<'_, T, impl Finish>,
    i0: usize,
    j0: usize,
    tile: [[T; NR]; MR],
) {
    const { assert!(MR <= 8) };
    let (cols, j0) = (store.cols, store.first_col + j0);
    store.write(i0 * cols + j0, j0, tile[0]);
    if MR > 1 {
        store.write((i0 + 1) * cols + j0, j0, tile[1 % MR]);
    }
    if MR > 2 {
        store.write((i0 + 2) * cols + j0, j0, tile[2 % MR]);
    }
    if MR > 3 {
        store.write((i0 + 3) * cols + j0, j0, tile[3 % MR]);
    }
    if MR > 4 {
        store.write((i0 + 4) * cols + j0, j0, tile[4 % MR]);
    }
    if MR > 5 {
        store.write((i0 + 5) * cols + j0, j0, tile[5 % MR]);
    }
    if MR > 6 {
        store.write((i0 + 6) * cols + j0, j0, tile[6 % MR]);
    }
    if MR > 7 {
        store.write((i0 + 7) * cols + j0, j0, tile[7 % MR]);
    }
}
