//! The loss with its L2 term and the backward pass (scikit-learn's `_backprop`).

use super::activation::OnePass;
use super::batch::{batch, gather, Batch, Rows};
use super::input::Input;
use super::loss::Loss;
use super::passes::{delta_below, dense_transpose_product, first_transpose_product, forward_batch};
use super::real::{column_sums, Real};
use super::workspace::Buffers;
use super::{Hidden, Layout, Order, Workspace};
use crate::kernels::activation::activate_grad;
use crate::kernels::alloc::AllocError;
use crate::kernels::dot::dot;
use crate::kernels::gemm::tiles_take;
use crate::kernels::simd::{dispatch, Level};

/// Where the backward pass writes the gradients: one buffer per layer,
/// shaped like the parameters.
pub struct Gradients<'a, G, H> {
    pub coefs: &'a mut [G],
    pub intercepts: &'a mut [H],
}

/// The samples, targets and weights of one batch.
pub(super) struct Targets<'a, T> {
    pub input: &'a Input<'a, T>,
    pub rows: Rows<'a>,
    /// The whole target matrix (`input.rows() × outputs`).
    pub y: &'a [T],
    pub sample_weight: Option<&'a [T]>,
}

/// The loss (with the L2 term) of one batch and its gradients: scikit-learn's
/// `_backprop`, step for step.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn backprop<T, C, I, G, H>(
    layout: &Layout,
    coefs: &[C],
    intercepts: &[I],
    targets: &Targets<'_, T>,
    alpha: f64,
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
    let rows = targets.rows.count();
    let outputs = layout.outputs();
    // Taken out for the batch (moving Vecs allocates nothing) so that the
    // batch can borrow them while the passes borrow the other buffers.
    let mut x = std::mem::take(&mut buffers.x);
    let mut y_buffer = std::mem::take(&mut buffers.y);
    let mut weight_buffer = std::mem::take(&mut buffers.sample_weight);
    let loss = {
        let batch = batch(targets.input, targets.rows, &mut x);
        let y = gather(targets.y, outputs, targets.rows, &mut y_buffer);
        let sample_weight = targets
            .sample_weight
            .map(|w| gather(w, 1, targets.rows, &mut weight_buffer));
        forward_batch(layout, coefs, intercepts, batch, rows, buffers);
        let (loss, weight_sum) = output_loss(layout, coefs, y, sample_weight, alpha, rows, buffers);
        backward(
            layout, coefs, batch, rows, alpha, weight_sum, buffers, grads,
        );
        loss
    };
    buffers.x = x;
    buffers.y = y_buffer;
    buffers.sample_weight = weight_buffer;
    loss
}

/// The loss of the last forward pass over `rows` rows, with the L2 term,
/// and the output delta written into the workspace. Also returns the sum
/// the gradients are divided by (`None` where the loss folds its reduction
/// into the delta).
#[inline(always)]
pub(super) fn output_loss<T: Real, C: AsRef<[T]>>(
    layout: &Layout,
    coefs: &[C],
    y: &[T],
    sample_weight: Option<&[T]>,
    alpha: f64,
    rows: usize,
    buffers: &mut Buffers<T>,
) -> (T, Option<T>) {
    let outputs = layout.outputs();
    let last = layout.layers() - 1;
    let Buffers {
        activations,
        deltas,
        scratch,
        means,
        ..
    } = buffers;
    let predictions = &activations[last][..rows * outputs];
    let delta = &mut deltas[last][..rows * outputs];
    if let Loss::SumOfSquares(reduction) = layout.loss {
        assert!(
            sample_weight.is_none(),
            "network: sum of squares takes no weights"
        );
        let loss = reduction.squared_error(predictions, y, delta);
        // dL/dP = 2 (P - Y), times 1/count for the mean.
        let two_scale = (T::ONE + T::ONE) * reduction.scale::<T>(delta.len());
        for d in delta.iter_mut() {
            *d *= two_scale;
        }
        return (loss, None);
    }
    let mut loss =
        layout
            .effective_loss()
            .value(predictions, y, outputs, sample_weight, scratch, means);

    let mut squares = T::ZERO;
    for coef in coefs {
        let coef = coef.as_ref();
        squares += dot(coef, coef);
    }
    // `sw_sum` is the row count or the weights' sum (numpy's pairwise sum).
    let weight_sum = match sample_weight {
        Some(w) => super::real::pairwise_sum(w),
        None => T::from_f64(rows as f64),
    };
    loss += T::from_f64(0.5 * alpha) * squares / weight_sum;

    // The output delta is `prediction - y` for each canonical pairing of
    // output activation and loss, as scikit-learn simplifies it.
    for ((d, &p), &t) in delta.iter_mut().zip(predictions).zip(y) {
        *d = p - t;
    }
    if let Some(w) = sample_weight {
        for (row, &w) in delta.chunks_exact_mut(outputs).zip(w) {
            row.iter_mut().for_each(|d| *d *= w);
        }
    }
    (loss, Some(weight_sum))
}

/// The backward pass from the output delta in the workspace: every layer's
/// gradients, divided by `weight_sum` (with the L2 term) where given.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn backward<T, C, G, H>(
    layout: &Layout,
    coefs: &[C],
    batch: Batch<'_, T>,
    rows: usize,
    alpha: f64,
    weight_sum: Option<T>,
    buffers: &mut Buffers<T>,
    grads: Gradients<'_, G, H>,
) where
    T: Real,
    C: AsRef<[T]>,
    G: AsMut<[T]>,
    H: AsMut<[T]>,
{
    let Buffers {
        activations,
        deltas,
        pre_activations,
        d_activations,
        coef_t,
        transposed,
        ..
    } = buffers;
    let order = layout.order;
    let last = layout.layers() - 1;
    let alpha = T::from_f64(alpha);
    // Whether the last layer's pass summed this layer's intercept gradient.
    let mut summed_below = false;
    for layer in (0..=last).rev() {
        let cols = layout.sizes[layer + 1];
        let inputs = layout.sizes[layer];
        let (lower, upper) = deltas.split_at_mut(layer);
        let delta = &upper[0][..rows * cols];
        let coef = coefs[layer].as_ref();
        let coef_grad = grads.coefs[layer].as_mut();
        let summed = std::mem::replace(&mut summed_below, false);
        // One output above a hidden layer: `zᵀ @ delta` and `delta @ coefᵀ`
        // with the derivative in one pass, which gives the tiles' bits (see
        // `Hidden::one_output_pass`), and also sums the rows of the delta
        // below for its intercepts when both orders sum row by row (more
        // than one column).
        let one_output = layer > 0
            && cols == 1
            && !layout.hidden.reads_pre_activation()
            && tiles_take(rows, 1, inputs);
        if one_output {
            let z = &activations[layer - 1][..rows * inputs];
            let below = &mut lower[layer - 1][..rows * inputs];
            let sums = Some(grads.intercepts[layer - 1].as_mut())
                .filter(|sums| inputs > 1 && sums.len() == inputs);
            summed_below = sums.is_some();
            let pass = OnePass { z, delta, coef };
            layout.hidden.one_output_pass(pass, below, coef_grad, sums);
        } else if layer == 0 {
            let shape = (inputs, cols);
            first_transpose_product(order, batch, rows, delta, shape, coef_grad, transposed);
        } else {
            let below = &activations[layer - 1][..rows * inputs];
            dense_transpose_product(
                order, coef_grad, below, rows, inputs, delta, cols, transposed,
            );
        }
        let intercept_grad = grads.intercepts[layer].as_mut();
        match order {
            // Summed already, by the pass that wrote the delta.
            _ if summed => {}
            Order::Numpy => column_sums(delta, intercept_grad),
            Order::Direct => row_by_row_sums(delta, intercept_grad),
        }
        if let Some(weight_sum) = weight_sum {
            for (g, &w) in coef_grad.iter_mut().zip(coef) {
                *g = (*g + alpha * w) / weight_sum;
            }
            intercept_grad.iter_mut().for_each(|g| *g = *g / weight_sum);
        }
        if layer > 0 && !one_output {
            // deltas[layer - 1] = delta @ coefᵀ, times the hidden derivative.
            let below = &mut lower[layer - 1][..rows * inputs];
            if let Hidden::Neuron(activation) = layout.hidden {
                let d_output = &mut d_activations[..rows * inputs];
                delta_below(order, d_output, delta, rows, cols, coef, inputs, coef_t);
                let pre = &pre_activations[layer - 1][..rows * inputs];
                activate_grad(activation, pre, d_output, below);
            } else {
                delta_below(order, below, delta, rows, cols, coef, inputs, coef_t);
                layout
                    .hidden
                    .derivative(&activations[layer - 1][..rows * inputs], below);
            }
        }
    }
}

/// Adds up the rows of the row-major `rows × sums.len()` matrix `matrix`
/// into `sums`, top to bottom, whatever the column count.
#[inline(always)]
pub(super) fn row_by_row_sums<T: Real>(matrix: &[T], sums: &mut [T]) {
    sums.fill(T::ZERO);
    if sums.is_empty() {
        return;
    }
    for row in matrix.chunks_exact(sums.len()) {
        for (s, &v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    }
}

/// The loss of all of `input` with the L2 term, and its gradients written
/// into `grads` (what L-BFGS asks for at each point).
#[allow(clippy::too_many_arguments)]
pub fn loss_gradient<T, C, I, G, H>(
    layout: &Layout,
    coefs: &[C],
    intercepts: &[I],
    input: &Input<'_, T>,
    y: &[T],
    sample_weight: Option<&[T]>,
    alpha: f64,
    grads: Gradients<'_, G, H>,
    workspace: &mut Workspace<T>,
) -> Result<T, AllocError>
where
    T: Real,
    C: AsRef<[T]>,
    I: AsRef<[T]>,
    G: AsMut<[T]>,
    H: AsMut<[T]>,
{
    layout.check_params(coefs, intercepts);
    let rows = input.rows();
    assert_eq!(input.cols(), layout.inputs(), "network: X columns");
    assert_eq!(y.len(), rows * layout.outputs(), "network: y shape");
    if let Some(w) = sample_weight {
        assert_eq!(w.len(), rows, "network: sample_weight length");
    }
    workspace.reserve(layout, rows)?;
    let targets = Targets {
        input,
        rows: Rows::Range {
            start: 0,
            count: rows,
        },
        y,
        sample_weight,
    };
    let buffers = &mut workspace.buffers;
    // Compiled for the CPU's widest vectors, as in `epoch`.
    Ok(dispatch(
        Level::Avx512,
        #[inline(always)]
        |_| backprop(layout, coefs, intercepts, &targets, alpha, buffers, grads),
    ))
}
