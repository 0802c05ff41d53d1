//! Activations (ReLU, sigmoid, the perceptron's step) and their gradients.
//!
//! Each is applied elementwise, compiled for the widest instruction set worth
//! it; large slices are split into fixed `CHUNK`-length pieces over the
//! thread pool. Values follow numpy's conventions bit for bit where numpy
//! defines them: `relu` is `np.maximum(x, 0)` (NaN propagates, `-0.0` becomes
//! `0.0`). The sigmoid's own float32 and float64 kernels are in `logistic`.

mod logistic;

pub use logistic::{sigmoid_f32, sigmoid_f64};

use super::parallel::{self, CHUNK};
use super::simd::{self, Level};
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
/// [`Level`]: the kernels use only IEEE operations and
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

#[inline(always)]
fn map_body<T: Float>(x: &[T], out: &mut [T], f: impl Fn(T) -> T) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f(v);
    }
}

#[inline(always)]
fn map_inplace_body<T: Float>(xs: &mut [T], f: impl Fn(T) -> T) {
    for v in xs.iter_mut() {
        *v = f(*v);
    }
}

#[inline(always)]
fn zip_body<T: Float>(x: &[T], grad: &[T], out: &mut [T], f: impl Fn(T, T) -> T) {
    for ((o, &v), &g) in out.iter_mut().zip(x).zip(grad) {
        *o = f(v, g);
    }
}

impl Activation {
    /// The widest code worth compiling it for: the sigmoid's polynomial uses
    /// fused multiply-adds, which vectorise with FMA and are each a (slow,
    /// exact) library call without; the others gain from AVX's wider
    /// registers alone. At AVX2 and AVX-512 alike the compiler's copy of the
    /// float32 sigmoid runs as wide as the registers with no intrinsics:
    /// measured by `benches/test_activations.py` (`test_sigmoid_float32`)
    /// with and without `NEURUST_SIMD=avx2`; figures in docs/performance.md.
    fn simd_level(self) -> Level {
        match self {
            Activation::Sigmoid => Level::Avx512,
            Activation::Relu | Activation::Step => Level::Avx,
        }
    }
}

fn map_serial<T: Float>(x: &[T], out: &mut [T], act: Activation) {
    simd::dispatch(
        act.simd_level(),
        #[inline(always)]
        move |_| match act {
            Activation::Relu => map_body(x, out, relu),
            Activation::Sigmoid => map_body(x, out, sigmoid),
            Activation::Step => map_body(x, out, heaviside),
        },
    )
}

fn map_inplace_serial<T: Float>(xs: &mut [T], act: Activation) {
    simd::dispatch(
        act.simd_level(),
        #[inline(always)]
        move |_| match act {
            Activation::Relu => map_inplace_body(xs, relu),
            Activation::Sigmoid => map_inplace_body(xs, sigmoid),
            Activation::Step => map_inplace_body(xs, heaviside),
        },
    )
}

fn zip_serial<T: Float>(x: &[T], grad: &[T], out: &mut [T], act: Activation) {
    simd::dispatch(
        act.simd_level(),
        #[inline(always)]
        move |_| match act {
            Activation::Relu => zip_body(x, grad, out, relu_grad),
            Activation::Sigmoid => zip_body(x, grad, out, sigmoid_grad),
            Activation::Step => zip_body(x, grad, out, |_, _| T::ZERO),
        },
    )
}

// Elementwise results do not depend on how the slice is cut.

/// `out[i] = act(x[i])`.
///
/// # Panics
/// If the slices differ in length (callers validate first).
pub fn activate<T: Float>(act: Activation, x: &[T], out: &mut [T]) {
    assert_eq!(x.len(), out.len(), "activate: lengths differ");
    if !parallel::worth_parallel_from(x.len(), act.parallel_min()) {
        return map_serial(x, out, act);
    }
    parallel::for_each_chunk(x.chunks(CHUNK).zip(out.chunks_mut(CHUNK)), |(x, out)| {
        map_serial(x, out, act)
    });
}

/// `xs[i] = act(xs[i])`.
pub fn activate_inplace<T: Float>(act: Activation, xs: &mut [T]) {
    if !parallel::worth_parallel_from(xs.len(), act.parallel_min()) {
        return map_inplace_serial(xs, act);
    }
    parallel::for_each_chunk(xs.chunks_mut(CHUNK), |xs| map_inplace_serial(xs, act));
}

/// `out[i] = grad[i] * act'(x[i])`.
///
/// # Panics
/// If the slices differ in length (callers validate first).
pub fn activate_grad<T: Float>(act: Activation, x: &[T], grad: &[T], out: &mut [T]) {
    assert!(
        x.len() == grad.len() && x.len() == out.len(),
        "activate_grad: lengths differ"
    );
    if !parallel::worth_parallel_from(x.len(), act.parallel_min()) {
        return zip_serial(x, grad, out, act);
    }
    let parts = x
        .chunks(CHUNK)
        .zip(grad.chunks(CHUNK))
        .zip(out.chunks_mut(CHUNK));
    parallel::for_each_chunk(parts, |((x, grad), out)| zip_serial(x, grad, out, act));
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

    #[test]
    fn relu_zeroes_negatives_and_negative_zero_and_keeps_nan() {
        let x = [
            -2.0,
            -0.0,
            0.0,
            3.5,
            f64::NAN,
            f64::NEG_INFINITY,
            f64::INFINITY,
        ];
        let mut out = [1.0; 7];
        activate(Activation::Relu, &x, &mut out);
        assert_eq!(out[0], 0.0);
        assert!(out[1] == 0.0 && out[1].is_sign_positive());
        assert_eq!(&out[2..4], &[0.0, 3.5]);
        assert!(out[4].is_nan());
        assert_eq!(&out[5..], &[0.0, f64::INFINITY]);
    }

    #[test]
    fn relu_grad_passes_gradient_only_where_input_positive() {
        let x = [-1.0_f32, 0.0, 2.0, f32::NAN];
        let g = [5.0, 6.0, 7.0, 8.0];
        let mut out = [0.0; 4];
        activate_grad(Activation::Relu, &x, &g, &mut out);
        assert_eq!(out, [0.0, 0.0, 7.0, 0.0]);
    }

    #[test]
    fn step_fires_only_above_zero() {
        let x = [-1.0, 0.0, 1e-300, 5.0, f64::NAN];
        let mut out = [9.0; 5];
        activate(Activation::Step, &x, &mut out);
        assert_eq!(&out[..4], &[0.0, 0.0, 1.0, 1.0]);
        assert!(out[4].is_nan());
    }

    #[test]
    fn in_place_matches_out_of_place_for_large_inputs() {
        let n = parallel::ELEMENTWISE_PARALLEL_MIN + 1001;
        let x: Vec<f64> = (0..n).map(|i| (i as f64 - 5e5) / 7.0).collect();
        for act in [Activation::Relu, Activation::Sigmoid, Activation::Step] {
            let mut out = vec![0.0; x.len()];
            activate(act, &x, &mut out);
            let mut inplace = x.clone();
            activate_inplace(act, &mut inplace);
            assert_eq!(out, inplace, "{}", act.name());
            for (o, &v) in out.iter().zip(&x).step_by(997) {
                assert_eq!(o.to_bits(), act.value(v).to_bits());
            }
        }
    }
}
