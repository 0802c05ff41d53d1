//! The N-layer network of scikit-learn's MLP: layers, activations, losses and optimizers as data.
//!
//! A network is a list of layer sizes `[n_features, hidden…, n_outputs]`, a
//! hidden activation, an output activation and a loss ([`Layout`]). Its
//! parameters are the caller's: one `coef` (`sizes[i] × sizes[i + 1]`,
//! row-major) and one `intercept` (`sizes[i + 1]`) per layer, read and
//! updated in place. Every intermediate lives in a [`Workspace`] that grows
//! only when a larger batch arrives, so an [`epoch`] allocates nothing.
//!
//! The arithmetic follows scikit-learn 1.9's `_backprop` and its optimizers
//! operation by operation (the same roundings wherever the order of a sum is
//! not a library's own choice): losses are reduced column by column with
//! numpy's rule (a lone column with its pairwise sum, several columns row by
//! row), the L2 term is `0.5 · alpha · Σ‖W‖² / Σw`, and Adam's step is
//! taken in float64 as numpy's type promotion does for float32 parameters.
//!
//! The two-layer net (`kernels::mlp`) is this core's one-hidden-layer case:
//! its activation ([`Hidden::Neuron`]), its loss ([`Loss::SumOfSquares`]),
//! its bias-free layers and its order of sums ([`Order::Direct`]) are the
//! data that tell the passes apart, so one forward and one backward pass
//! serve both (its dense backward pass runs them unrolled, operation for
//! operation, which a test holds to the loops' bits).
//!
//! Shapes are the caller's to validate (the binding checks and names every
//! argument); the functions here panic on a mismatch.

mod activation;
mod backward;
mod batch;
mod dense;
mod epoch;
mod input;
mod loss;
mod optimizer;
mod passes;
mod real;
mod workspace;

#[cfg(test)]
mod tests;

pub use activation::{Hidden, Output};
pub use backward::{loss_gradient, Gradients};
pub use dense::{backprop_dense, forward_dense, loss_dense, TwoLayerPass};
pub use epoch::{epoch, Interrupted};
pub use input::{Csr, CsrError, Indices, Input};
pub use loss::{Loss, Reduction};
pub use optimizer::{descend, descend_into, descend_over, Adam, Optimizer, Sgd};
pub use passes::forward;
pub use real::Real;
pub use workspace::Workspace;

/// The shape of a network and the functions it applies: data, not code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// `[n_features, hidden…, n_outputs]`: at least two sizes, none zero.
    pub sizes: Vec<usize>,
    pub hidden: Hidden,
    pub output: Output,
    pub loss: Loss,
    /// Whether every layer adds an intercept (scikit-learn's always do); a
    /// layout without them takes empty intercept slices.
    pub intercepts: bool,
    pub order: Order,
}

/// The order of the sums whose order is the passes' own choice (each order
/// gives its own bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// scikit-learn's: numpy's pairwise sum where a column sum has a lone
    /// column, and narrow or small products run transposed where that is
    /// faster.
    Numpy,
    /// Every product on its operands as they lie and column sums row by
    /// row: the two-layer net's order, kept for its bits.
    Direct,
}

impl Layout {
    /// The layout, or a message naming what is wrong with `sizes`.
    pub fn new(
        sizes: Vec<usize>,
        hidden: Hidden,
        output: Output,
        loss: Loss,
    ) -> Result<Self, String> {
        if sizes.len() < 2 {
            return Err(format!(
                "layer_sizes needs at least 2 sizes (inputs and outputs), got {}",
                sizes.len()
            ));
        }
        if let Some(position) = sizes.iter().position(|&size| size == 0) {
            return Err(format!(
                "layer_sizes[{position}] is 0, but every layer needs at least 1 unit"
            ));
        }
        Ok(Layout {
            sizes,
            hidden,
            output,
            loss,
            intercepts: true,
            order: Order::Numpy,
        })
    }

    /// The number of weight layers (`sizes.len() - 1`).
    pub fn layers(&self) -> usize {
        self.sizes.len() - 1
    }

    pub fn inputs(&self) -> usize {
        self.sizes[0]
    }

    pub fn outputs(&self) -> usize {
        self.sizes[self.layers()]
    }

    /// The shape of layer `i`'s coefficients.
    pub fn coef_shape(&self, layer: usize) -> (usize, usize) {
        (self.sizes[layer], self.sizes[layer + 1])
    }

    /// The length of layer `i`'s intercept (0 without intercepts).
    pub fn intercept_len(&self, layer: usize) -> usize {
        if self.intercepts {
            self.sizes[layer + 1]
        } else {
            0
        }
    }

    /// The loss `_backprop` evaluates: scikit-learn swaps `log_loss` for
    /// `binary_log_loss` when the output is logistic.
    pub fn effective_loss(&self) -> Loss {
        match (self.loss, self.output) {
            (Loss::LogLoss, Output::Logistic) => Loss::BinaryLogLoss,
            (loss, _) => loss,
        }
    }

    pub(crate) fn check_params<C: AsRef<[T]>, I: AsRef<[T]>, T>(
        &self,
        coefs: &[C],
        intercepts: &[I],
    ) {
        assert_eq!(coefs.len(), self.layers(), "network: coefs count");
        assert_eq!(intercepts.len(), self.layers(), "network: intercepts count");
        for layer in 0..self.layers() {
            let (rows, cols) = self.coef_shape(layer);
            assert_eq!(
                coefs[layer].as_ref().len(),
                rows * cols,
                "network: coef shape"
            );
            assert_eq!(
                intercepts[layer].as_ref().len(),
                self.intercept_len(layer),
                "network: intercept shape"
            );
        }
    }
}
