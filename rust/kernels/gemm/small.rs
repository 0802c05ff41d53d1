//! Plain loops for the small products the register-blocked kernels do not take.

use super::View;
use crate::kernels::dot::dot;
use crate::kernels::simd::Level;
use crate::kernels::Element;

/// `matmul` in plain loops, compiled for AVX where the CPU has it (the
/// order of operations is the same either way).
///
/// Like `tile`, it does not go through `simd::dispatch`, whose closure
/// slowed a tiny network's step (five of these products), so it keeps a
/// trampoline of its own (`neurust compare --workloads train_step --sizes
/// 4x3x8x1`; figures in docs/performance.md).
pub(super) fn matmul<T: Element>(
    out: &mut [T],
    a: &View<'_, T>,
    b: &View<'_, T>,
    accumulate: bool,
    alpha: T,
) {
    #[cfg(target_arch = "x86_64")]
    if Level::detect() >= Level::Avx {
        // SAFETY: the CPU supports AVX.
        return unsafe { small_matmul_avx(out, a, b, accumulate, alpha) };
    }
    small_matmul(out, a, b, accumulate, alpha)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn small_matmul_avx<T: Element>(
    out: &mut [T],
    a: &View<'_, T>,
    b: &View<'_, T>,
    accumulate: bool,
    alpha: T,
) {
    small_matmul(out, a, b, accumulate, alpha)
}

#[inline(always)]
fn small_matmul<T: Element>(
    out: &mut [T],
    a: &View<'_, T>,
    b: &View<'_, T>,
    accumulate: bool,
    alpha: T,
) {
    let (k, n) = (a.cols, b.cols);
    let dot_form = a.col_stride == 1 && b.row_stride == 1;
    // Short output rows make the axpy's per-row set-up cost more than its
    // arithmetic (a 1-wide output is common: the network's last layer).
    if n == 1 && a.row_stride == 1 && !dot_form {
        // A column result from a transposed matrix (`Aᵀ · dP` with one
        // output): add scaled contiguous columns of `a`, an axpy over rows.
        let m = a.rows;
        if !accumulate {
            out.fill(T::ZERO);
        }
        for p in 0..k {
            let scale = alpha * *b.at(p, 0);
            let start = p * a.col_stride;
            for (o, &value) in out.iter_mut().zip(&a.data[start..start + m]) {
                *o += scale * value;
            }
        }
    } else if b.col_stride == 1 && !(dot_form && n < 4) {
        // Rows of `b` are contiguous: add scaled rows of `b` into each output
        // row (an axpy the compiler vectorises over `n`).
        for (i, row) in out.chunks_exact_mut(n).enumerate() {
            if !accumulate {
                row.fill(T::ZERO);
            }
            for p in 0..k {
                let scale = alpha * *a.at(i, p);
                let start = p * b.row_stride;
                for (o, &value) in row.iter_mut().zip(&b.data[start..start + n]) {
                    *o += scale * value;
                }
            }
        }
    } else if dot_form {
        // `b` is a transposed row-major matrix: each output is a dot product
        // of two contiguous rows.
        for (i, row) in out.chunks_exact_mut(n).enumerate() {
            let a_row = &a.data[i * a.row_stride..i * a.row_stride + k];
            for (j, slot) in row.iter_mut().enumerate() {
                let b_col = &b.data[j * b.col_stride..j * b.col_stride + k];
                let value = alpha * dot(a_row, b_col);
                *slot = if accumulate { *slot + value } else { value };
            }
        }
    } else {
        for (i, row) in out.chunks_exact_mut(n).enumerate() {
            for (j, slot) in row.iter_mut().enumerate() {
                let mut sum = T::ZERO;
                for p in 0..k {
                    sum += *a.at(i, p) * *b.at(p, j);
                }
                let value = alpha * sum;
                *slot = if accumulate { *slot + value } else { value };
            }
        }
    }
}
