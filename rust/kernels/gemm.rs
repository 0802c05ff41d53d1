//! Matrix products: the one place that calls a GEMM library.
//!
//! Products run on OpenBLAS when the bindings installed it (see `blas`) and
//! both operands have a unit stride, otherwise on faer. Both pick their SIMD
//! kernels at run time, so a wheel built for the baseline x86-64 CPU still
//! runs the widest kernels the machine has. Tiny products skip both: below
//! `SMALL_GEMM` multiply-adds the set-up costs more than the arithmetic, and
//! a plain loop that stays in registers wins (measured on the 4×3→8→1
//! network).

use faer::linalg::matmul::matmul as faer_matmul;
use faer::{Accum, MatMut, MatRef, Par};

use super::blas::{self, Cblas, GemmFn};
use super::parallel;
use super::Float;

/// Products with fewer multiply-adds than this use the plain loop.
pub const SMALL_GEMM: usize = 4096;

/// Products with fewer multiply-adds than this run on one thread: 64³
/// float64 took 13.5 µs on one thread and 41 µs on two (thread start-up and
/// synchronisation outweigh the arithmetic below about 128³).
pub const PARALLEL_GEMM: usize = 1 << 21;

/// Products with fewer multiply-adds than this stay on faer even when
/// OpenBLAS is loaded: below about 100³ faer's set-up is as cheap and its
/// kernels as fast (128³ float64 on one thread: faer 32.7, OpenBLAS 32.2
/// GFLOP/s; 1024³: 31.4 against 37.5).
pub const BLAS_MIN: usize = 1 << 20;

/// The least work in one panel of a product split over threads. OpenBLAS
/// routes products of at most 100³ multiply-adds to different "small
/// matrix" kernels on some CPUs, which sum in another order; panels above
/// that size keep every element's sum the same as in the unsplit product.
const PANEL_MIN_WORK: usize = 1 << 20;

/// At most this many panels run at once (OpenBLAS keeps a fixed table of
/// per-call buffers; 32 stays far inside it).
const MAX_PANELS: usize = 32;

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
    /// This type's `cblas_?gemm` in `lib`.
    fn cblas_gemm(lib: &Cblas) -> GemmFn<Self>;

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
    ($t:ty, $cblas:ident) => {
        impl Gemm for $t {
            fn cblas_gemm(lib: &Cblas) -> GemmFn<Self> {
                lib.$cblas
            }

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

impl_gemm!(f32, sgemm);
impl_gemm!(f64, dgemm);

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
    if let Some(lib) = blas::active().filter(|_| work >= BLAS_MIN) {
        if cblas_matmul(lib, out, a, b, accumulate, alpha) {
            return;
        }
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

/// A raw pointer that may cross to a pool thread (each panel writes only
/// its own part of the output).
#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
// SAFETY: the panels given to different threads are disjoint.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer moved `count` elements on (a method, so closures capture
    /// the whole `SendPtr` rather than its raw field).
    ///
    /// # Safety
    /// As for `pointer::add`.
    unsafe fn add(self, count: usize) -> *mut T {
        self.0.add(count)
    }
}

/// `matmul` through CBLAS, split into row or column panels over the pool
/// for large products. Returns `false` (doing nothing) if an operand has no
/// unit stride.
fn cblas_matmul<T: Float>(
    lib: &Cblas,
    out: &mut [T],
    a: View<'_, T>,
    b: View<'_, T>,
    accumulate: bool,
    alpha: T,
) -> bool {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let (Some((trans_a, lda)), Some((trans_b, ldb))) = (
        blas::operand(m, k, a.row_stride, a.col_stride),
        blas::operand(k, n, b.row_stride, b.col_stride),
    ) else {
        return false;
    };
    blas::keep_single_threaded(lib);
    let gemm = T::cblas_gemm(lib);
    let beta = if accumulate { T::ONE } else { T::ZERO };
    let work = m * n * k;
    let threads = parallel::num_threads();
    let wanted = if work >= PARALLEL_GEMM && threads > 1 {
        threads.min(work / PANEL_MIN_WORK).min(MAX_PANELS)
    } else {
        1
    };
    // Split the output into row (or column) panels that start where the
    // kernels' register tiles start (see `blas`), so the bits do not change;
    // prefer the longer side, and do not split if neither side can be cut.
    let align = if wanted > 1 {
        blas::panel_alignment(lib)
    } else {
        blas::PanelAlignment { rows: 0, cols: 0 }
    };
    let can_cut = |side: usize, align: usize| align > 0 && side >= 2 * align;
    let by_columns = can_cut(n, align.cols) && (n >= m || !can_cut(m, align.rows));
    let (side, step) = if by_columns {
        (n, align.cols)
    } else {
        (m, align.rows)
    };
    let width = if can_cut(side, step) {
        side.div_ceil(wanted).next_multiple_of(step)
    } else {
        side
    };
    // The library only reads through the `a` and `b` pointers.
    let a_ptr = SendPtr(a.data.as_ptr().cast_mut());
    let b_ptr = SendPtr(b.data.as_ptr().cast_mut());
    let c_ptr = SendPtr(out.as_mut_ptr());
    let panel = |start: usize| {
        let len = width.min(side - start);
        // Offsets of the panel's first element in `a`, `b` and `out`.
        let (a_off, b_off, c_off, rows, cols) = if by_columns {
            (0, start * b.col_stride, start, m, len)
        } else {
            (start * a.row_stride, 0, start * n, len, n)
        };
        // SAFETY: `operand` checked that the views' strides describe CBLAS
        // matrices (leading dimension at least the row length), and a
        // `View`'s slice holds every element it addresses, so every read
        // stays inside `a.data` and `b.data`; `out` is `m × n` row-major and
        // the panels are disjoint blocks of it. The library contract
        // (`blas::install`) makes concurrent calls sound.
        unsafe {
            gemm(
                blas::ROW_MAJOR,
                trans_a,
                trans_b,
                rows as i64,
                cols as i64,
                k as i64,
                alpha,
                a_ptr.add(a_off),
                lda,
                b_ptr.add(b_off),
                ldb,
                beta,
                c_ptr.add(c_off),
                n as i64,
            );
        }
    };
    // The first panel runs on the calling thread, the others on the pool.
    parallel::for_each_part((0..side).step_by(width), panel);
    true
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

    /// A plain-loop row-major CBLAS GEMM (64-bit integers) in which the rows
    /// `reversed(i)` picks (counted from the start of each call) sum their
    /// products in reverse, as a register tile's edge might.
    #[allow(clippy::too_many_arguments)]
    unsafe fn plain_gemm<T: Float>(
        reversed: impl Fn(usize) -> bool,
        layout: std::ffi::c_int,
        trans_a: std::ffi::c_int,
        trans_b: std::ffi::c_int,
        (m, n, k): (i64, i64, i64),
        alpha: T,
        (a, lda): (*const T, i64),
        (b, ldb): (*const T, i64),
        beta: T,
        (c, ldc): (*mut T, i64),
    ) {
        assert_eq!(layout, blas::ROW_MAJOR);
        let (m, n, k) = (m as usize, n as usize, k as usize);
        let (lda, ldb, ldc) = (lda as usize, ldb as usize, ldc as usize);
        let at = |p: *const T, ld: usize, trans: std::ffi::c_int, i: usize, j: usize| {
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
                if reversed(i) {
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

    /// A CBLAS `?gemm` entry point over `plain_gemm`.
    macro_rules! fake_gemm {
        ($name:ident, $reversed:expr) => {
            unsafe extern "C" fn $name<T: Float>(
                layout: std::ffi::c_int,
                trans_a: std::ffi::c_int,
                trans_b: std::ffi::c_int,
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
                plain_gemm(
                    $reversed,
                    layout,
                    trans_a,
                    trans_b,
                    (m, n, k),
                    alpha,
                    (a, lda),
                    (b, ldb),
                    beta,
                    (c, ldc),
                )
            }
        };
    }

    // Every row in order: what any correct library computes.
    fake_gemm!(reference_gemm, |_| false);
    // Rows at multiples of 24 sum differently.
    fake_gemm!(tiled_gemm, |i| i % 24 == 0);

    unsafe extern "C" fn one_thread() -> std::ffi::c_int {
        1
    }

    unsafe extern "C" fn ignore_threads(_: std::ffi::c_int) {}

    fn reference_lib() -> Cblas {
        Cblas {
            dgemm: reference_gemm::<f64>,
            sgemm: reference_gemm::<f32>,
            get_threads: one_thread,
            set_threads: ignore_threads,
            name: "reference",
        }
    }

    #[test]
    fn cblas_panels_cover_the_product_for_every_layout() {
        let lib = reference_lib();
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
                    assert!(cblas_matmul(&lib, &mut out, a, b, false, 1.0));
                    for (got, want) in out.iter().zip(&want) {
                        assert!((got - want).abs() < 1e-12 * k as f64, "{m}x{k}x{n}");
                    }
                    // Accumulating adds alpha times the product again.
                    assert!(cblas_matmul(&lib, &mut out, a, b, true, 0.5));
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
        let lib = reference_lib();
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
        assert!(!cblas_matmul(&lib, &mut out, a, b, false, 1.0));
    }

    #[test]
    fn calibration_finds_the_tile_step_of_the_library() {
        let plain = reference_lib();
        let both = |step| blas::PanelAlignment {
            rows: step,
            cols: step,
        };
        assert_eq!(blas::calibrate(&plain), both(16));
        let tiled = Cblas {
            dgemm: tiled_gemm::<f64>,
            sgemm: tiled_gemm::<f32>,
            ..plain
        };
        // Rows at multiples of 24 are special; columns are not.
        assert_eq!(
            blas::calibrate(&tiled),
            blas::PanelAlignment { rows: 24, cols: 16 }
        );
    }
}
