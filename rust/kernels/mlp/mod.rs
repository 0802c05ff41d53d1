//! The two-layer network: forward pass, backward pass and the fused training loop.
//!
//! The network is `P = act(X W1 + b1) W2 + b2` with `X` of shape
//! `rows × input_dim`, `W1` of `input_dim × hidden_dim` and `W2` of
//! `hidden_dim × output_dim`, all row-major (the layout numpy arrays have).
//! The loss is the sum (or the mean) of squared errors against the targets `Y`.
//!
//! The passes are those of the N-layer core (`kernels::network`): this net is
//! its one-hidden-layer layout ([`TwoLayer::layout`]), and this module keeps
//! the two-layer API, its workspace and its fused training loop.
//!
//! Every intermediate lives in a [`Workspace`] allocated once, so [`fit`] runs
//! any number of steps without allocating. Transposed products read the same
//! buffers through transposed `gemm::View`s instead of copying them. Results do
//! not depend on the thread count: the products come from `gemm::matmul`
//! (whose parallel split does not change the order of additions), and the
//! sums here (loss, bias gradients) run in one fixed order on one thread.
//!
//! Shapes are the caller's to validate: the functions panic on a mismatch, as
//! the binding layer checks every argument first and names it in its error.

mod passes;
mod train;
mod workspace;

#[cfg(test)]
mod reference;
#[cfg(test)]
mod same_bits;
#[cfg(test)]
mod tests;

pub use passes::{
    forward, gradients, gradients_into, loss, step, step_in_place, step_into, step_params_into,
};
pub use train::{fit, FitConfig, FitError, FitOutcome};
pub use workspace::Workspace;

pub use super::network::Reduction;

use super::activation::Activation;
use super::network::{Hidden, Layout, Loss, Order, Output};

/// The shape of a two-layer network: its sizes, activation and whether its
/// layers add biases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TwoLayer {
    pub input_dim: usize,
    pub hidden_dim: usize,
    pub output_dim: usize,
    pub activation: Activation,
    pub bias: bool,
}

impl TwoLayer {
    /// Elements in `W1` (`input_dim × hidden_dim`).
    pub fn w1_len(&self) -> usize {
        self.input_dim * self.hidden_dim
    }

    /// Elements in `W2` (`hidden_dim × output_dim`).
    pub fn w2_len(&self) -> usize {
        self.hidden_dim * self.output_dim
    }

    /// This net as the N-layer core's layout: one hidden layer of its
    /// activation, an identity output, the sum (or mean) of squared errors,
    /// biases or none, and the direct order of sums.
    pub fn layout(&self, reduction: Reduction) -> Layout {
        Layout {
            sizes: vec![self.input_dim, self.hidden_dim, self.output_dim],
            hidden: Hidden::Neuron(self.activation),
            output: Output::Identity,
            loss: Loss::SumOfSquares(reduction),
            intercepts: self.bias,
            order: Order::Direct,
        }
    }

    fn check_params<T>(&self, params: &Params<'_, T>) {
        assert_eq!(params.w1.len(), self.w1_len(), "mlp: w1 shape");
        assert_eq!(params.w2.len(), self.w2_len(), "mlp: w2 shape");
        assert_eq!(params.b1.is_some(), self.bias, "mlp: b1 presence");
        assert_eq!(params.b2.is_some(), self.bias, "mlp: b2 presence");
        if let (Some(b1), Some(b2)) = (params.b1, params.b2) {
            assert_eq!(b1.len(), self.hidden_dim, "mlp: b1 shape");
            assert_eq!(b2.len(), self.output_dim, "mlp: b2 shape");
        }
    }
}

/// Read-only parameters: the weights, and the biases when the net has them.
#[derive(Clone, Copy, Debug)]
pub struct Params<'a, T> {
    pub w1: &'a [T],
    pub b1: Option<&'a [T]>,
    pub w2: &'a [T],
    pub b2: Option<&'a [T]>,
}

/// Parameters that a training step updates in place (for the binding, the
/// numpy arrays' own memory).
#[derive(Debug)]
pub struct ParamsMut<'a, T> {
    pub w1: &'a mut [T],
    pub b1: Option<&'a mut [T]>,
    pub w2: &'a mut [T],
    pub b2: Option<&'a mut [T]>,
}

impl<'a, T> Params<'a, T> {
    /// The weights and biases as the core's per-layer lists (empty biases
    /// for a net without them).
    pub(super) fn layers(&self) -> ([&'a [T]; 2], [&'a [T]; 2]) {
        (
            [self.w1, self.w2],
            [self.b1.unwrap_or(&[]), self.b2.unwrap_or(&[])],
        )
    }
}

impl<T> ParamsMut<'_, T> {
    /// A read-only view of the same parameters.
    pub fn view(&self) -> Params<'_, T> {
        Params {
            w1: self.w1,
            b1: self.b1.as_deref(),
            w2: self.w2,
            b2: self.b2.as_deref(),
        }
    }
}

/// The gradients of the loss, shaped like the parameters (the bias buffers
/// are empty when the net has no biases).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gradients<T> {
    pub w1: Vec<T>,
    pub b1: Vec<T>,
    pub w2: Vec<T>,
    pub b2: Vec<T>,
}

impl<T> Gradients<T> {
    /// The same buffers as a [`GradientsMut`] to compute into.
    pub fn as_mut(&mut self) -> GradientsMut<'_, T> {
        fn bias<T>(b: &mut [T]) -> Option<&mut [T]> {
            (!b.is_empty()).then_some(b)
        }
        GradientsMut {
            w1: &mut self.w1,
            b1: bias(&mut self.b1),
            w2: &mut self.w2,
            b2: bias(&mut self.b2),
        }
    }
}

/// Caller-owned buffers the backward pass writes the gradients into (for
/// the binding, fresh numpy arrays: computing straight into them spares a
/// copy and, more costly, the page faults of a second large buffer).
#[derive(Debug)]
pub struct GradientsMut<'a, T> {
    pub w1: &'a mut [T],
    pub b1: Option<&'a mut [T]>,
    pub w2: &'a mut [T],
    pub b2: Option<&'a mut [T]>,
}
