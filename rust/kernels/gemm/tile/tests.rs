//! Tests of the register-blocked products: every layout, level and element type
//! against the definition, and the same bits at every level.

use super::*;
use crate::kernels::gemm::tests::{filled, naive};

/// `data` (`rows × cols`, row-major) stored transposed.
fn transposed<T: Copy>(data: &[T], rows: usize, cols: usize) -> Vec<T> {
    (0..rows * cols)
        .map(|x| data[(x % rows) * cols + x / rows])
        .collect()
}

/// `data` (`rows × cols`) copied into the left of a `rows × (cols + 3)`
/// store, and the view of that part (rows not contiguous with each other).
fn padded(data: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut store = vec![f64::NAN; rows * (cols + 3)];
    for i in 0..rows {
        store[i * (cols + 3)..][..cols].copy_from_slice(&data[i * cols..][..cols]);
    }
    store
}

/// The levels with kernels that this CPU has, narrowest first.
fn levels() -> Vec<Level> {
    [Level::Avx2Fma, Level::Avx512]
        .into_iter()
        .filter(|&level| level <= Level::cpu())
        .collect()
}

/// Every layout of `a` and `b` (row-major, transposed storage, rows
/// padded), at every level the CPU has and in both element types, with
/// and without accumulating: each product that has a form must match
/// the definition, and every level must give the same bits.
fn check(m: usize, k: usize, n: usize) -> usize {
    let (a, b) = (filled(m * k, 21), filled(k * n, 22));
    let want = naive(&a, &b, m, k, n);
    let (a_t, b_t) = (transposed(&a, m, k), transposed(&b, k, n));
    let (a_pad, b_pad) = (padded(&a, m, k), padded(&b, k, n));
    let (a_t_pad, b_t_pad) = (padded(&a_t, k, m), padded(&b_t, n, k));
    let a_views = [
        View::row_major(&a, m, k),
        View::row_major(&a_t, k, m).t(),
        View::row_major(&a_pad, m, k + 3).column_range(0, k),
        View::row_major(&a_t_pad, k, m + 3).column_range(0, m).t(),
    ];
    let b_views = [
        View::row_major(&b, k, n),
        View::row_major(&b_t, n, k).t(),
        View::row_major(&b_pad, k, n + 3).column_range(0, n),
        View::row_major(&b_t_pad, n, k + 3).column_range(0, k).t(),
    ];
    let mut ran = 0;
    for (ai, a_view) in a_views.iter().enumerate() {
        for (bi, b_view) in b_views.iter().enumerate() {
            for (accumulate, alpha) in [(false, 1.0), (true, -0.5)] {
                let mut first: Option<(Vec<f64>, Vec<f32>)> = None;
                for level in levels() {
                    let what = format!("{level:?} {m}x{k}x{n} a{ai} b{bi} {accumulate}");
                    let mut out = vec![0.25; m * n];
                    if !matmul_at(level, &mut out, a_view, b_view, accumulate, alpha) {
                        continue;
                    }
                    ran += 1;
                    let base = if accumulate { 0.25 } else { 0.0 };
                    for (got, w) in out.iter().zip(&want) {
                        let expected = base + alpha * w;
                        assert!((got - expected).abs() < 1e-12 * k as f64, "{what}");
                    }
                    let out32 = check_f32(level, a_view, b_view, &want, accumulate, alpha, &what);
                    match &first {
                        None => first = Some((out, out32)),
                        Some((bits, bits32)) => {
                            assert!(same_bits(bits, &out), "float64 bits differ: {what}");
                            assert!(same_bits(bits32, &out32), "float32 bits differ: {what}");
                        }
                    }
                }
            }
        }
    }
    ran
}

fn same_bits<T: Float>(x: &[T], y: &[T]) -> bool {
    x.len() == y.len()
        && x.iter()
            .zip(y)
            .all(|(a, b)| format!("{a:?}") == format!("{b:?}"))
}

/// The same product in `f32`, within `f32` rounding; returns it.
fn check_f32(
    level: Level,
    a: &View<'_, f64>,
    b: &View<'_, f64>,
    want: &[f64],
    accumulate: bool,
    alpha: f64,
    what: &str,
) -> Vec<f32> {
    let narrow = |data: &[f64]| data.iter().map(|&x| x as f32).collect::<Vec<_>>();
    let (a_data, b_data) = (narrow(a.data), narrow(b.data));
    let like = |view: &View<'_, f64>, data| View {
        data,
        rows: view.rows,
        cols: view.cols,
        row_stride: view.row_stride,
        col_stride: view.col_stride,
    };
    let (a32, b32) = (like(a, &a_data), like(b, &b_data));
    let mut out = vec![0.25_f32; a.rows * b.cols];
    assert!(matmul_at(
        level,
        &mut out,
        &a32,
        &b32,
        accumulate,
        alpha as f32
    ));
    let base = if accumulate { 0.25 } else { 0.0 };
    for (&got, w) in out.iter().zip(want) {
        let expected = base + alpha * w;
        assert!(
            (f64::from(got) - expected).abs() < 1e-5 * a.cols as f64,
            "f32 {what}"
        );
    }
    out
}

#[test]
fn awkward_shapes_match_the_definition_in_every_layout() {
    let shapes = [
        (1, 1, 1),
        (1, 7, 1),
        (7, 1, 1),
        (1, 1, 9),
        (1, 64, 32),
        (5, 3, 1),
        (3, 5, 2),
        (4, 16, 32),
        (64, 16, 32),
        (64, 32, 1),
        (32, 64, 1),
        (64, 1, 32),
        (16, 64, 32),
        (17, 33, 35),
        (9, 70, 65),
        (6, 5, 129),
        (2, 31, 3),
        (5, 40, 13),
        (3, 17, 25),
        (7, 48, 1),
        // Two and three rows left over after the four-row tiles.
        (10, 200, 100),
        (11, 9, 40),
        // At most one register wide: eight rows to a tile.
        (17, 33, 3),
        (16, 5, 2),
        (12, 40, 4),
        (9, 7, 8),
    ];
    for (m, k, n) in shapes {
        // Every shape has a form for at least the row-major operands.
        assert!(levels().is_empty() || check(m, k, n) > 0, "{m}x{k}x{n}");
    }
}

#[test]
fn layouts_without_a_form_are_declined() {
    let (a_t, b_t) = (filled(12, 1), filled(12, 2));
    // Both stored transposed, two output columns: no operand has the
    // unit stride a form reads along.
    let a = View::row_major(&a_t, 3, 4).t();
    let b = View::row_major(&b_t, 2, 6).t();
    let mut out = vec![0.0; 4 * 2];
    assert_eq!(Form::of(&a, &b), None);
    for level in levels() {
        assert!(!matmul_at(level, &mut out, &a, &b, false, 1.0));
    }
}

#[test]
fn forms_follow_the_strides() {
    let data = filled(64 * 32, 3);
    let a = View::row_major(&data, 64, 32);
    let w = View::row_major(&data[..32], 32, 1);
    assert_eq!(Form::of(&a, &w), Some(Form::Dots));
    let d = View::row_major(&data[..64], 64, 1);
    assert_eq!(Form::of(&a.t(), &d), Some(Form::TransposedBroadcast));
    assert_eq!(Form::of(&d, &w.t()), Some(Form::Broadcast));
}

#[test]
#[should_panic(expected = "view outside its data")]
fn a_view_past_its_data_panics() {
    let data = filled(10, 4);
    let view = View {
        data: &data,
        rows: 3,
        cols: 4,
        row_stride: 4,
        col_stride: 1,
    };
    check_extent(&view);
}
