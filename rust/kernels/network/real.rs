//! What the network needs of `f32` and `f64` beyond `Element`, and numpy's summation orders.

use crate::kernels::Element;

/// `f32` or `f64` with the functions scikit-learn's MLP calls (`tanh`,
/// `ln`, `sqrt` and numpy's `eps`, all on `Float`): every `Element` is one,
/// so the two-layer net's callers reach this core with their own bound.
pub trait Real: Element {}

impl<T: Element> Real for T {}

/// numpy's sum of a contiguous run: plain below 8 elements, eight running
/// sums combined in a fixed tree up to 128, halves (at a multiple of 8)
/// beyond. `np.sum` of a vector gives these bits, so the sums scikit-learn
/// takes over one column (a single output, the sample weights) match it.
pub fn pairwise_sum<T: Real>(values: &[T]) -> T {
    let n = values.len();
    if n < 8 {
        let mut sum = T::ZERO;
        for &v in values {
            sum += v;
        }
        sum
    } else if n <= 128 {
        let mut r = [T::ZERO; 8];
        r.copy_from_slice(&values[..8]);
        let whole = n - n % 8;
        for block in values[8..whole].chunks_exact(8) {
            for (r, &v) in r.iter_mut().zip(block) {
                *r += v;
            }
        }
        let mut sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &values[whole..] {
            sum += v;
        }
        sum
    } else {
        let half = n / 2;
        let half = half - half % 8;
        pairwise_sum(&values[..half]) + pairwise_sum(&values[half..])
    }
}

/// `np.sum(matrix, axis=0)` of a row-major `rows × sums.len()` matrix:
/// numpy sums a lone column pairwise and several columns row by row.
#[inline(always)]
pub fn column_sums<T: Real>(matrix: &[T], sums: &mut [T]) {
    let cols = sums.len();
    if cols == 1 {
        sums[0] = pairwise_sum(matrix);
        return;
    }
    sums.fill(T::ZERO);
    if cols == 0 {
        return;
    }
    for row in matrix.chunks_exact(cols) {
        for (s, &v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    }
}
