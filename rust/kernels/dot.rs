//! The weighted sum: vector·vector and matrix·vector dot products.
//!
//! Every dot product accumulates in 16 independent lanes (so the compiler can
//! keep them in SIMD registers) and adds the lanes in a fixed tree. Long
//! vectors are cut into fixed `CHUNK`-length pieces whose partial sums are
//! added left to right, so the result is the same bits whatever the thread
//! count and whichever SIMD width the CPU offers.

use std::sync::{Mutex, OnceLock};

use super::element::{Element, LANES};
use super::parallel::{self, CHUNK};
use super::simd::{self, Level};
use super::Float;

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

/// Dots shorter than this use the plain loop (compiled for AVX): for the
/// few elements of a tiny network's rows, the register set-up of the
/// explicit lanes costs more than it saves.
const SHORT_DOT: usize = 64;

/// The dot product in the explicit AVX lanes, 512 bits wide where the CPU
/// has AVX-512 (the plain loop for short ones).
///
/// # Safety
/// The CPU must support AVX.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn dot_avx<T: Element>(a: &[T], b: &[T]) -> T {
    if a.len() < SHORT_DOT {
        return dot_body(a, b);
    }
    if wide(a.len()) {
        return dot_avx512(a, b);
    }
    let whole = a.len() / LANES * LANES;
    finish(T::lanes_avx(a, b), &a[whole..], &b[whole..])
}

/// Whether a dot of `len` elements runs in 512-bit registers: at least
/// `SHORT_DOT` long, where the CPU has AVX-512. The bits are the same (lane
/// by lane, the same operations); a matrix·vector product read from cache
/// took 5–9% less time than in 256-bit registers (`neurust compare
/// --workloads weighted_sum --sizes 1kx1k --threads 1`), rows of 64 about
/// 3% less (`--sizes 64x64`); figures in docs/performance.md.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn wide(len: usize) -> bool {
    len >= SHORT_DOT && Level::detect() == Level::Avx512
}

/// [`dot_avx`] in 512-bit registers.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dot_avx512<T: Element>(a: &[T], b: &[T]) -> T {
    let whole = a.len() / LANES * LANES;
    finish(T::lanes_avx512(a, b), &a[whole..], &b[whole..])
}

/// `out[i] = dot(row i, weights)` for rows no longer than `CHUNK`, two rows
/// at a time.
///
/// # Safety
/// The CPU must support AVX.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn rows_avx<T: Element>(matrix: &[T], weights: &[T], out: &mut [T]) {
    if wide(weights.len()) {
        return rows_avx512(matrix, weights, out);
    }
    rows_in(matrix, weights, out, |a0, a1, b| T::lanes2_avx(a0, a1, b));
}

/// [`rows_avx`] in 512-bit registers.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn rows_avx512<T: Element>(matrix: &[T], weights: &[T], out: &mut [T]) {
    rows_in(matrix, weights, out, |a0, a1, b| {
        T::lanes2_avx512(a0, a1, b)
    });
}

/// The rows two at a time through `lanes2`, an odd last row through `dot`.
///
/// # Safety
/// `lanes2` is one of `Element`'s lane kernels that the CPU supports.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn rows_in<T: Element>(
    matrix: &[T],
    weights: &[T],
    out: &mut [T],
    lanes2: impl Fn(&[T], &[T], &[T]) -> [[T; LANES]; 2],
) {
    let cols = weights.len();
    let whole = cols / LANES * LANES;
    let mut pairs = matrix.chunks_exact(2 * cols);
    let mut slots = out.chunks_exact_mut(2);
    for (pair, slot) in (&mut pairs).zip(&mut slots) {
        let (first, second) = pair.split_at(cols);
        let [lanes0, lanes1] = lanes2(first, second, weights);
        slot[0] = finish(lanes0, &first[whole..], &weights[whole..]);
        slot[1] = finish(lanes1, &second[whole..], &weights[whole..]);
    }
    if let [last] = slots.into_remainder() {
        *last = dot_avx(pairs.remainder(), weights);
    }
}

/// Row-by-row dot products of short rows (at most `CHUNK` long).
fn short_rows<T: Element>(matrix: &[T], weights: &[T], out: &mut [T]) {
    simd::dispatch(
        Level::Avx,
        #[inline(always)]
        move |level| {
            #[cfg(target_arch = "x86_64")]
            if level >= Level::Avx {
                // SAFETY: `dispatch` passes a level the CPU supports.
                return unsafe { rows_avx(matrix, weights, out) };
            }
            let _ = level;
            for (row, slot) in matrix.chunks(weights.len()).zip(out.iter_mut()) {
                *slot = dot_body(row, weights);
            }
        },
    )
}

/// The dot product of two equally long slices, in one fixed order of
/// operations (no FMA contraction, so every CPU gives the same bits).
#[inline]
pub fn dot<T: Element>(a: &[T], b: &[T]) -> T {
    assert_eq!(a.len(), b.len(), "dot: slices differ in length");
    simd::dispatch(
        Level::Avx,
        #[inline(always)]
        move |level| {
            #[cfg(target_arch = "x86_64")]
            if level >= Level::Avx {
                // SAFETY: `dispatch` passes a level the CPU supports.
                return unsafe { dot_avx(a, b) };
            }
            let _ = level;
            dot_body(a, b)
        },
    )
}

fn sum_in_order<T: Float>(mut partials: impl Iterator<Item = T>) -> T {
    let first = partials.next().unwrap_or(T::ZERO);
    partials.fold(first, |sum, part| sum + part)
}

/// `Σ inputs[i] * weights[i]`; 0 for empty vectors.
///
/// # Panics
/// If the slices differ in length (callers validate first).
pub fn weighted_sum<T: Element>(inputs: &[T], weights: &[T]) -> T {
    assert_eq!(inputs.len(), weights.len(), "weighted_sum: lengths differ");
    if inputs.len() <= CHUNK {
        return dot(inputs, weights);
    }
    let pieces = inputs.chunks(CHUNK).zip(weights.chunks(CHUNK));
    if !parallel::worth_parallel(inputs.len()) {
        return sum_in_order(pieces.map(|(a, b)| dot(a, b)));
    }
    // Self-scheduled: whichever thread is free takes the next piece, so a
    // thread whose core is busy elsewhere holds back no more than a piece.
    let pieces: Vec<_> = pieces.map(|piece| (piece, OnceLock::new())).collect();
    parallel::for_each_index(pieces.len(), |index| {
        let ((a, b), partial) = &pieces[index];
        partial.get_or_init(|| dot(a, b));
    });
    sum_in_order(pieces.into_iter().map(|(_, partial)| {
        partial
            .into_inner()
            .expect("for_each_index runs every index")
    }))
}

/// `out[i] = Σ_j matrix[i, j] * weights[j]` for a row-major `matrix` of
/// `out.len()` rows and `weights.len()` columns.
///
/// # Panics
/// If the lengths do not describe such a matrix (callers validate first).
pub fn weighted_sum_rows<T: Element>(matrix: &[T], weights: &[T], out: &mut [T]) {
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
    // Blocks of whole rows, a few per thread, self-scheduled (as above).
    let blocks = (parallel::num_threads() * BLOCKS_PER_THREAD).min(out.len());
    let block = out.len().div_ceil(blocks);
    let parts: Vec<_> = matrix
        .chunks(block * cols)
        .zip(out.chunks_mut(block))
        .map(Mutex::new)
        .collect();
    parallel::for_each_index(parts.len(), |index| {
        let mut part = parts[index].lock().unwrap_or_else(|e| e.into_inner());
        let (matrix, out) = &mut *part;
        rows(matrix, out);
    });
}

/// Row blocks per thread in a parallel matrix·vector product: enough for a
/// free thread to take over a busy one's share, few enough that each block
/// is a long stream through memory.
const BLOCKS_PER_THREAD: usize = 4;

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
                if cols <= CHUNK {
                    // Whatever the width of the lanes the rows ran in.
                    assert_eq!(got.to_bits(), dot_body(row, &weights).to_bits());
                }
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
