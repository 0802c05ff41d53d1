//! A plain-loop CBLAS for the tests, built from the same function types as the real one.

use std::ffi::c_int;

use crate::kernels::blas::{self, Cblas, GemmFn};
use crate::kernels::Float;

/// A row-major CBLAS `?gemm` (64-bit integers) in plain loops. When `TILE`
/// is not 0, the rows at multiples of `TILE` (counted from the start of each
/// call) sum their products in reverse, as a register tile's edge might.
///
/// # Safety
/// As for CBLAS: the pointers and leading dimensions describe the matrices.
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn plain_gemm<T: Float, const TILE: usize>(
    layout: c_int,
    trans_a: c_int,
    trans_b: c_int,
    m: i64,
    n: i64,
    k: i64,
    alpha: T,
    a: *const T,
    lda: i64,
    b: *const T,
    ldb: i64,
    beta: T,
    c: *mut T,
    ldc: i64,
) {
    assert_eq!(layout, blas::ROW_MAJOR);
    let (m, n, k) = (m as usize, n as usize, k as usize);
    let (lda, ldb, ldc) = (lda as usize, ldb as usize, ldc as usize);
    let at = |p: *const T, ld: usize, trans: c_int, i: usize, j: usize| {
        let index = if trans == blas::TRANS {
            j * ld + i
        } else {
            i * ld + j
        };
        *p.add(index)
    };
    for i in 0..m {
        for j in 0..n {
            let term = |p: usize| at(a, lda, trans_a, i, p) * at(b, ldb, trans_b, p, j);
            let mut sum = T::ZERO;
            if TILE != 0 && i % TILE == 0 {
                (0..k).rev().for_each(|p| sum += term(p));
            } else {
                (0..k).for_each(|p| sum += term(p));
            }
            let slot = c.add(i * ldc + j);
            *slot = if beta == T::ZERO {
                alpha * sum
            } else {
                beta * *slot + alpha * sum
            };
        }
    }
}

fn library(dgemm: GemmFn<f64>, sgemm: GemmFn<f32>, name: &'static str) -> Cblas {
    Cblas {
        dgemm,
        sgemm,
        get_threads: blas::one_thread,
        set_threads: blas::no_threads_to_set,
        name,
        // Each fake measures its own (a leak of a few bytes per test).
        alignment: Box::leak(Box::default()),
    }
}

/// Every row in order: what any correct library computes.
pub fn reference() -> Cblas {
    library(plain_gemm::<f64, 0>, plain_gemm::<f32, 0>, "reference")
}

/// Rows at multiples of 24 sum differently.
pub fn tiled() -> Cblas {
    library(plain_gemm::<f64, 24>, plain_gemm::<f32, 24>, "tiled")
}
