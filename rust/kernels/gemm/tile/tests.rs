//! Tests of the register-blocked products: every layout, level and element type
//! against the definition, and the same bits at every level.

use super::*;
use crate::kernels::gemm::tests::{filled, naive, Relu};

/// `data` (`rows × cols`, row-major) stored transposed.
fn transposed<T: Copy>(data: &[T], rows: usize, cols: usize) -> Vec<T> {
    (0..rows * cols)
        .map(|x| data[(x % rows) * cols + x / rows])
        .collect()
}

/// `data` (`rows × cols`) copied into the left of a `rows × (cols + 3)`
/// store, and the view of that part (rows not contiguous with each other).
fn padded<T: Float>(data: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut store = vec![T::from_f64(f64::NAN); rows * (cols + 3)];
    for i in 0..rows {
        store[i * (cols + 3)..][..cols].copy_from_slice(&data[i * cols..][..cols]);
    }
    store
}

/// A `rows × cols` matrix in the four layouts the tests read it in.
struct Layouts<T> {
    row_major: Vec<T>,
    transposed: Vec<T>,
    padded: Vec<T>,
    transposed_padded: Vec<T>,
    rows: usize,
    cols: usize,
}

impl<T: Float> Layouts<T> {
    fn of(data: &[T], rows: usize, cols: usize) -> Self {
        let t = transposed(data, rows, cols);
        Layouts {
            row_major: data.to_vec(),
            padded: padded(data, rows, cols),
            transposed_padded: padded(&t, cols, rows),
            transposed: t,
            rows,
            cols,
        }
    }

    /// Row-major, stored transposed, and both with padded rows.
    fn views(&self) -> [View<'_, T>; 4] {
        let (r, c) = (self.rows, self.cols);
        [
            View::row_major(&self.row_major, r, c),
            View::row_major(&self.transposed, c, r).t(),
            View::row_major(&self.padded, r, c + 3).column_range(0, c),
            View::row_major(&self.transposed_padded, c, r + 3)
                .column_range(0, r)
                .t(),
        ]
    }
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
    let (a_layouts, b_layouts) = (Layouts::of(&a, m, k), Layouts::of(&b, k, n));
    let (a_views, b_views) = (a_layouts.views(), b_layouts.views());
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

/// The bits of each element, NaN's sign and payload included.
fn bits<T: Float>(values: &[T]) -> Vec<u64> {
    let bits = |x: &T| match size_of::<T>() {
        // SAFETY: `T` is `f64` or `f32`, of the size read.
        8 => unsafe { std::mem::transmute_copy::<T, u64>(x) },
        _ => u64::from(unsafe { std::mem::transmute_copy::<T, u32>(x) }),
    };
    values.iter().map(bits).collect()
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

/// Shapes that leave every kind of tile edge.
const AWKWARD: [(usize, usize, usize); 26] = [
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

#[test]
fn awkward_shapes_match_the_definition_in_every_layout() {
    for (m, k, n) in AWKWARD {
        // Every shape has a form for at least the row-major operands.
        assert!(levels().is_empty() || check(m, k, n) > 0, "{m}x{k}x{n}");
    }
}

/// The intercepts alone.
struct Identity;

impl Epilogue for Identity {
    fn apply<T: Float>(x: T) -> T {
        x
    }
}

/// Operands in `T` for an `m × k` by `k × n` product with NaN, infinities
/// and signed zeros where `m`, `k` and `n` leave room: a NaN in `a`, a
/// row of `a` whose products with a column of `b` underflow to -0.0, a
/// zero row; and intercepts with a NaN, an infinity, -0.0 at that column
/// and large negatives that switch units off.
fn special<T: Float>(m: usize, k: usize, n: usize) -> (Vec<T>, Vec<T>, Vec<T>) {
    let to = |data: Vec<f64>| data.into_iter().map(T::from_f64).collect::<Vec<_>>();
    let (mut a, mut b) = (to(filled(m * k, 31)), to(filled(k * n, 32)));
    let mut intercepts = to(filled(n, 33));
    // Small enough that a product of two underflows in `T`.
    let tiny = T::from_f64(if size_of::<T>() == 4 { 1e-30 } else { 1e-200 });
    if m > 1 && n > 1 {
        a[k..2 * k].fill(tiny);
        (0..k).for_each(|p| b[p * n + 1] = -tiny);
        intercepts[1] = -T::ZERO;
    }
    if m > 2 {
        a[2 * k..3 * k].fill(T::ZERO);
    }
    if m > 3 {
        a[3 * k] = T::from_f64(f64::NAN);
    }
    for (j, b) in intercepts.iter_mut().enumerate() {
        match j {
            0 | 1 => {}
            2 => *b = T::from_f64(f64::NAN),
            3 => *b = T::from_f64(f64::NEG_INFINITY),
            _ if j % 5 == 0 => *b = T::from_f64(-4.0),
            _ => {}
        }
    }
    (a, b, intercepts)
}

/// `E` applied in the tiles' store against the plain product followed by
/// the pass `out = E::apply(out + intercepts)`, bit for bit, for every
/// layout of the operands and every level: returns how many ran fused.
fn check_then<T: Float, E: Epilogue>(m: usize, k: usize, n: usize) -> usize {
    let (a, b, intercepts) = special::<T>(m, k, n);
    let (a_layouts, b_layouts) = (Layouts::of(&a, m, k), Layouts::of(&b, k, n));
    let (a_views, b_views) = (a_layouts.views(), b_layouts.views());
    let unset = T::from_f64(0.25);
    let mut fused_runs = 0;
    for (ai, a_view) in a_views.iter().enumerate() {
        for (bi, b_view) in b_views.iter().enumerate() {
            for level in levels() {
                let what = format!("{} {level:?} {m}x{k}x{n} a{ai} b{bi}", T::NAME);
                let mut apart = vec![unset; m * n];
                let ran = matmul_at(level, &mut apart, a_view, b_view, false, T::ONE);
                for row in apart.chunks_exact_mut(n) {
                    for (v, &b) in row.iter_mut().zip(&intercepts) {
                        *v = E::apply(*v + b);
                    }
                }
                let mut fused = vec![unset; m * n];
                let took = matmul_then_at::<T, E>(level, &mut fused, a_view, b_view, &intercepts);
                if took {
                    fused_runs += 1;
                    assert!(ran, "{what}: fused where the plain tiles decline");
                    assert_eq!(bits(&fused), bits(&apart), "{what}");
                } else {
                    // Declined only where the plain tiles decline or write
                    // a one-column result as a row; `out` untouched.
                    let form = Form::of(a_view, b_view);
                    assert!(
                        matches!(form, None | Some(Form::TransposedBroadcast)),
                        "{what}: declined in {form:?}"
                    );
                    assert_eq!(bits(&fused), bits(&vec![unset; m * n]), "{what}");
                }
            }
        }
    }
    fused_runs
}

#[test]
fn epilogues_in_the_store_give_the_product_and_pass_bits() {
    for (m, k, n) in AWKWARD {
        let runs = [
            check_then::<f64, Relu>(m, k, n),
            check_then::<f32, Relu>(m, k, n),
            check_then::<f64, Identity>(m, k, n),
            check_then::<f32, Identity>(m, k, n),
        ];
        // The row-major operands always have a form that writes rows.
        assert!(
            levels().is_empty() || runs.iter().all(|&r| r > 0),
            "{m}x{k}x{n}"
        );
    }
}

#[test]
fn the_special_values_reach_the_epilogue() {
    // The fused relu keeps the product's -0.0 and NaN, and zeroes the
    // units switched off, as the pass does.
    let (m, k, n) = (5, 7, 6);
    let (a, b, intercepts) = special::<f64>(m, k, n);
    for level in levels() {
        let mut out = vec![0.25; m * n];
        let (a, b) = (View::row_major(&a, m, k), View::row_major(&b, k, n));
        assert!(matmul_then_at::<f64, Relu>(
            level,
            &mut out,
            &a,
            &b,
            &intercepts
        ));
        assert!(
            out[n + 1] == 0.0 && out[n + 1].is_sign_negative(),
            "{level:?}"
        );
        let zero_row = &out[2 * n..3 * n];
        assert!(zero_row.iter().all(|v| !v.is_sign_negative() || v.is_nan()));
        assert!(out[3 * n..4 * n].iter().all(|v| v.is_nan()), "{level:?}");
        assert!((0..m).all(|i| out[i * n + 2].is_nan()), "{level:?}");
        assert!((0..m).all(|i| out[i * n + 3].to_bits() == 0 || i == 3));
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
