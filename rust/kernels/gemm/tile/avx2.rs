//! The register-blocked products for CPUs with AVX2 and FMA, written in `std::arch` intrinsics over the 16 ymm registers.
//!
//! The compiler's own AVX2 copy of the generic tiles in `tile` kept most
//! sums in memory, slower than faer, so this copy names its registers.
//! Each output element is summed in
//! the same order as in the AVX-512 kernels: in the broadcast form one
//! fused multiply-add per `p`, in order, from zero; in the dot form the
//! same [`DOT_LANES`] partial sums, added in the same tree, then the tail in
//! order. The two levels therefore give the same bits, which the tests
//! check. `NEURUST_SIMD=avx2 python -m pytest benches/test_small_products.py`
//! measures them (figures in docs/performance.md).

use std::any::TypeId;
use std::arch::x86_64::*;

use super::{lane_sum, put, Finish, Form, Store, View, DOT_LANES, ROWS};
use crate::kernels::Float;

/// `store`'s product in the form `form`, with the kernels for `T`.
///
/// # Safety
/// The CPU has AVX2 and FMA, `form` suits the views' strides, and every
/// element the views address lies within their data.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn matmul<T: Float, F: Finish>(
    a: &View<'_, T>,
    b: &View<'_, T>,
    form: Form,
    store: &mut Store<'_, T, F>,
) {
    // SAFETY: each branch runs only where `T` is the type it casts to, so
    // the casts change no layout; the caller's guarantees pass on.
    unsafe {
        if TypeId::of::<T>() == TypeId::of::<f64>() {
            float64::matmul(
                &cast(a),
                &cast(b),
                form,
                &mut *std::ptr::from_mut(store).cast::<Store<'_, f64, F>>(),
            )
        } else if TypeId::of::<T>() == TypeId::of::<f32>() {
            float32::matmul(
                &cast(a),
                &cast(b),
                form,
                &mut *std::ptr::from_mut(store).cast::<Store<'_, f32, F>>(),
            )
        } else {
            unreachable!("tile kernels exist for float32 and float64 only")
        }
    }
}

/// `_mm_set1_pd` from memory, like `_mm_broadcast_ss` (AVX has no
/// 128-bit broadcast of a double).
#[inline(always)]
unsafe fn set1_pd_from(x: &f64) -> __m128d {
    _mm_set1_pd(*x)
}

/// `view` as a view of `U`.
///
/// # Safety
/// `U` is `T`.
unsafe fn cast<'a, T, U>(view: &View<'a, T>) -> View<'a, U> {
    View {
        // SAFETY: the same memory, of the same type.
        data: unsafe { std::slice::from_raw_parts(view.data.as_ptr().cast(), view.data.len()) },
        rows: view.rows,
        cols: view.cols,
        row_stride: view.row_stride,
        col_stride: view.col_stride,
    }
}

/// The kernels for one element type: `$width` lanes to a register, tiles of
/// `ROWS × 2·$width` in the broadcast form (8 accumulators, 2 registers of
/// a row of `b` and one broadcast element: 8 independent chains cover the
/// FMA's latency at two a cycle; with 4 × 3 registers, 12 accumulators, the
/// compiler kept one on the stack) and
/// `$dot_rows` rows at a time in the dot form (each row's [`DOT_LANES`]
/// sums take `DOT_LANES / $width` registers).
macro_rules! kernels {
    (
        $module:ident, $t:ty, $vector:ty, $width:literal, $dot_rows:literal,
        $zero:ident, $load:ident, $splat:ident, $fma:ident, $store:ident,
        $half:literal, $half_load:ident, $half_splat:ident, $half_fma:ident, $half_store:ident
    ) => {
        mod $module {
            use super::*;

            type T = $t;
            const WIDTH: usize = $width;
            const VECTORS_PER_DOT: usize = DOT_LANES / WIDTH;

            #[inline(always)]
            unsafe fn zero() -> $vector {
                unsafe { $zero() }
            }

            #[inline(always)]
            pub(super) unsafe fn matmul(
                a: &View<'_, T>,
                b: &View<'_, T>,
                form: Form,
                store: &mut Store<'_, T, impl Finish>,
            ) {
                // SAFETY (all three): as the caller guarantees.
                match form {
                    Form::Broadcast => unsafe { broadcast(a, b, store) },
                    Form::Dots => unsafe { dots(a, b, store) },
                    // The result's one column, read as a row, is the same memory.
                    Form::TransposedBroadcast => unsafe { broadcast(&b.t(), &a.t(), store) },
                }
            }

            /// `ROWS` rows at a time, then one tile of the rows left.
            /// Products at most one register wide take twice the rows, for
            /// eight independent sums rather than four, the FMA's latency
            /// (the AVX-512 kernels' leftover columns: 10×200×100 of
            /// `cargo run --release --example small_products`).
            #[inline(always)]
            unsafe fn broadcast(
                a: &View<'_, T>,
                b: &View<'_, T>,
                store: &mut Store<'_, T, impl Finish>,
            ) {
                let mut i0 = 0;
                if b.cols <= WIDTH {
                    while i0 + 2 * ROWS <= a.rows {
                        unsafe { broadcast_from::<{ 2 * ROWS }>(a, b, i0, 0, store) };
                        i0 += 2 * ROWS;
                    }
                }
                while i0 + ROWS <= a.rows {
                    unsafe { broadcast_rows::<ROWS>(a, b, i0, store) };
                    i0 += ROWS;
                }
                // The rows left over in one tile, as at AVX-512.
                match a.rows - i0 {
                    3 => unsafe { broadcast_rows::<3>(a, b, i0, store) },
                    2 => unsafe { broadcast_rows::<2>(a, b, i0, store) },
                    1 => unsafe { broadcast_rows::<1>(a, b, i0, store) },
                    _ => {}
                }
            }

            /// Rows `i0..i0 + MR`: two registers of columns at a time,
            /// then [`broadcast_from`] for the rest.
            #[inline(always)]
            unsafe fn broadcast_rows<const MR: usize>(
                a: &View<'_, T>,
                b: &View<'_, T>,
                i0: usize,
                store: &mut Store<'_, T, impl Finish>,
            ) {
                let n = b.cols;
                let mut j0 = 0;
                while j0 + 2 * WIDTH <= n {
                    unsafe { broadcast_tile::<MR, 2, { 2 * $width }>(a, b, i0, j0, store) };
                    j0 += 2 * WIDTH;
                }
                unsafe { broadcast_from::<MR>(a, b, i0, j0, store) };
            }

            /// Rows `i0..i0 + MR`, columns from `j0`: one register of
            /// columns at a time, then half a register, then single columns.
            #[inline(always)]
            unsafe fn broadcast_from<const MR: usize>(
                a: &View<'_, T>,
                b: &View<'_, T>,
                i0: usize,
                mut j0: usize,
                store: &mut Store<'_, T, impl Finish>,
            ) {
                let n = b.cols;
                while j0 + WIDTH <= n {
                    unsafe { broadcast_tile::<MR, 1, $width>(a, b, i0, j0, store) };
                    j0 += WIDTH;
                }
                while j0 + $half <= n {
                    unsafe { broadcast_half::<MR>(a, b, i0, j0, store) };
                    j0 += $half;
                }
                while j0 < n {
                    unsafe { broadcast_column::<MR>(a, b, i0, j0, store) };
                    j0 += 1;
                }
            }

            /// One `MR × NR` tile (`NR = NV · WIDTH`): for each `p`, `NV`
            /// registers of row `p` of `b` times each broadcast `a[i, p]`.
            #[inline(always)]
            unsafe fn broadcast_tile<const MR: usize, const NV: usize, const NR: usize>(
                a: &View<'_, T>,
                b: &View<'_, T>,
                i0: usize,
                j0: usize,
                store: &mut Store<'_, T, impl Finish>,
            ) {
                const { assert!(NR == NV * WIDTH && NV <= 2) };
                let (a_data, b_data) = (a.data.as_ptr(), b.data.as_ptr());
                let mut sums = [[unsafe { zero() }; NV]; MR];
                for p in 0..a.cols {
                    // SAFETY (reads): row p, columns j0..j0 + NR of `b` and
                    // rows i0..i0 + MR, column p of `a` are within the views,
                    // whose extents were checked.
                    let b_row = unsafe { b_data.add(p * b.row_stride + j0) };
                    let mut y = [unsafe { zero() }; NV];
                    for (v, y) in y.iter_mut().enumerate() {
                        *y = unsafe { $load(b_row.add(v * WIDTH)) };
                    }
                    for (r, row) in sums.iter_mut().enumerate() {
                        let x = unsafe {
                            $splat(&*a_data.add((i0 + r) * a.row_stride + p * a.col_stride))
                        };
                        for (sum, &y) in row.iter_mut().zip(&y) {
                            *sum = unsafe { $fma(x, y, *sum) };
                        }
                    }
                }
                let mut tile = [[T::ZERO; NR]; MR];
                for (row, sums) in tile.iter_mut().zip(&sums) {
                    for (v, &sum) in sums.iter().enumerate() {
                        // SAFETY: lanes v·WIDTH.. of an NR-wide row.
                        unsafe { $store(row.as_mut_ptr().add(v * WIDTH), sum) };
                    }
                }
                put(store, i0, j0, tile);
            }

            /// One `MR × $half` tile in half-width (xmm) registers, for
            /// the columns left over from whole registers.
            #[inline(always)]
            unsafe fn broadcast_half<const MR: usize>(
                a: &View<'_, T>,
                b: &View<'_, T>,
                i0: usize,
                j0: usize,
                store: &mut Store<'_, T, impl Finish>,
            ) {
                let (a_data, b_data) = (a.data.as_ptr(), b.data.as_ptr());
                // SAFETY (every read): as in `broadcast_tile`.
                let mut sums = [unsafe { $half_load([T::ZERO; $half].as_ptr()) }; MR];
                for p in 0..a.cols {
                    let y = unsafe { $half_load(b_data.add(p * b.row_stride + j0)) };
                    for (r, sum) in sums.iter_mut().enumerate() {
                        let x = unsafe {
                            $half_splat(&*a_data.add((i0 + r) * a.row_stride + p * a.col_stride))
                        };
                        *sum = unsafe { $half_fma(x, y, *sum) };
                    }
                }
                let mut tile = [[T::ZERO; $half]; MR];
                for (row, &sum) in tile.iter_mut().zip(&sums) {
                    // SAFETY: a row of $half elements.
                    unsafe { $half_store(row.as_mut_ptr(), sum) };
                }
                put(store, i0, j0, tile);
            }

            /// One column of `MR` rows, one fused multiply-add per `p`.
            #[inline(always)]
            unsafe fn broadcast_column<const MR: usize>(
                a: &View<'_, T>,
                b: &View<'_, T>,
                i0: usize,
                j: usize,
                store: &mut Store<'_, T, impl Finish>,
            ) {
                let (a_data, b_data) = (a.data.as_ptr(), b.data.as_ptr());
                let mut tile = [[T::ZERO; 1]; MR];
                for p in 0..a.cols {
                    // SAFETY: as in `broadcast_tile`.
                    let y = unsafe { *b_data.add(p * b.row_stride + j) };
                    for (r, sum) in tile.iter_mut().enumerate() {
                        let x = unsafe { *a_data.add((i0 + r) * a.row_stride + p * a.col_stride) };
                        sum[0] = x.mul_add(y, sum[0]);
                    }
                }
                put(store, i0, j, tile);
            }

            /// `$dot_rows` rows at a time, then single rows, each against
            /// every column of `b`.
            #[inline(always)]
            unsafe fn dots(
                a: &View<'_, T>,
                b: &View<'_, T>,
                store: &mut Store<'_, T, impl Finish>,
            ) {
                let mut i0 = 0;
                while i0 + $dot_rows <= a.rows {
                    for j in 0..b.cols {
                        unsafe { dot_tile::<$dot_rows>(a, b, i0, j, store) };
                    }
                    i0 += $dot_rows;
                }
                while i0 < a.rows {
                    for j in 0..b.cols {
                        unsafe { dot_tile::<1>(a, b, i0, j, store) };
                    }
                    i0 += 1;
                }
            }

            /// Rows `i0..i0 + MR` of `a` dotted with column `j` of `b`:
            /// `DOT_LANES` partial sums per row, added in `lane_sum`'s tree,
            /// then the tail in order.
            #[inline(always)]
            unsafe fn dot_tile<const MR: usize>(
                a: &View<'_, T>,
                b: &View<'_, T>,
                i0: usize,
                j: usize,
                store: &mut Store<'_, T, impl Finish>,
            ) {
                let k = a.cols;
                let whole = k / DOT_LANES * DOT_LANES;
                let column = b.data.as_ptr().wrapping_add(j * b.col_stride);
                let rows: [*const T; MR] =
                    std::array::from_fn(|r| a.data.as_ptr().wrapping_add((i0 + r) * a.row_stride));
                // SAFETY (every read below): rows i0..i0 + MR of `a` and
                // column j of `b` are contiguous runs of k elements within
                // the views, whose extents were checked.
                let mut sums = [[unsafe { zero() }; VECTORS_PER_DOT]; MR];
                let mut p0 = 0;
                while p0 < whole {
                    let mut y = [unsafe { zero() }; VECTORS_PER_DOT];
                    for (v, y) in y.iter_mut().enumerate() {
                        *y = unsafe { $load(column.add(p0 + v * WIDTH)) };
                    }
                    for (row, sums) in rows.iter().zip(sums.iter_mut()) {
                        for (v, sum) in sums.iter_mut().enumerate() {
                            let x = unsafe { $load(row.add(p0 + v * WIDTH)) };
                            *sum = unsafe { $fma(x, y[v], *sum) };
                        }
                    }
                    p0 += DOT_LANES;
                }
                let mut tile = [[T::ZERO; 1]; MR];
                for r in 0..MR {
                    let mut lanes = [T::ZERO; DOT_LANES];
                    for (v, &sum) in sums[r].iter().enumerate() {
                        // SAFETY: lanes v·WIDTH.. of DOT_LANES.
                        unsafe { $store(lanes.as_mut_ptr().add(v * WIDTH), sum) };
                    }
                    let mut sum = lane_sum(lanes);
                    for p in whole..k {
                        sum = unsafe { (*rows[r].add(p)).mul_add(*column.add(p), sum) };
                    }
                    tile[r][0] = sum;
                }
                put(store, i0, j, tile);
            }
        }
    };
}

kernels!(
    float64,
    f64,
    __m256d,
    4,
    2,
    _mm256_setzero_pd,
    _mm256_loadu_pd,
    _mm256_broadcast_sd,
    _mm256_fmadd_pd,
    _mm256_storeu_pd,
    2,
    _mm_loadu_pd,
    set1_pd_from,
    _mm_fmadd_pd,
    _mm_storeu_pd
);
kernels!(
    float32,
    f32,
    __m256,
    8,
    4,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_broadcast_ss,
    _mm256_fmadd_ps,
    _mm256_storeu_ps,
    4,
    _mm_loadu_ps,
    _mm_broadcast_ss,
    _mm_fmadd_ps,
    _mm_storeu_ps
);
