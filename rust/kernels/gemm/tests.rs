//! Tests of the products: every path against the definition, and the CBLAS panel split.

use super::*;
use crate::kernels::parallel;
use crate::kernels::simd::Level;

pub(crate) fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
        }
    }
    out
}

pub(crate) fn filled(len: usize, seed: usize) -> Vec<f64> {
    (0..len)
        .map(|i| (((i + seed) * 2654435761) % 2001) as f64 / 1000.0 - 1.0)
        .collect()
}

#[test]
fn small_and_large_products_match_the_definition() {
    for &(m, k, n) in &[(4, 3, 1), (2, 2, 2), (64, 70, 33), (128, 100, 1)] {
        let (a, b) = (filled(m * k, 1), filled(k * n, 2));
        let mut out = vec![0.0; m * n];
        matmul(
            &mut out,
            View::row_major(&a, m, k),
            View::row_major(&b, k, n),
            false,
            1.0,
        );
        for (got, want) in out.iter().zip(naive(&a, &b, m, k, n)) {
            assert!((got - want).abs() < 1e-12 * (k as f64), "{m}x{k}x{n}");
        }
    }
}

#[test]
fn transposed_views_need_no_copy() {
    let (m, k, n) = (40, 30, 20);
    let a_t = filled(k * m, 3); // stored as k × m
    let b = filled(k * n, 4);
    let mut a = vec![0.0; m * k];
    for i in 0..m {
        for p in 0..k {
            a[i * k + p] = a_t[p * m + i];
        }
    }
    let mut out = vec![0.0; m * n];
    matmul(
        &mut out,
        View::row_major(&a_t, k, m).t(),
        View::row_major(&b, k, n),
        false,
        1.0,
    );
    for (got, want) in out.iter().zip(naive(&a, &b, m, k, n)) {
        assert!((got - want).abs() < 1e-12);
    }
}

#[test]
fn small_products_agree_for_every_layout() {
    for (m, k, n) in [(5, 4, 3), (6, 5, 1)] {
        check_small_layouts(m, k, n);
    }
}

fn check_small_layouts(m: usize, k: usize, n: usize) {
    let (a, b) = (filled(m * k, 9), filled(k * n, 10));
    let transpose = |data: &[f64], rows: usize, cols: usize| {
        let mut t = vec![0.0; rows * cols];
        for i in 0..rows {
            for j in 0..cols {
                t[j * rows + i] = data[i * cols + j];
            }
        }
        t
    };
    let (a_t, b_t) = (transpose(&a, m, k), transpose(&b, k, n));
    let want = naive(&a, &b, m, k, n);
    let layouts = [
        (View::row_major(&a, m, k), View::row_major(&b, k, n)),
        (View::row_major(&a, m, k), View::row_major(&b_t, n, k).t()),
        (View::row_major(&a_t, k, m).t(), View::row_major(&b, k, n)),
        (
            View::row_major(&a_t, k, m).t(),
            View::row_major(&b_t, n, k).t(),
        ),
    ];
    for (index, (a_view, b_view)) in layouts.into_iter().enumerate() {
        for accumulate in [false, true] {
            let mut out = vec![1.0; m * n];
            matmul(&mut out, a_view, b_view, accumulate, 2.0);
            let base = if accumulate { 1.0 } else { 0.0 };
            for (got, w) in out.iter().zip(&want) {
                assert!((got - (base + 2.0 * w)).abs() < 1e-12, "layout {index}");
            }
        }
    }
}

#[test]
fn accumulate_adds_scaled_product() {
    for &(m, k, n) in &[(3, 2, 2), (50, 50, 50)] {
        let (a, b) = (filled(m * k, 5), filled(k * n, 6));
        let mut out = vec![1.0; m * n];
        matmul(
            &mut out,
            View::row_major(&a, m, k),
            View::row_major(&b, k, n),
            true,
            -0.5,
        );
        for (got, want) in out.iter().zip(naive(&a, &b, m, k, n)) {
            assert!((got - (1.0 - 0.5 * want)).abs() < 1e-12);
        }
    }
}

#[test]
fn empty_inner_dimension_gives_zeros() {
    let mut out = vec![3.0_f32; 6];
    matmul(
        &mut out,
        View::row_major(&[], 2, 0),
        View::row_major(&[], 0, 3),
        false,
        1.0,
    );
    assert_eq!(out, vec![0.0; 6]);
}

#[test]
fn parallel_product_is_independent_of_thread_count() {
    let (m, k, n) = (200, 300, 150);
    let (a, b) = (filled(m * k, 7), filled(k * n, 8));
    let before = parallel::num_threads();
    let mut one = vec![0.0; m * n];
    let mut two = vec![0.0; m * n];
    parallel::set_num_threads(1);
    matmul(
        &mut one,
        View::row_major(&a, m, k),
        View::row_major(&b, k, n),
        false,
        1.0,
    );
    parallel::set_num_threads(2);
    matmul(
        &mut two,
        View::row_major(&a, m, k),
        View::row_major(&b, k, n),
        false,
        1.0,
    );
    parallel::set_num_threads(before);
    assert_eq!(one, two);
}

#[test]
fn cblas_panels_cover_the_product_for_every_layout() {
    let lib = fake_cblas::reference();
    let before = parallel::num_threads();
    // Shapes on both sides of the panel split, wider and taller.
    for &(m, k, n) in &[
        (3, 5, 2),
        (20, 600, 300),
        (300, 600, 20),
        (1, 7, 1),
        (130, 140, 150),
    ] {
        let a_store = filled(m * k, 11);
        let b_store = filled(k * n, 12);
        let a = View::row_major(&a_store, m, k);
        let b = View::row_major(&b_store, k, n);
        // The same data seen through transposed storage.
        let a_t_store: Vec<f64> = (0..k * m).map(|x| a_store[(x % m) * k + x / m]).collect();
        let b_t_store: Vec<f64> = (0..n * k).map(|x| b_store[(x % k) * n + x / k]).collect();
        let a_t = View::row_major(&a_t_store, k, m).t();
        let b_t = View::row_major(&b_t_store, n, k).t();
        let want = naive(&a_store, &b_store, m, k, n);
        for threads in [1, 2, 3] {
            parallel::set_num_threads(threads);
            for (a, b) in [(a, b), (a_t, b), (a, b_t), (a_t, b_t)] {
                let mut out = vec![f64::NAN; m * n];
                assert!(cblas::matmul(&lib, &mut out, a, b, false, 1.0));
                for (got, want) in out.iter().zip(&want) {
                    assert!((got - want).abs() < 1e-12 * k as f64, "{m}x{k}x{n}");
                }
                // Accumulating adds alpha times the product again.
                assert!(cblas::matmul(&lib, &mut out, a, b, true, 0.5));
                for (got, want) in out.iter().zip(&want) {
                    assert!((got - 1.5 * want).abs() < 1e-12 * k as f64, "{m}x{k}x{n}");
                }
            }
        }
    }
    parallel::set_num_threads(before);
}

#[test]
fn cblas_declines_views_without_a_unit_stride() {
    let lib = fake_cblas::reference();
    let data = filled(8 * 6, 13);
    // Every other column: neither stride is 1.
    let a = View {
        data: &data,
        rows: 8,
        cols: 3,
        row_stride: 6,
        col_stride: 2,
    };
    let b = View::row_major(&data[..3 * 4], 3, 4);
    let mut out = vec![0.0; 8 * 4];
    assert!(!cblas::matmul(&lib, &mut out, a, b, false, 1.0));
}

#[test]
fn calibration_finds_the_tile_step_of_the_library() {
    let plain = fake_cblas::reference();
    let both = |step| blas::PanelAlignment {
        rows: step,
        cols: step,
    };
    assert_eq!(blas::calibrate(&plain), both(16));
    let tiled = fake_cblas::tiled();
    // Rows at multiples of 24 are special; columns are not.
    assert_eq!(
        blas::calibrate(&tiled),
        blas::PanelAlignment { rows: 24, cols: 16 }
    );
}

#[test]
fn only_narrow_float64_products_leave_openblas_for_faer() {
    // At AVX2 and AVX-512 (the rule follows the level in use).
    let measured = Level::detect() >= Level::Avx2Fma;
    assert_eq!(blas::faer_max_cols_f64().is_some(), measured);
    let max = blas::faer_max_cols_f64().unwrap_or(256);
    assert_eq!(cblas::faer_is_faster::<f64>(100), measured);
    assert_eq!(cblas::faer_is_faster::<f64>(max), measured);
    assert!(!cblas::faer_is_faster::<f64>(max + 1));
    assert!(!cblas::faer_is_faster::<f32>(100));
}

/// The pass `matmul_then` stands for, after `matmul`: numpy's `maximum(x, 0)`,
/// NaN and -0.0 kept.
pub(crate) struct Relu;

impl Epilogue for Relu {
    fn apply<T: Float>(x: T) -> T {
        if x >= T::ZERO || x.is_nan() {
            x
        } else {
            T::ZERO
        }
    }
}

#[test]
fn matmul_then_gives_the_product_and_pass_bits_or_the_bare_product() {
    // Below `TILE_MIN`, on the tiles, above `TILE_MAX`, and a one-column
    // result the tiles write as a row.
    for (m, k, n, a_transposed) in [
        (2, 2, 2, false),
        (37, 10, 100, false),
        (200, 100, 100, false),
        (64, 32, 1, true),
    ] {
        let (a, b) = (filled(m * k, 11), filled(k * n, 12));
        let intercepts = filled(n, 13);
        let a_view = if a_transposed {
            View::row_major(&a, k, m).t()
        } else {
            View::row_major(&a, m, k)
        };
        let b_view = View::row_major(&b, k, n);
        let mut want = vec![0.0; m * n];
        matmul(&mut want, a_view, b_view, false, 1.0);
        let mut got = vec![f64::NAN; m * n];
        let fused = matmul_then::<f64, Relu>(&mut got, a_view, b_view, &intercepts);
        let tiles = tiles_take(m, k, n) && !a_transposed;
        assert_eq!(fused, tiles, "{m}x{k}x{n}");
        if fused {
            for row in want.chunks_exact_mut(n) {
                for (v, &b) in row.iter_mut().zip(&intercepts) {
                    *v = Relu::apply(*v + b);
                }
            }
        }
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "{m}x{k}x{n}");
    }
}

#[test]
#[should_panic(expected = "intercepts' length")]
fn matmul_then_needs_an_intercept_per_column() {
    let data = filled(12, 5);
    let (a, b) = (View::row_major(&data, 3, 4), View::row_major(&data, 4, 3));
    matmul_then::<f64, Relu>(&mut [0.0; 9], a, b, &[0.0; 2]);
}
