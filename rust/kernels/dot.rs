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

/// Adds the lanes in their fixed tree, then the tail terms in order.
#[inline(always)]
fn finish<T: Float>(mut lanes: [T; LANES], a_tail: &[T], b_tail: &[T]) -> T {
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
    finish(lanes, a_tail, b_tail)
}

/// The 16 lane sums of a dot product's whole 16-element blocks in 256-bit
/// AVX registers: lane `j` adds the rounded products of elements `j`,
/// `j + 16`, … in order, exactly as `dot_body`'s loop does, so the bits are
/// the same. (Left to itself, the compiler keeps those lanes in 128-bit
/// registers.)
pub trait DotLanes: Sized + Copy {
    /// # Safety
    /// The CPU must support AVX; `b` must be at least as long as `a`.
    #[cfg(target_arch = "x86_64")]
    unsafe fn lanes_avx(a: &[Self], b: &[Self]) -> [Self; LANES];

    /// The lanes of `a0 · b` and `a1 · b`, reading `b` once.
    ///
    /// # Safety
    /// As `lanes_avx`, and `a1` as long as `a0`.
    #[cfg(target_arch = "x86_64")]
    unsafe fn lanes2_avx(a0: &[Self], a1: &[Self], b: &[Self]) -> [[Self; LANES]; 2];
}

macro_rules! impl_dot_lanes {
    ($t:ty, $vec:ty, $width:literal, $zero:ident, $load:ident, $mul:ident, $add:ident, $store:ident) => {
        impl DotLanes for $t {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx")]
            unsafe fn lanes_avx(a: &[$t], b: &[$t]) -> [$t; LANES] {
                use std::arch::x86_64::*;
                const VECTORS: usize = LANES / $width;
                assert!(b.len() >= a.len());
                let mut acc: [$vec; VECTORS] = [$zero(); VECTORS];
                for block in 0..a.len() / LANES {
                    let (pa, pb) = (a.as_ptr().add(block * LANES), b.as_ptr().add(block * LANES));
                    for (v, acc) in acc.iter_mut().enumerate() {
                        let product = $mul($load(pa.add(v * $width)), $load(pb.add(v * $width)));
                        *acc = $add(*acc, product);
                    }
                }
                let mut lanes = [0.0; LANES];
                for (v, acc) in acc.iter().enumerate() {
                    $store(lanes.as_mut_ptr().add(v * $width), *acc);
                }
                lanes
            }

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx")]
            unsafe fn lanes2_avx(a0: &[$t], a1: &[$t], b: &[$t]) -> [[$t; LANES]; 2] {
                use std::arch::x86_64::*;
                const VECTORS: usize = LANES / $width;
                assert!(b.len() >= a0.len() && a1.len() >= a0.len());
                let mut acc0: [$vec; VECTORS] = [$zero(); VECTORS];
                let mut acc1: [$vec; VECTORS] = [$zero(); VECTORS];
                for block in 0..a0.len() / LANES {
                    let offset = block * LANES;
                    let (p0, p1, pb) = (
                        a0.as_ptr().add(offset),
                        a1.as_ptr().add(offset),
                        b.as_ptr().add(offset),
                    );
                    for v in 0..VECTORS {
                        let y = $load(pb.add(v * $width));
                        acc0[v] = $add(acc0[v], $mul($load(p0.add(v * $width)), y));
                        acc1[v] = $add(acc1[v], $mul($load(p1.add(v * $width)), y));
                    }
                }
                let mut lanes = [[0.0; LANES]; 2];
                for v in 0..VECTORS {
                    $store(lanes[0].as_mut_ptr().add(v * $width), acc0[v]);
                    $store(lanes[1].as_mut_ptr().add(v * $width), acc1[v]);
                }
                lanes
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
impl_dot_lanes!(
    f64,
    std::arch::x86_64::__m256d,
    4,
    _mm256_setzero_pd,
    _mm256_loadu_pd,
    _mm256_mul_pd,
    _mm256_add_pd,
    _mm256_storeu_pd
);
#[cfg(target_arch = "x86_64")]
impl_dot_lanes!(
    f32,
    std::arch::x86_64::__m256,
    8,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_mul_ps,
    _mm256_add_ps,
    _mm256_storeu_ps
);
#[cfg(not(target_arch = "x86_64"))]
impl DotLanes for f64 {}
#[cfg(not(target_arch = "x86_64"))]
impl DotLanes for f32 {}

/// Dots shorter than this use the plain loop (compiled for AVX): for the
/// few elements of a tiny network's rows, the register set-up of the
/// explicit lanes costs more than it saves.
const SHORT_DOT: usize = 64;

/// # Safety
/// The CPU must support AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn dot_avx<T: Float>(a: &[T], b: &[T]) -> T {
    if a.len() < SHORT_DOT {
        return dot_body(a, b);
    }
    let whole = a.len() / LANES * LANES;
    finish(T::lanes_avx(a, b), &a[whole..], &b[whole..])
}

/// `out[i] = dot(row i, weights)` for rows no longer than `CHUNK`, two rows
/// at a time.
///
/// # Safety
/// The CPU must support AVX.
#[cfg(target_arch = "x86_64")]
unsafe fn rows_avx<T: Float>(matrix: &[T], weights: &[T], out: &mut [T]) {
    let cols = weights.len();
    let whole = cols / LANES * LANES;
    let mut pairs = matrix.chunks_exact(2 * cols);
    let mut slots = out.chunks_exact_mut(2);
    for (pair, slot) in (&mut pairs).zip(&mut slots) {
        let (first, second) = pair.split_at(cols);
        let [lanes0, lanes1] = T::lanes2_avx(first, second, weights);
        slot[0] = finish(lanes0, &first[whole..], &weights[whole..]);
        slot[1] = finish(lanes1, &second[whole..], &weights[whole..]);
    }
    if let [last] = slots.into_remainder() {
        *last = dot_avx(pairs.remainder(), weights);
    }
}

/// Row-by-row dot products of short rows (at most `CHUNK` long).
fn short_rows<T: Float>(matrix: &[T], weights: &[T], out: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU supports AVX, checked on the line above.
        return unsafe { rows_avx(matrix, weights, out) };
    }
    for (row, slot) in matrix.chunks(weights.len()).zip(out.iter_mut()) {
        *slot = dot_body(row, weights);
    }
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
    // Each row's sum is `weighted_sum` of that row, in the same order of
    // operations, however the rows are grouped.
    let rows = |matrix: &[T], out: &mut [T]| {
        if cols <= CHUNK {
            short_rows(matrix, weights, out);
        } else {
            for (row, slot) in matrix.chunks(cols).zip(out.iter_mut()) {
                *slot = weighted_sum(row, weights);
            }
        }
    };
    if !(parallel::worth_parallel(matrix.len()) && out.len() > 1) {
        return rows(matrix, out);
    }
    // One part of whole rows per thread; the caller computes the first.
    let part = out.len().div_ceil(parallel::num_threads());
    let parts = matrix.chunks(part * cols).zip(out.chunks_mut(part));
    parallel::for_each_part(parts, |(matrix, out)| rows(matrix, out));
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
    fn matrix_rows_sum_exactly_like_single_vectors() {
        for &(rows, cols) in &[(1, 5), (2, 16), (7, 33), (5, CHUNK + 9), (64, 100)] {
            let matrix: Vec<f64> = (0..rows * cols)
                .map(|i| ((i * 7919) % 1001) as f64 / 997.0 - 0.5)
                .collect();
            let weights: Vec<f64> = (0..cols).map(|i| ((i * 31) % 17) as f64 / 7.0).collect();
            let mut out = vec![f64::NAN; rows];
            weighted_sum_rows(&matrix, &weights, &mut out);
            for (row, got) in matrix.chunks(cols).zip(&out) {
                assert_eq!(got.to_bits(), weighted_sum(row, &weights).to_bits());
            }
        }
    }

    #[test]
    fn simd_lanes_give_the_bits_of_the_plain_loop() {
        for len in [0, 1, 15, 16, 17, 100, 1000, 4099] {
            let a: Vec<f64> = (0..len)
                .map(|i| ((i * 7919) % 1001) as f64 / 997.0 - 0.5)
                .collect();
            let b: Vec<f64> = (0..len)
                .map(|i| ((i * 104729) % 997) as f64 / 991.0)
                .collect();
            assert_eq!(dot(&a, &b).to_bits(), dot_body(&a, &b).to_bits(), "{len}");
            let (a, b): (Vec<f32>, Vec<f32>) = (
                a.iter().map(|&x| x as f32).collect(),
                b.iter().map(|&x| x as f32).collect(),
            );
            assert_eq!(dot(&a, &b).to_bits(), dot_body(&a, &b).to_bits(), "{len}");
        }
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
