//! Register-blocked products for operands that stay in L1: no packing, each output tile summed in registers.
//!
//! A tile of `out` is summed over the whole inner dimension in registers
//! and written once at the end. Two forms cover the layouts a network's
//! step needs: `broadcast` when the rows of `b` are contiguous (each element
//! of `a` times a row of `b`), `dots` when the rows of `a` and the columns
//! of `b` are (lanes of a dot product, added in a fixed tree at the end).
//! The store can also finish each element, adding its column's intercept
//! and applying an [`Epilogue`] (`matmul_then`): a hidden layer's output is
//! then written once, not written, read back and written again by a pass.
//! The kernels are generic over how they store ([`Finish`]), so the plain
//! product's code is what it was without it.
//!
//! They run where the level in use (`simd::Level::detect`) is AVX2+FMA or
//! AVX-512: for AVX-512 the generic code below, whose local arrays
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

// Elsewhere only `matmul` and `matmul_then` are called, and they decline
// every product.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use std::marker::PhantomData;

use super::{Epilogue, View};
// Elsewhere the x86 kernels that name the stores are not compiled.
#[cfg(target_arch = "x86_64")]
use crate::kernels::simd::Level;
use crate::kernels::Float;
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_imports))]
use store::{put, Adding, Finish, Plain, Store};

#[cfg(target_arch = "x86_64")]
mod avx2;
mod store;
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

/// `out = E::apply(a @ b + intercepts)`, each element finished as its tile
/// is stored, if a form that writes the result row by row suits the
/// strides and the level in use has kernels; returns whether it ran (`out`
/// is untouched when not).
pub(super) fn matmul_then<T: Float, E: Epilogue>(
    out: &mut [T],
    a: &View<'_, T>,
    b: &View<'_, T>,
    intercepts: &[T],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if let Some(level) = kernel_level() {
        return matmul_then_at::<T, E>(level, out, a, b, intercepts);
    }
    let _ = (out, a, b, intercepts);
    false
}

/// Whether the level in use has kernels.
pub(super) fn runs() -> bool {
    #[cfg(target_arch = "x86_64")]
    return kernel_level().is_some();
    #[cfg(not(target_arch = "x86_64"))]
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
    check_level(level);
    let Some(form) = Form::of(a, b) else {
        return false;
    };
    let store = &mut Store {
        out,
        accumulate,
        alpha,
        cols: b.cols,
        first_col: 0,
        intercepts: &[],
        finish: PhantomData::<Plain>,
    };
    // SAFETY: the level was checked.
    unsafe { run(level, a, b, form, store) };
    true
}

/// [`matmul_then`] with the kernels of `level`, as [`matmul_at`]. The
/// transposed form writes a one-column result as a row, where its columns
/// would not say which intercept to add, so it declines.
///
/// # Panics
/// As [`matmul_at`], or if `intercepts` is not one per column of `b`.
#[cfg(target_arch = "x86_64")]
fn matmul_then_at<T: Float, E: Epilogue>(
    level: Level,
    out: &mut [T],
    a: &View<'_, T>,
    b: &View<'_, T>,
    intercepts: &[T],
) -> bool {
    check_level(level);
    assert_eq!(intercepts.len(), b.cols, "matmul: intercepts' length");
    let Some(form) = Form::of(a, b).filter(|&form| form != Form::TransposedBroadcast) else {
        return false;
    };
    let store = &mut Store {
        out,
        // As `Adding` stores (`1 · sum` is `sum`).
        accumulate: false,
        alpha: T::ONE,
        cols: b.cols,
        first_col: 0,
        intercepts,
        finish: PhantomData::<Adding<E>>,
    };
    // SAFETY: the level was checked.
    unsafe { run(level, a, b, form, store) };
    true
}

/// Panics unless the CPU has `level` and `level` has kernels.
#[cfg(target_arch = "x86_64")]
fn check_level(level: Level) {
    assert!(
        (Level::Avx2Fma..=Level::Avx512).contains(&level) && level <= Level::cpu(),
        "no tile kernels for {level:?} on this CPU"
    );
}

/// `store`'s product in the form `form` with the kernels of `level`.
///
/// # Safety
/// The CPU has `level`, which has kernels ([`check_level`]).
///
/// # Panics
/// If the shapes do not chain.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn run<T: Float>(
    level: Level,
    a: &View<'_, T>,
    b: &View<'_, T>,
    form: Form,
    store: &mut Store<'_, T, impl Finish>,
) {
    assert_eq!(a.cols, b.rows, "matmul: inner dimensions differ");
    assert_eq!(store.out.len(), a.rows * b.cols, "matmul: output shape");
    check_extent(a);
    check_extent(b);
    // SAFETY: the CPU has the level's features (as the caller checked), and every
    // element the views address lies within their data. The AVX-512
    // constants are (elements per register, broadcast tile columns, dot
    // lanes): 32 columns of float32 too, since 64 came out scalar.
    unsafe {
        match level {
            Level::Avx512 if size_of::<T>() == 4 => {
                avx512::<T, 16, 32, DOT_LANES>((a, b, form, store))
            }
            Level::Avx512 => avx512::<T, 8, 32, DOT_LANES>((a, b, form, store)),
            _ => avx2::matmul(a, b, form, store),
        }
    }
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

/// The kernels compiled for AVX-512, with `V` elements in one register,
/// `NR` columns to a broadcast tile (its `ROWS` rows then take
/// `ROWS · NR / V` of the 32 registers) and `LANES` partial sums to a dot
/// product.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn avx512<T: Float, const V: usize, const NR: usize, const LANES: usize>(
    (a, b, form, store): (
        &View<'_, T>,
        &View<'_, T>,
        Form,
        &mut Store<'_, T, impl Finish>,
    ),
) {
    // SAFETY (all three): the caller checked the views' extents.
    match form {
        Form::Broadcast => unsafe { broadcast_wide_then_avx2::<T, V, NR>(a, b, store) },
        Form::Dots => unsafe { dots::<T, LANES>(a, b, store) },
        // The result's one column, read as a row, is the same memory.
        Form::TransposedBroadcast => unsafe {
            broadcast_wide_then_avx2::<T, V, NR>(&b.t(), &a.t(), store)
        },
    }
}

/// The broadcast form at AVX-512: whole `NR`-column tiles here, the
/// columns left over in the AVX2 kernels (the same bits: one fused
/// multiply-add per `p` either way). The compiler's `V`- and 1-column
/// AVX-512 tiles ran far slower than the AVX2 intrinsics (the 128×32×8 and
/// 128×32×40 rows of `benches/test_small_products.py`; figures in
/// docs/performance.md).
///
/// # Safety
/// As for `broadcast`, on a CPU with AVX-512F, AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn broadcast_wide_then_avx2<T: Float, const V: usize, const NR: usize>(
    a: &View<'_, T>,
    b: &View<'_, T>,
    store: &mut Store<'_, T, impl Finish>,
) {
    let wide = b.cols / NR * NR;
    if wide > 0 {
        // SAFETY: a part of the checked view.
        unsafe { broadcast::<T, V, NR>(a, &b.column_range(0, wide), store) };
    }
    if wide < b.cols {
        store.first_col = wide;
        // SAFETY: as above; the CPU has AVX2 and FMA.
        unsafe { avx2::matmul(a, &b.column_range(wide, b.cols), Form::Broadcast, store) };
        store.first_col = 0;
    }
}

/// Rows per tile in the broadcast form.
const ROWS: usize = 4;

/// The broadcast form over the whole result: `ROWS × NR` tiles, then one
/// tile of the rows left.
///
/// # Safety
/// `b.col_stride == 1` and the views' extents were checked.
#[inline(always)]
unsafe fn broadcast<T: Float, const V: usize, const NR: usize>(
    a: &View<'_, T>,
    b: &View<'_, T>,
    store: &mut Store<'_, T, impl Finish>,
) {
    let mut i0 = 0;
    while i0 + ROWS <= a.rows {
        unsafe { broadcast_rows::<T, ROWS, NR, V>(a, b, i0, store) };
        i0 += ROWS;
    }
    // The rows left over in one tile: one row at a time ran at about a
    // third of the rate (`cargo run --release --example small_products`,
    // 10×200×100; figures in docs/performance.md).
    match a.rows - i0 {
        3 => unsafe { broadcast_rows::<T, 3, NR, V>(a, b, i0, store) },
        2 => unsafe { broadcast_rows::<T, 2, NR, V>(a, b, i0, store) },
        1 => unsafe { broadcast_rows::<T, 1, NR, V>(a, b, i0, store) },
        _ => {}
    }
}

/// Rows `i0..i0 + MR` of `out`, `NR` columns at a time, then `V`, then 1.
#[inline(always)]
unsafe fn broadcast_rows<T: Float, const MR: usize, const NR: usize, const V: usize>(
    a: &View<'_, T>,
    b: &View<'_, T>,
    i0: usize,
    store: &mut Store<'_, T, impl Finish>,
) {
    let n = b.cols;
    let mut j0 = 0;
    while j0 + NR <= n {
        unsafe { broadcast_tile::<T, MR, NR>(a, b, i0, j0, store) };
        j0 += NR;
    }
    while j0 + V <= n {
        unsafe { broadcast_tile::<T, MR, V>(a, b, i0, j0, store) };
        j0 += V;
    }
    while j0 < n {
        unsafe { broadcast_tile::<T, MR, 1>(a, b, i0, j0, store) };
        j0 += 1;
    }
}

/// One `MR × NR` tile at `(i0, j0)`: for each `p`, row `p` of `b` (columns
/// `j0..j0 + NR`) times each `a[i, p]`, added in order of `p`.
#[inline(always)]
unsafe fn broadcast_tile<T: Float, const MR: usize, const NR: usize>(
    a: &View<'_, T>,
    b: &View<'_, T>,
    i0: usize,
    j0: usize,
    store: &mut Store<'_, T, impl Finish>,
) {
    let (a_data, b_data) = (a.data.as_ptr(), b.data.as_ptr());
    let mut tile = [[T::ZERO; NR]; MR];
    for p in 0..a.cols {
        let mut b_row = [T::ZERO; NR];
        for (c, y) in b_row.iter_mut().enumerate() {
            // SAFETY: row p, columns j0..j0 + NR of `b` are within the view,
            // whose extent was checked.
            *y = unsafe { *b_data.add(p * b.row_stride + j0 + c) };
        }
        for (r, sums) in tile.iter_mut().enumerate() {
            // SAFETY: as for `b`: rows i0..i0 + MR, column p of `a`.
            let x = unsafe { *a_data.add((i0 + r) * a.row_stride + p * a.col_stride) };
            for c in 0..NR {
                sums[c] = x.mul_add(b_row[c], sums[c]);
            }
        }
    }
    put(store, i0, j0, tile);
}

/// Rows per tile in the dot form.
const DOT_ROWS: usize = 4;

/// The dot form over the whole result.
///
/// # Safety
/// `a.col_stride == 1`, `b.row_stride == 1` and the views' extents were
/// checked.
#[inline(always)]
unsafe fn dots<T: Float, const LANES: usize>(
    a: &View<'_, T>,
    b: &View<'_, T>,
    store: &mut Store<'_, T, impl Finish>,
) {
    let mut i0 = 0;
    while i0 + DOT_ROWS <= a.rows {
        for j in 0..b.cols {
            unsafe { dot_tile::<T, DOT_ROWS, LANES>(a, b, i0, j, store) };
        }
        i0 += DOT_ROWS;
    }
    while i0 < a.rows {
        for j in 0..b.cols {
            unsafe { dot_tile::<T, 1, LANES>(a, b, i0, j, store) };
        }
        i0 += 1;
    }
}

/// Rows `i0..i0 + MR` of `a` dotted with column `j` of `b`: `LANES` partial
/// sums per row, added in a fixed tree, then the tail in order.
#[inline(always)]
unsafe fn dot_tile<T: Float, const MR: usize, const LANES: usize>(
    a: &View<'_, T>,
    b: &View<'_, T>,
    i0: usize,
    j: usize,
    store: &mut Store<'_, T, impl Finish>,
) {
    let k = a.cols;
    let whole = k / LANES * LANES;
    let column = b.data.as_ptr().wrapping_add(j * b.col_stride);
    let mut rows = [column; MR];
    for (r, row) in rows.iter_mut().enumerate() {
        *row = a.data.as_ptr().wrapping_add((i0 + r) * a.row_stride);
    }
    // SAFETY (every read below): rows i0..i0 + MR of `a` and column j of
    // `b` are contiguous runs of k elements within the views, whose extents
    // were checked.
    let mut lanes = [[T::ZERO; LANES]; MR];
    let mut p0 = 0;
    while p0 < whole {
        let mut y = [T::ZERO; LANES];
        for (l, value) in y.iter_mut().enumerate() {
            *value = unsafe { *column.add(p0 + l) };
        }
        for r in 0..MR {
            for l in 0..LANES {
                let x = unsafe { *rows[r].add(p0 + l) };
                lanes[r][l] = x.mul_add(y[l], lanes[r][l]);
            }
        }
        p0 += LANES;
    }
    let mut tile = [[T::ZERO; 1]; MR];
    for r in 0..MR {
        let mut sum = lane_sum(lanes[r]);
        for p in whole..k {
            sum = unsafe { (*rows[r].add(p)).mul_add(*column.add(p), sum) };
        }
        tile[r][0] = sum;
    }
    put(store, i0, j, tile);
}

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
