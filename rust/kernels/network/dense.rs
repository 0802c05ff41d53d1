//! The passes over one dense batch that `kernels::mlp` runs step by step: the
//! forward pass, the loss and the gradients, with the two-layer net's layout
//! unrolled.

use super::backward::{backward, output_loss, row_by_row_sums, Gradients};
use super::batch::Batch;
use super::loss::Reduction;
use super::passes::forward_batch;
use super::real::Real;
use super::workspace::Buffers;
use super::{Hidden, Layout, Loss, Order, Output, Workspace};
use crate::kernels::activation::{activate, activate_grad, Activation};
use crate::kernels::gemm::{matmul, View};
use crate::kernels::linear::add_row_vector;

/// The output activations of the first `rows` rows of the row-major dense
/// `x` (`rows × inputs`), left in the workspace, which holds them already
/// ([`Workspace::reserve`]).
///
/// # Panics
/// If a shape does not match `layout` or the workspace holds fewer rows.
pub fn forward_dense<'w, T: Real, C: AsRef<[T]>, I: AsRef<[T]>>(
    layout: &Layout,
    coefs: &[C],
    intercepts: &[I],
    x: &[T],
    rows: usize,
    workspace: &'w mut Workspace<T>,
) -> &'w [T] {
    check_dense(layout, coefs, intercepts, x, rows, workspace);
    // Not under `dispatch`: the widest vectors only slow the short loops of
    // the small nets these batches serve (every product and activation
    // picks its own code anyway).
    forward_batch(
        layout,
        coefs,
        intercepts,
        Batch::Dense(x),
        rows,
        &mut workspace.buffers,
    );
    workspace.activations(layout.layers() - 1, rows * layout.outputs())
}

/// The loss of the first `rows` rows of the dense `x` against `y` (with no
/// L2 term and no sample weights), as [`forward_dense`] reads them.
///
/// # Panics
/// As [`forward_dense`], or if `y` is not `rows × outputs`.
pub fn loss_dense<T: Real, C: AsRef<[T]>, I: AsRef<[T]>>(
    layout: &Layout,
    coefs: &[C],
    intercepts: &[I],
    x: &[T],
    y: &[T],
    rows: usize,
    workspace: &mut Workspace<T>,
) -> T {
    check_dense(layout, coefs, intercepts, x, rows, workspace);
    assert_eq!(y.len(), rows * layout.outputs(), "network: y shape");
    let buffers = &mut workspace.buffers;
    forward_batch(layout, coefs, intercepts, Batch::Dense(x), rows, buffers);
    output_loss(layout, coefs, y, None, 0.0, rows, buffers).0
}

/// The loss of the first `rows` rows of the dense `x` against `y` (with no
/// L2 term and no sample weights) and its gradients, written into `grads`.
///
/// # Panics
/// As [`loss_dense`], or if a gradient is not shaped like its parameter.
#[allow(clippy::too_many_arguments)]
pub fn backprop_dense<T, C, I, G, H>(
    layout: &Layout,
    coefs: &[C],
    intercepts: &[I],
    x: &[T],
    y: &[T],
    rows: usize,
    workspace: &mut Workspace<T>,
    grads: Gradients<'_, G, H>,
) -> T
where
    T: Real,
    C: AsRef<[T]>,
    I: AsRef<[T]>,
    G: AsMut<[T]> + AsRef<[T]>,
    H: AsMut<[T]> + AsRef<[T]>,
{
    check_dense(layout, coefs, intercepts, x, rows, workspace);
    assert_eq!(y.len(), rows * layout.outputs(), "network: y shape");
    layout.check_params(grads.coefs, grads.intercepts);
    // The loops' bookkeeping slowed `neurust compare --workloads fit --sizes fit=4x3x8x1:10000`.
    if let Some(two_layer) = TwoLayerPass::of(layout) {
        return two_layer.backprop(coefs, intercepts, x, y, rows, workspace, grads);
    }
    layer_loops(
        layout,
        coefs,
        intercepts,
        x,
        y,
        rows,
        &mut workspace.buffers,
        grads,
    )
}

/// The passes of [`backprop_dense`] layer by layer, for any layout.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn layer_loops<T, C, I, G, H>(
    layout: &Layout,
    coefs: &[C],
    intercepts: &[I],
    x: &[T],
    y: &[T],
    rows: usize,
    buffers: &mut Buffers<T>,
    grads: Gradients<'_, G, H>,
) -> T
where
    T: Real,
    C: AsRef<[T]>,
    I: AsRef<[T]>,
    G: AsMut<[T]>,
    H: AsMut<[T]>,
{
    let batch = Batch::Dense(x);
    forward_batch(layout, coefs, intercepts, batch, rows, buffers);
    let (loss, weight_sum) = output_loss(layout, coefs, y, None, 0.0, rows, buffers);
    backward(layout, coefs, batch, rows, 0.0, weight_sum, buffers, grads);
    loss
}

/// The two-layer net's layout (one hidden layer of a neuron activation, an
/// identity output, the sum of squares, the direct order): [`layer_loops`]
/// unrolled, each operation theirs and in their order, so the same bits.
#[derive(Clone, Copy, Debug)]
pub struct TwoLayerPass {
    sizes: [usize; 3],
    activation: Activation,
    reduction: Reduction,
}

impl TwoLayerPass {
    /// The pass for `layout`, if it is the two-layer net's.
    pub fn of(layout: &Layout) -> Option<Self> {
        match (&layout.sizes[..], layout.hidden, layout.output, layout.loss) {
            (
                &[inputs, hidden, outputs],
                Hidden::Neuron(activation),
                Output::Identity,
                Loss::SumOfSquares(reduction),
            ) if layout.order == Order::Direct => Some(TwoLayerPass {
                sizes: [inputs, hidden, outputs],
                activation,
                reduction,
            }),
            _ => None,
        }
    }

    /// [`backprop_dense`] for this pass's layout without its shape checks,
    /// for a caller that runs many steps on shapes it has checked once.
    ///
    /// # Panics
    /// If the workspace holds fewer than `rows` rows or was reserved for
    /// another layout, and on most shape mismatches (not all: an intercept
    /// of the wrong length gives wrong results instead).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn backprop<T, C, I, G, H>(
        self,
        coefs: &[C],
        intercepts: &[I],
        x: &[T],
        y: &[T],
        rows: usize,
        workspace: &mut Workspace<T>,
        grads: Gradients<'_, G, H>,
    ) -> T
    where
        T: Real,
        C: AsRef<[T]>,
        I: AsRef<[T]>,
        G: AsMut<[T]>,
        H: AsMut<[T]>,
    {
        assert!(
            rows <= workspace.rows(),
            "network: workspace too small for the batch"
        );
        let [inputs, hidden, outputs] = self.sizes;
        let Buffers {
            activations,
            deltas,
            pre_activations,
            d_activations,
            ..
        } = &mut workspace.buffers;
        let [first, last] = &mut activations[..] else {
            panic!("network: workspace built for another layout")
        };
        let [hidden_delta, output_delta] = &mut deltas[..] else {
            panic!("network: workspace built for another layout")
        };
        let pre = &mut pre_activations[0][..rows * hidden];
        let activated = &mut first[..rows * hidden];
        let predictions = &mut last[..rows * outputs];
        let (w1, w2) = (coefs[0].as_ref(), coefs[1].as_ref());

        // The forward pass, as `forward_batch`.
        let x_view = View::row_major(x, rows, inputs);
        matmul(
            pre,
            x_view,
            View::row_major(w1, inputs, hidden),
            false,
            T::ONE,
        );
        add_row_vector(pre, intercepts[0].as_ref());
        activate(self.activation, pre, activated);
        let activated = &*activated;
        let activated_view = View::row_major(activated, rows, hidden);
        let w2_view = View::row_major(w2, hidden, outputs);
        matmul(predictions, activated_view, w2_view, false, T::ONE);
        add_row_vector(predictions, intercepts[1].as_ref());

        // The loss and the output delta, as `output_loss`.
        let delta = &mut output_delta[..rows * outputs];
        let loss = self.reduction.squared_error(predictions, y, delta);
        let two_scale = (T::ONE + T::ONE) * self.reduction.scale::<T>(delta.len());
        for d in delta.iter_mut() {
            *d *= two_scale;
        }
        let delta = &*delta;
        let delta_view = View::row_major(delta, rows, outputs);

        // The backward pass, as `backward`: the output layer, then the hidden one.
        matmul(
            grads.coefs[1].as_mut(),
            activated_view.t(),
            delta_view,
            false,
            T::ONE,
        );
        row_by_row_sums(delta, grads.intercepts[1].as_mut());
        let d_output = &mut d_activations[..rows * hidden];
        matmul(d_output, delta_view, w2_view.t(), false, T::ONE);
        let below = &mut hidden_delta[..rows * hidden];
        activate_grad(self.activation, pre, d_output, below);
        let below = &*below;
        let below_view = View::row_major(below, rows, hidden);
        matmul(
            grads.coefs[0].as_mut(),
            x_view.t(),
            below_view,
            false,
            T::ONE,
        );
        row_by_row_sums(below, grads.intercepts[0].as_mut());
        loss
    }
}

fn check_dense<T: Real, C: AsRef<[T]>, I: AsRef<[T]>>(
    layout: &Layout,
    coefs: &[C],
    intercepts: &[I],
    x: &[T],
    rows: usize,
    workspace: &Workspace<T>,
) {
    layout.check_params(coefs, intercepts);
    assert_eq!(x.len(), rows * layout.inputs(), "network: X shape");
    assert!(
        rows <= workspace.rows() && workspace.buffers.activations.len() == layout.layers(),
        "network: workspace too small for the batch"
    );
}
