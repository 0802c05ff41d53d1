//! The dense layer `x @ W + b`, and the inner-dimension slices that let Ctrl-C through.

use super::gemm::{matmul, View};
use super::Element;

/// `out = x @ weights (+ bias on every row)`: a dense layer.
///
/// `x` is row-major `rows × inner`, `weights` row-major `inner × cols`,
/// `bias` (if any) has `cols` entries and `out` is row-major `rows × cols`.
pub fn linear<T: Element>(
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
pub fn matmul_inner_slice<T: Element>(
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
pub fn add_row_vector<T: Element>(out: &mut [T], row: &[T]) {
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
    use crate::kernels::gemm::tests::{filled, naive};

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
}
