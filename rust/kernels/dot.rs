//! The weighted sum: vector·vector and matrix·vector dot products.
//!
//! Every dot product accumulates in 16 independent lanes (so the compiler can
//! keep them in SIMD registers) and adds the lanes in a fixed tree. Long
//! vectors are cut into fixed `CHUNK`-length pieces whose partial sums are
//! added left to right, so the result is the same bits whatever the thread
//! count and whichever SIMD width the CPU offers.

use rayon::prelude::*;

use super::parallel::{self, CHUNK};
use super::Float;

const LANES: usize = 16;

#[inline(always)]
fn dot_body<T: Float>(a: &[T], b: &[T]) -> T {
    let mut lanes = [T::ZERO; LANES];
    let a_chunks = a.chunks_exact(LANES);
    let b_chunks = b.chunks_exact(LANES);
    let (a_tail, b_tail) = (a_chunks.remainder(), b_chunks.remainder());
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    let mut width = LANES / 2;
    while width > 0 {
        for lane in 0..width {
            lanes[lane] += lanes[lane + width];
        }
        width /= 2;
    }
    let mut sum = lanes[0];
    for (&x, &y) in a_tail.iter().zip(b_tail) {
        sum += x * y;
    }
    sum
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn dot_avx<T: Float>(a: &[T], b: &[T]) -> T {
    dot_body(a, b)
}

/// The dot product of two equally long slices, in one fixed order of
/// operations (no FMA contraction, so every CPU gives the same bits).
#[inline]
pub fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    assert_eq!(a.len(), b.len(), "dot: slices differ in length");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU supports AVX, checked on the line above.
        return unsafe { dot_avx(a, b) };
    }
    dot_body(a, b)
}

fn sum_in_order<T: Float>(mut partials: impl Iterator<Item = T>) -> T {
    let first = partials.next().unwrap_or(T::ZERO);
    partials.fold(first, |sum, part| sum + part)
}

/// `Σ inputs[i] * weights[i]`; 0 for empty vectors.
///
/// # Panics
/// If the slices differ in length (callers validate first).
pub fn weighted_sum<T: Float>(inputs: &[T], weights: &[T]) -> T {
    assert_eq!(inputs.len(), weights.len(), "weighted_sum: lengths differ");
    if inputs.len() <= CHUNK {
        return dot(inputs, weights);
    }
    if parallel::worth_parallel(inputs.len()) {
        let partials: Vec<T> = parallel::install(|| {
            inputs
                .par_chunks(CHUNK)
                .zip(weights.par_chunks(CHUNK))
                .map(|(a, b)| dot(a, b))
                .collect()
        });
        sum_in_order(partials.into_iter())
    } else {
        sum_in_order(
            inputs
                .chunks(CHUNK)
                .zip(weights.chunks(CHUNK))
                .map(|(a, b)| dot(a, b)),
        )
    }
}

/// `out[i] = Σ_j matrix[i, j] * weights[j]` for a row-major `matrix` of
/// `out.len()` rows and `weights.len()` columns.
///
/// # Panics
/// If the lengths do not describe such a matrix (callers validate first).
pub fn weighted_sum_rows<T: Float>(matrix: &[T], weights: &[T], out: &mut [T]) {
    let cols = weights.len();
    assert_eq!(matrix.len(), out.len() * cols, "weighted_sum_rows: shape");
    if cols == 0 {
        out.fill(T::ZERO);
        return;
    }
    let row_sum = |(row, slot): (&[T], &mut T)| *slot = weighted_sum(row, weights);
    if parallel::worth_parallel(matrix.len()) && out.len() > 1 {
        parallel::install(|| {
            matrix
                .par_chunks(cols)
                .zip(out.par_iter_mut())
                .for_each(row_sum)
        });
    } else {
        matrix.chunks(cols).zip(out.iter_mut()).for_each(row_sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_neuron_scales_its_input() {
        let toes = [8.5, 9.0, 9.5, 10.0];
        let predictions: Vec<f64> = toes.iter().map(|&t| weighted_sum(&[t], &[0.1])).collect();
        for (got, want) in predictions.iter().zip([0.85, 0.90, 0.95, 1.00]) {
            assert!((got - want).abs() < 1e-12, "{got} != {want}");
        }
    }

    #[test]
    fn three_input_neuron_matches_the_worked_example() {
        let games = [
            8.5, 0.65, 1.2, //
            9.5, 0.8, 1.3, //
            9.9, 0.8, 0.5, //
            9.0, 0.9, 1.0,
        ];
        let mut out = [0.0_f64; 4];
        weighted_sum_rows(&games, &[0.1, 0.2, 0.0], &mut out);
        assert!((out[0] - 0.98).abs() < 1e-5);
        for (got, want) in out.iter().zip([0.98, 1.11, 1.15, 1.08]) {
            assert!((got - want).abs() < 5e-3, "{got} != {want}");
        }
    }

    #[test]
    fn empty_vectors_sum_to_zero() {
        assert_eq!(weighted_sum::<f32>(&[], &[]), 0.0);
        let mut out = [7.0_f64; 3];
        weighted_sum_rows(&[], &[], &mut out);
        assert_eq!(out, [0.0; 3]);
    }

    #[test]
    fn long_sum_is_independent_of_thread_count() {
        let n = parallel::ELEMENTWISE_PARALLEL_MIN + 3 * CHUNK + 17;
        let a: Vec<f64> = (0..n)
            .map(|i| ((i * 7919) % 1000) as f64 / 997.0 - 0.5)
            .collect();
        let b: Vec<f64> = (0..n)
            .map(|i| ((i * 104729) % 1000) as f64 / 991.0)
            .collect();
        let before = parallel::num_threads();
        parallel::set_num_threads(1);
        let one = weighted_sum(&a, &b);
        parallel::set_num_threads(2);
        let two = weighted_sum(&a, &b);
        parallel::set_num_threads(before);
        assert_eq!(one.to_bits(), two.to_bits());
        let naive: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((one - naive).abs() <= 1e-10 * naive.abs().max(1.0));
    }

    #[test]
    fn nan_propagates() {
        assert!(weighted_sum(&[1.0, f64::NAN], &[1.0, 1.0]).is_nan());
        assert_eq!(
            weighted_sum(&[1.0_f32, f32::INFINITY], &[1.0, 1.0]),
            f32::INFINITY
        );
    }
}
