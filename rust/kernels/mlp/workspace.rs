//! The buffers of one forward and backward pass, allocated once per fit.

use super::{Gradients, Reduction, TwoLayer};
use crate::kernels::alloc::{zeroed, AllocError};
use crate::kernels::network::{self, Layout, Loss, TwoLayerPass};
use crate::kernels::Float;

/// Every buffer one forward and backward pass needs, for batches of up to
/// `max_rows` rows; batches with fewer rows use the front of each buffer.
#[derive(Clone, Debug)]
pub struct Workspace<T> {
    net: TwoLayer,
    max_rows: usize,
    /// The net as the core's layout; each pass sets its loss's reduction.
    pub(super) layout: Layout,
    /// The core's buffers: the hidden pre-activations and activations, the
    /// predictions and each one's gradient.
    pub(super) core: network::Workspace<T>,
    pub(super) gradients: Gradients<T>,
    /// Parameter-shaped buffers that [`fit`](super::fit) rotates with the
    /// caller's parameters and the gradients (empty unless built by
    /// [`Workspace::for_fit`]).
    pub(super) spare: Gradients<T>,
}

impl<T: Float> Workspace<T> {
    /// Allocates the buffers for `net` and batches of up to `max_rows` rows.
    ///
    /// # Errors
    /// [`AllocError`] if a buffer's size overflows or the memory is not there
    /// (a binding turns it into `MemoryError`, where `vec!` would abort).
    pub fn new(net: TwoLayer, max_rows: usize) -> Result<Self, AllocError> {
        let layout = net.layout(Reduction::Sum);
        let mut core = network::Workspace::new();
        core.reserve(&layout, max_rows)?;
        Ok(Workspace {
            net,
            max_rows,
            layout,
            core,
            gradients: parameter_shaped(&net)?,
            spare: Gradients::default(),
        })
    }

    /// As [`Workspace::new`], plus a second set of parameters, so that
    /// [`fit`](super::fit) can keep the previous step's parameters without
    /// copying them every step.
    ///
    /// # Errors
    /// As [`Workspace::new`].
    pub fn for_fit(net: TwoLayer, max_rows: usize) -> Result<Self, AllocError> {
        let mut workspace = Self::new(net, max_rows)?;
        workspace.spare = parameter_shaped(&net)?;
        Ok(workspace)
    }

    /// The largest batch this workspace holds.
    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    /// The gradients from the last call to [`gradients`].
    pub fn gradients(&self) -> &Gradients<T> {
        &self.gradients
    }

    /// The predictions of the last forward pass over `rows` rows.
    pub fn predictions(&self, rows: usize) -> &[T] {
        self.core.activations(1, rows * self.net.output_dim)
    }

    /// The hidden activations of the last forward pass over `rows` rows.
    pub fn activations(&self, rows: usize) -> &[T] {
        self.core.activations(0, rows * self.net.hidden_dim)
    }

    /// Whether it serves `net` for batches of `rows` rows.
    pub fn fits(&self, net: &TwoLayer, rows: usize) -> bool {
        self.net == *net && rows <= self.max_rows
    }

    /// The bytes its buffers hold.
    pub fn bytes(&self) -> usize {
        let params = |g: &Gradients<T>| g.w1.len() + g.b1.len() + g.w2.len() + g.b2.len();
        let elements = params(&self.gradients) + params(&self.spare);
        self.core.bytes() + elements * std::mem::size_of::<T>()
    }

    /// The core's pass for this net with `reduction`.
    pub(super) fn pass(&mut self, reduction: Reduction) -> TwoLayerPass {
        self.layout.loss = Loss::SumOfSquares(reduction);
        TwoLayerPass::of(&self.layout).expect("mlp: the layout of a two-layer net")
    }

    pub(super) fn check(&self, net: &TwoLayer, rows: usize) {
        assert_eq!(&self.net, net, "mlp: workspace built for another net");
        assert!(
            rows <= self.max_rows,
            "mlp: batch larger than the workspace"
        );
    }
}

/// Zeroed buffers shaped like `net`'s parameters (empty biases without them).
fn parameter_shaped<T: Float>(net: &TwoLayer) -> Result<Gradients<T>, AllocError> {
    let bias_len = |len: usize| if net.bias { len } else { 0 };
    Ok(Gradients {
        w1: zeroed(net.input_dim.checked_mul(net.hidden_dim))?,
        b1: zeroed(Some(bias_len(net.hidden_dim)))?,
        w2: zeroed(net.hidden_dim.checked_mul(net.output_dim))?,
        b2: zeroed(Some(bias_len(net.output_dim)))?,
    })
}
