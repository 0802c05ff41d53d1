//! Activations (ReLU, sigmoid, the perceptron's step) and their gradients.
//!
//! Each is applied elementwise; large slices are split into fixed
//! `CHUNK`-length pieces over the thread pool (`apply`). Values follow
//! numpy's conventions bit for bit where numpy defines them: `relu` is
//! `np.maximum(x, 0)` (NaN propagates, `-0.0` becomes `0.0`). The sigmoid's
//! own float32 and float64 kernels are in `logistic`.

mod apply;
mod logistic;

pub use apply::{activate, activate_grad, activate_inplace};
pub use logistic::{sigmoid_f32, sigmoid_f64};

use super::parallel;
use super::Float;

/// An activation function of one neuron.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// The perceptron's threshold, [`heaviside`]: 1 where `x > 0`, else 0 (NaN
    /// stays NaN).
    Step,
}

/// `max(x, 0)` with numpy's NaN and signed-zero behaviour.
#[inline(always)]
pub fn relu<T: Float>(x: T) -> T {
    // NaN fails the comparison and passes through, and -0.0 becomes +0.0,
    // as np.maximum(x, 0) does.
    if x <= T::ZERO {
        T::ZERO
    } else {
        x
    }
}

/// `grad` where `x > 0`, else 0.
#[inline(always)]
pub fn relu_grad<T: Float>(x: T, grad: T) -> T {
    if x > T::ZERO {
        grad
    } else {
        T::ZERO
    }
}

/// The logistic function, computed without overflow: `1 / (1 + e^-x)` for
/// `x >= 0` and `e^x / (1 + e^x)` below, which stays accurate down to the
/// subnormals where `1 / (1 + e^-x)` would divide by infinity. NaN gives
/// NaN, `-inf` 0 and `+inf` 1.
///
/// [`Level`](super::simd::Level): the kernels use only IEEE operations and
/// [`Level`]: the kernels use only IEEE operations and `mul_add` (rounded
/// once, in hardware or in the library's software fallback).
/// - float64: within a few ulp (see [`sigmoid_f64`]).
/// - float32: within 2 ulp of the correctly rounded value (see
///   [`sigmoid_f32`]).
#[inline(always)]
pub fn sigmoid<T: Float>(x: T) -> T {
    x.sigmoid()
}

/// `grad * σ(x) * (1 - σ(x))`, the chain rule through the sigmoid at `x`.
#[inline(always)]
pub fn sigmoid_grad<T: Float>(x: T, grad: T) -> T {
    let s = sigmoid(x);
    grad * s * (T::ONE - s)
}

/// The Heaviside function, the perceptron's step: 1 where `x > 0`, 0 where
/// `x <= 0`, NaN where `x` is NaN. (Named for the function, as Python's
/// `nr.heaviside` is: a "step" is also one update of gradient descent.)
#[inline(always)]
pub fn heaviside<T: Float>(x: T) -> T {
    if x > T::ZERO {
        T::ONE
    } else if x.is_nan() {
        x
    } else {
        T::ZERO
    }
}

impl Activation {
    /// The activation at `x`.
    #[inline(always)]
    pub fn value<T: Float>(self, x: T) -> T {
        match self {
            Activation::Relu => relu(x),
            Activation::Sigmoid => sigmoid(x),
            Activation::Step => heaviside(x),
        }
    }

    /// `grad` times the derivative at `x` (the step's derivative is taken as
    /// 0 everywhere, as autograd frameworks do).
    #[inline(always)]
    pub fn grad<T: Float>(self, x: T, grad: T) -> T {
        match self {
            Activation::Relu => relu_grad(x, grad),
            Activation::Sigmoid => sigmoid_grad(x, grad),
            Activation::Step => T::ZERO,
        }
    }

    /// The size from which applying it is split over threads.
    pub fn parallel_min(self) -> usize {
        match self {
            Activation::Sigmoid => parallel::EXPENSIVE_PARALLEL_MIN,
            Activation::Relu | Activation::Step => parallel::ELEMENTWISE_PARALLEL_MIN,
        }
    }

    /// The name users pass to choose it.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Step => "step",
        }
    }

    /// Parses `"relu"`, `"sigmoid"` or `"step"`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "relu" => Some(Activation::Relu),
            "sigmoid" => Some(Activation::Sigmoid),
            "step" => Some(Activation::Step),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_of_the_worked_example_is_nineteen() {
        let a = super::super::dot::weighted_sum(&[2.0, 3.0, 4.0], &[1.0, -1.0, 5.0]);
        assert_eq!(a, 19.0);
        assert_eq!(relu(a), 19.0);
    }

    #[test]
    fn sigmoid_grad_peaks_at_a_quarter() {
        assert_eq!(sigmoid_grad(0.0_f64, 1.0), 0.25);
        assert_eq!(sigmoid_grad(0.0_f64, 2.0), 0.5);
        assert_eq!(sigmoid_grad(-800.0_f64, 1.0), 0.0);
    }

    #[test]
    fn names_round_trip() {
        for act in [Activation::Relu, Activation::Sigmoid, Activation::Step] {
            assert_eq!(Activation::from_name(act.name()), Some(act));
        }
        assert_eq!(Activation::from_name("tanh"), None);
    }
}
