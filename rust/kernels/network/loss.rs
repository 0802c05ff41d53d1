//! The output losses of scikit-learn's MLP, reduced in numpy's order.

use super::real::{pairwise_sum, Real};

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
