//! The register-blocked products for CPUs with AVX-512: generic Rust whose
//! local arrays the compiler keeps in the 32 zmm registers.
//!
//! Each output element is summed in the same order as in the AVX2 kernels
//! (`avx2`), so the two levels give the same bits.

#[cfg(target_arch = "x86_64")]
use super::avx2;
use super::{lane_sum, put, Form, Store, View, ROWS};
use crate::kernels::Float;

/// The kernels compiled for AVX-512, with `V` elements in one register,
/// `NR` columns to a broadcast tile (its `ROWS` rows then take
/// `ROWS · NR / V` of the 32 registers) and `LANES` partial sums to a dot
/// product.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn matmul<T: Float, const V: usize, const NR: usize, const LANES: usize>(
    (a, b, form, store): (&View<'_, T>, &View<'_, T>, Form, &mut Store<'_, T>),
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
    store: &mut Store<'_, T>,
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

/// The broadcast form over the whole result: `ROWS × NR` tiles, then
/// single rows.
///
/// # Safety
/// `b.col_stride == 1` and the views' extents were checked.
#[inline(always)]
unsafe fn broadcast<T: Float, const V: usize, const NR: usize>(
    a: &View<'_, T>,
    b: &View<'_, T>,
    store: &mut Store<'_, T>,
) {
    let mut i0 = 0;
    while i0 + ROWS <= a.rows {
        unsafe { broadcast_rows::<T, ROWS, NR, V>(a, b, i0, store) };
        i0 += ROWS;
    }
    while i0 < a.rows {
        unsafe { broadcast_rows::<T, 1, NR, V>(a, b, i0, store) };
        i0 += 1;
    }
}

/// Rows `i0..i0 + MR` of `out`, `NR` columns at a time, then `V`, then 1.
#[inline(always)]
unsafe fn broadcast_rows<T: Float, const MR: usize, const NR: usize, const V: usize>(
    a: &View<'_, T>,
    b: &View<'_, T>,
    i0: usize,
    store: &mut Store<'_, T>,
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
    store: &mut Store<'_, T>,
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
    store: &mut Store<'_, T>,
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
    store: &mut Store<'_, T>,
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
