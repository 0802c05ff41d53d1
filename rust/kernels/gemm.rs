//! Matrix products: the one place that calls the GEMM crate (faer).
//!
//! faer picks its SIMD kernels at run time (AVX-512, AVX2+FMA or scalar), so
//! a wheel built for the baseline x86-64 CPU still runs the widest kernels
//! the machine has. Tiny products skip faer: below `SMALL_GEMM`
//! multiply-adds its set-up costs more than the arithmetic, and a plain loop
//! that stays in registers wins (measured on the 4×3→8→1 network).

use faer::linalg::matmul::matmul as faer_matmul;
use faer::{Accum, MatMut, MatRef, Par};

use super::parallel;
use super::Float;

/// Products with fewer multiply-adds than this use the plain loop.
pub const SMALL_GEMM: usize = 4096;

/// Products with fewer multiply-adds than this run on one thread: 64³
/// float64 took 13.5 µs on one thread and 41 µs on two (thread start-up and
/// synchronisation outweigh the arithmetic below about 128³).
pub const PARALLEL_GEMM: usize = 1 << 21;

/// A read-only strided matrix view: element `(i, j)` is
/// `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct View<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a, T> View<'a, T> {
    /// A row-major `rows × cols` matrix.
    ///
    /// # Panics
    /// If `data.len() != rows * cols`.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        assert_eq!(Some(data.len()), rows.checked_mul(cols), "View: shape");
        View {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// Columns `start..end`, without copying.
    ///
    /// # Panics
    /// If `start > end` or `end > cols`.
    pub fn column_range(self, start: usize, end: usize) -> Self {
        assert!(start <= end && end <= self.cols, "View: column range");
        // Every element of the narrower view is an element of this one, so
        // the bound checked in `row_major` still holds.
        let offset = (start * self.col_stride).min(self.data.len());
        View {
            data: &self.data[offset..],
            cols: end - start,
            ..self
        }
    }

    /// The transpose, without copying.
    pub fn t(self) -> Self {
        View {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> &T {
        &self.data[i * self.row_stride + j * self.col_stride]
    }
}

/// The element operations faer provides for one concrete type.
pub trait Gemm: Sized {
    /// `out = alpha * a @ b (+ out if accumulate)`, through faer.
    fn faer_gemm(
        out: MatMut<'_, Self>,
        a: MatRef<'_, Self>,
        b: MatRef<'_, Self>,
        accumulate: bool,
        alpha: Self,
        par: Par,
    );
}

macro_rules! impl_gemm {
    ($t:ty) => {
        impl Gemm for $t {
            fn faer_gemm(
                out: MatMut<'_, Self>,
                a: MatRef<'_, Self>,
                b: MatRef<'_, Self>,
                accumulate: bool,
                alpha: Self,
                par: Par,
            ) {
                let accum = if accumulate {
                    Accum::Add
                } else {
                    Accum::Replace
                };
                faer_matmul(out, accum, a, b, alpha, par);
            }
        }
    };
}

impl_gemm!(f32);
impl_gemm!(f64);

fn as_faer<T>(view: View<'_, T>) -> MatRef<'_, T> {
    // SAFETY: a `View` is only built over a slice holding every element it
    // addresses (checked in `row_major`; `t` only swaps the strides), the
    // strides fit in isize because the slice length does, and the borrow
    // keeps the data alive and unmutated for the returned lifetime.
    unsafe {
        MatRef::from_raw_parts(
            view.data.as_ptr(),
            view.rows,
            view.cols,
            view.row_stride as isize,
            view.col_stride as isize,
        )
    }
}

/// `out = alpha * a @ b`, or `out += alpha * a @ b` when `accumulate`, with
/// `out` row-major `a.rows() × b.cols()`.
///
/// # Panics
/// If the shapes do not chain (callers validate first).
pub fn matmul<T: Float>(out: &mut [T], a: View<'_, T>, b: View<'_, T>, accumulate: bool, alpha: T) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "matmul: inner dimensions differ");
    assert_eq!(out.len(), m * n, "matmul: output shape");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            out.fill(T::ZERO);
        }
        return;
    }
    let work = m * n * k;
    if work < SMALL_GEMM {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: AVX support was just checked.
            return unsafe { small_matmul_avx(out, a, b, accumulate, alpha) };
        }
        small_matmul(out, a, b, accumulate, alpha);
        return;
    }
    // SAFETY: `out` holds exactly m * n elements, laid out row-major, and is
    // borrowed mutably for the whole call.
    let out = unsafe { MatMut::from_raw_parts_mut(out.as_mut_ptr(), m, n, n as isize, 1) };
    let threads = parallel::num_threads();
    if work >= PARALLEL_GEMM && threads > 1 {
        let par = Par::rayon(threads);
        parallel::install(|| T::faer_gemm(out, as_faer(a), as_faer(b), accumulate, alpha, par));
    } else {
        T::faer_gemm(out, as_faer(a), as_faer(b), accumulate, alpha, Par::Seq);
    }
}

// The plain loops compiled for AVX, chosen at run time (the wheel targets
// the baseline x86-64 CPU); their order of operations is the same.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn small_matmul_avx<T: Float>(
    out: &mut [T],
    a: View<'_, T>,
    b: View<'_, T>,
    accumulate: bool,
    alpha: T,
) {
    small_matmul(out, a, b, accumulate, alpha);
}

#[inline(always)]
fn small_matmul<T: Float>(
    out: &mut [T],
    a: View<'_, T>,
    b: View<'_, T>,
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
                let value = alpha * super::dot::dot(a_row, b_col);
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

/// `out = x @ weights (+ bias on every row)`: a dense layer.
///
/// `x` is row-major `rows × inner`, `weights` row-major `inner × cols`,
/// `bias` (if any) has `cols` entries and `out` is row-major `rows × cols`.
pub fn linear<T: Float>(
    x: &[T],
    weights: &[T],
    bias: Option<&[T]>,
    rows: usize,
    inner: usize,
    cols: usize,
    out: &mut [T],
) {
    matmul(
        out,
        View::row_major(x, rows, inner),
        View::row_major(weights, inner, cols),
        false,
        T::ONE,
    );
    if let Some(bias) = bias {
        assert_eq!(bias.len(), cols, "linear: bias length");
        add_row_vector(out, bias);
    }
}

/// One slice of the inner dimension of `x @ weights`: adds
/// `x[:, start..end] @ weights[start..end, :]` into `out`, or overwrites
/// `out` with it when `start == 0`. Summing consecutive slices in order
/// gives the whole product; each slice packs only its own panels, so
/// cutting the product this way costs one extra pass over `out` per slice
/// (cutting rows instead would pack all of `weights` again per slice).
///
/// # Panics
/// If the shapes do not match or `start..end` is not within `0..inner`.
#[allow(clippy::too_many_arguments)]
pub fn matmul_inner_slice<T: Float>(
    x: &[T],
    weights: &[T],
    rows: usize,
    inner: usize,
    cols: usize,
    start: usize,
    end: usize,
    out: &mut [T],
) {
    let x = View::row_major(x, rows, inner).column_range(start, end);
    let weights = View::row_major(weights, inner, cols)
        .t()
        .column_range(start, end)
        .t();
    matmul(out, x, weights, start > 0, T::ONE);
}

/// Adds `row` to every row of the row-major matrix `out`.
pub fn add_row_vector<T: Float>(out: &mut [T], row: &[T]) {
    if row.is_empty() {
        return;
    }
    for chunk in out.chunks_exact_mut(row.len()) {
        for (o, &b) in chunk.iter_mut().zip(row) {
            *o += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        out
    }

    fn filled(len: usize, seed: usize) -> Vec<f64> {
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
    fn inner_slices_sum_to_the_whole_product() {
        let (m, k, n) = (30, 70, 20);
        let (a, b) = (filled(m * k, 11), filled(k * n, 12));
        let mut out = vec![f64::NAN; m * n];
        for (start, end) in [(0, 25), (25, 50), (50, 70)] {
            matmul_inner_slice(&a, &b, m, k, n, start, end, &mut out);
        }
        for (got, want) in out.iter().zip(naive(&a, &b, m, k, n)) {
            assert!((got - want).abs() < 1e-12);
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
    fn linear_adds_bias_to_every_row() {
        let mut out = vec![0.0_f64; 4];
        linear(
            &[1.0, 2.0, 3.0, 4.0],
            &[1.0, 0.0, 0.0, 1.0],
            Some(&[10.0, 20.0]),
            2,
            2,
            2,
            &mut out,
        );
        assert_eq!(out, vec![11.0, 22.0, 13.0, 24.0]);
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
}
