//! The hidden and output activations of scikit-learn's MLP, applied in place, and the hidden ones' derivatives.

use super::real::{pairwise_sum, Real};
use crate::kernels::activation::{activate_inplace, Activation};

/// The activation of every hidden layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hidden {
    Identity,
    Logistic,
    Tanh,
    Relu,
    /// neurust's own activation (the two-layer net's): applied from a kept
    /// pre-activation, and differentiated at it with `activate_grad`.
    Neuron(Activation),
}

/// The activation of the output layer (`out_activation_`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Identity,
    Logistic,
    Softmax,
    /// The Poisson loss's inverse link.
    Exp,
}

/// scipy's `expit`: `1 / (1 + exp(-x))` in the element type.
#[inline(always)]
fn logistic<T: Real>(x: T) -> T {
    T::ONE / (T::ONE + (-x).exp())
}

/// numpy's `maximum(x, 0)`: keeps NaN and -0.0.
#[inline(always)]
fn relu<T: Real>(x: T) -> T {
    if x >= T::ZERO || x.is_nan() {
        x
    } else {
        T::ZERO
    }
}

impl Hidden {
    pub fn name(self) -> &'static str {
        match self {
            Hidden::Identity => "identity",
            Hidden::Logistic => "logistic",
            Hidden::Tanh => "tanh",
            Hidden::Relu => "relu",
            Hidden::Neuron(activation) => activation.name(),
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            Hidden::Identity,
            Hidden::Logistic,
            Hidden::Tanh,
            Hidden::Relu,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }

    /// Whether the passes keep the pre-activations, which its derivative reads.
    pub fn reads_pre_activation(self) -> bool {
        matches!(self, Hidden::Neuron(_))
    }

    /// Applies the activation to every element.
    #[inline(always)]
    pub fn apply<T: Real>(self, values: &mut [T]) {
        match self {
            Hidden::Identity => {}
            Hidden::Logistic => values.iter_mut().for_each(|v| *v = logistic(*v)),
            Hidden::Tanh => values.iter_mut().for_each(|v| *v = v.tanh()),
            Hidden::Relu => values.iter_mut().for_each(|v| *v = relu(*v)),
            Hidden::Neuron(activation) => activate_inplace(activation, values),
        }
    }

    /// Multiplies `delta` by the derivative, written in terms of the
    /// activation's output `z` as scikit-learn does.
    #[inline(always)]
    pub fn derivative<T: Real>(self, z: &[T], delta: &mut [T]) {
        assert_eq!(z.len(), delta.len(), "network: derivative shape");
        match self {
            Hidden::Identity => {}
            Hidden::Logistic => {
                for (d, &z) in delta.iter_mut().zip(z) {
                    *d = *d * z * (T::ONE - z);
                }
            }
            Hidden::Tanh => {
                for (d, &z) in delta.iter_mut().zip(z) {
                    *d *= T::ONE - z * z;
                }
            }
            Hidden::Relu => {
                // A select, not a branch: about half the units are off, in
                // no pattern a branch predictor can learn (the branch's cost:
                // `benches/network_per_batch.py`, docs/performance.md).
                for (d, &z) in delta.iter_mut().zip(z) {
                    let off = z == T::ZERO;
                    *d = if off { T::ZERO } else { *d };
                }
            }
            // Differentiated at the pre-activation by the passes instead.
            Hidden::Neuron(_) => unreachable!("network: a neuron's derivative reads its input"),
        }
    }
}

impl Output {
    pub fn name(self) -> &'static str {
        match self {
            Output::Identity => "identity",
            Output::Logistic => "logistic",
            Output::Softmax => "softmax",
            Output::Exp => "exp",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            Output::Identity,
            Output::Logistic,
            Output::Softmax,
            Output::Exp,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }

    /// Applies the activation to the row-major `rows × cols` matrix `values`.
    #[inline(always)]
    pub fn apply<T: Real>(self, values: &mut [T], cols: usize) {
        match self {
            Output::Identity => {}
            Output::Logistic => values.iter_mut().for_each(|v| *v = logistic(*v)),
            Output::Exp => values.iter_mut().for_each(|v| *v = v.exp()),
            Output::Softmax => {
                for row in values.chunks_exact_mut(cols) {
                    let mut max = row[0];
                    for &v in &row[1..] {
                        // numpy's max propagates NaN.
                        if v > max || v.is_nan() {
                            max = v;
                        }
                    }
                    for v in row.iter_mut() {
                        *v = (*v - max).exp();
                    }
                    let sum = pairwise_sum(row);
                    for v in row.iter_mut() {
                        *v = *v / sum;
                    }
                }
            }
        }
    }
}
