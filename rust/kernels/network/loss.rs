//! The output losses of scikit-learn's MLP, reduced in numpy's order.

use super::real::{pairwise_sum, Real};
use crate::kernels::dot::dot;
use crate::kernels::parallel::CHUNK;

/// The loss between the output layer's activations and the targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Half the (weighted) mean squared error, averaged over outputs.
    SquaredError,
    /// Half the Poisson deviance (the predictions are positive rates).
    Poisson,
    /// Cross-entropy over classes (a lone column is the positive class).
    LogLoss,
    /// Cross-entropy of independent binary outputs.
    BinaryLogLoss,
    /// The two-layer net's loss: `Σ (P - Y)²` over every element, or its
    /// mean, without halving, sample weights or an L2 term. Its reduction
    /// is folded into the output delta, so the gradients are not divided
    /// by the sample count afterwards.
    SumOfSquares(Reduction),
}

/// How the squared errors of [`Loss::SumOfSquares`] are combined into one loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// `Σ (P - Y)²`, as the tutorial trains.
    #[default]
    Sum,
    /// `Σ (P - Y)² / (rows · outputs)`, as `torch.nn.MSELoss()` computes.
    Mean,
}

impl Reduction {
    /// Parses `"sum"` or `"mean"`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sum" => Some(Reduction::Sum),
            "mean" => Some(Reduction::Mean),
            _ => None,
        }
    }

    /// The factor the sum of squares is multiplied by over `count` elements.
    pub(super) fn scale<T: Real>(self, count: usize) -> T {
        match self {
            Reduction::Sum => T::ONE,
            // Exact for any count below 2^53, then rounded once to T.
            Reduction::Mean => T::from_f64(1.0 / count as f64),
        }
    }

    /// Writes `P - Y` into `diff` and returns the reduced sum of its squares.
    #[inline(always)]
    pub(super) fn squared_error<T: Real>(self, predictions: &[T], y: &[T], diff: &mut [T]) -> T {
        assert_eq!(y.len(), predictions.len(), "network: y shape");
        for ((d, &p), &t) in diff.iter_mut().zip(predictions).zip(y) {
            *d = p - t;
        }
        // Fixed CHUNK-length partial sums added left to right: the same bits
        // on any thread count, and no allocation.
        let mut sum = T::ZERO;
        for piece in diff.chunks(CHUNK) {
            sum += dot(piece, piece);
        }
        sum * self.scale::<T>(diff.len())
    }
}

/// scipy's `xlogy`: `x · ln y`, and 0 where `x` is 0 and `y` is not NaN.
#[inline(always)]
fn xlogy<T: Real>(x: T, y: T) -> T {
    if x == T::ZERO && !y.is_nan() {
        T::ZERO
    } else {
        x * y.ln()
    }
}

/// numpy's `clip(p, eps, 1 - eps)`.
#[inline(always)]
fn clip<T: Real>(p: T) -> T {
    let high = T::ONE - T::EPSILON;
    let p = if p > high { high } else { p };
    if p < T::EPSILON {
        T::EPSILON
    } else {
        p
    }
}

impl Loss {
    pub fn name(self) -> &'static str {
        match self {
            Loss::SquaredError => "squared_error",
            Loss::Poisson => "poisson",
            Loss::LogLoss => "log_loss",
            Loss::BinaryLogLoss => "binary_log_loss",
            Loss::SumOfSquares(Reduction::Sum) => "sum_of_squares",
            Loss::SumOfSquares(Reduction::Mean) => "mean_of_squares",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            Loss::SquaredError,
            Loss::Poisson,
            Loss::LogLoss,
            Loss::BinaryLogLoss,
        ]
        .into_iter()
        .find(|l| l.name() == name)
    }

    /// The loss of the row-major `rows × cols` predictions against `y`,
    /// without the L2 term. `scratch` holds at least `rows` elements and
    /// `means` at least `max(cols, 2)`.
    #[inline(always)]
    pub(super) fn value<T: Real>(
        self,
        predictions: &[T],
        y: &[T],
        cols: usize,
        sample_weight: Option<&[T]>,
        scratch: &mut [T],
        means: &mut [T],
    ) -> T {
        let rows = y.len() / cols;
        assert_eq!(predictions.len(), y.len(), "network: y shape");
        let p = |i: usize, j: usize| predictions[i * cols + j];
        let t = |i: usize, j: usize| y[i * cols + j];
        match self {
            Loss::SquaredError => {
                let means = column_means(rows, cols, sample_weight, scratch, means, |i, j| {
                    let d = t(i, j) - p(i, j);
                    d * d
                });
                let mean = pairwise_sum(means) / T::from_f64(cols as f64);
                T::from_f64(0.5) * mean
            }
            Loss::Poisson => {
                let means = column_means(rows, cols, sample_weight, scratch, means, |i, j| {
                    let (y, p) = (t(i, j), p(i, j));
                    xlogy(y, y / p) - y + p
                });
                pairwise_sum(means)
            }
            Loss::LogLoss if cols == 1 => {
                // numpy appends the negative class as a first column.
                let means = column_means(rows, 2, sample_weight, scratch, means, |i, j| {
                    let (y, p) = (t(i, 0), clip(p(i, 0)));
                    if j == 0 {
                        xlogy(T::ONE - y, T::ONE - p)
                    } else {
                        xlogy(y, p)
                    }
                });
                -pairwise_sum(means)
            }
            Loss::LogLoss => {
                let means = column_means(rows, cols, sample_weight, scratch, means, |i, j| {
                    xlogy(t(i, j), clip(p(i, j)))
                });
                -pairwise_sum(means)
            }
            Loss::BinaryLogLoss => {
                let means = column_means(rows, cols, sample_weight, scratch, means, |i, j| {
                    let (y, p) = (t(i, j), clip(p(i, j)));
                    xlogy(y, p) + xlogy(T::ONE - y, T::ONE - p)
                });
                -pairwise_sum(means)
            }
            // Reduced with its delta by `Reduction::squared_error`, which
            // the passes call instead.
            Loss::SumOfSquares(_) => unreachable!("network: the sum of squares has no value()"),
        }
    }
}

/// `np.average(term, weights=sample_weight, axis=0)` of the `rows × cols`
/// matrix `term(i, j)`, into `means[..cols]`.
#[inline(always)]
fn column_means<'m, T: Real>(
    rows: usize,
    cols: usize,
    sample_weight: Option<&[T]>,
    scratch: &mut [T],
    means: &'m mut [T],
    term: impl Fn(usize, usize) -> T,
) -> &'m [T] {
    let weighted = |i: usize, j: usize| match sample_weight {
        Some(w) => term(i, j) * w[i],
        None => term(i, j),
    };
    let means = &mut means[..cols];
    if cols == 1 {
        let column = &mut scratch[..rows];
        for (i, slot) in column.iter_mut().enumerate() {
            *slot = weighted(i, 0);
        }
        means[0] = pairwise_sum(column);
    } else {
        means.fill(T::ZERO);
        for i in 0..rows {
            for (j, m) in means.iter_mut().enumerate() {
                *m += weighted(i, j);
            }
        }
    }
    let total = match sample_weight {
        Some(w) => pairwise_sum(w),
        None => T::from_f64(rows as f64),
    };
    for m in means.iter_mut() {
        *m = *m / total;
    }
    means
}
