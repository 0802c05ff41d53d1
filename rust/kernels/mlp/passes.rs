//! The forward pass, the loss, the backward pass and one step of gradient descent.

use super::{Gradients, GradientsMut, Params, ParamsMut, Reduction, TwoLayer, Workspace};
use crate::kernels::activation::{activate, activate_grad};
use crate::kernels::dot::dot;
use crate::kernels::gemm::{matmul, View};
use crate::kernels::linear::linear;
use crate::kernels::parallel::CHUNK;
use crate::kernels::Element;

/// Runs the forward pass over the `rows × input_dim` matrix `x` and returns
/// the `rows × output_dim` predictions (a slice of the workspace).
///
/// # Panics
/// If a shape does not match `net` (callers validate first).
pub fn forward<'w, T: Element>(
    net: &TwoLayer,
    params: &Params<'_, T>,
    x: &[T],
    rows: usize,
    workspace: &'w mut Workspace<T>,
) -> &'w [T] {
    net.check_params(params);
    workspace.check(net, rows);
    assert_eq!(x.len(), rows * net.input_dim, "mlp: x shape");
    let hidden_len = rows * net.hidden_dim;
    let hidden = &mut workspace.hidden[..hidden_len];
    let activations = &mut workspace.activations[..hidden_len];
    let predictions = &mut workspace.predictions[..rows * net.output_dim];

    linear(
        x,
        params.w1,
        params.b1,
        rows,
        net.input_dim,
        net.hidden_dim,
        hidden,
    );
    activate(net.activation, hidden, activations);
    linear(
        activations,
        params.w2,
        params.b2,
        rows,
        net.hidden_dim,
        net.output_dim,
        predictions,
    );
    predictions
}

/// Writes `P - Y` into the workspace and returns the reduced squared error.
fn loss_of_predictions<T: Element>(
    net: &TwoLayer,
    y: &[T],
    rows: usize,
    reduction: Reduction,
    workspace: &mut Workspace<T>,
) -> T {
    let len = rows * net.output_dim;
    assert_eq!(y.len(), len, "mlp: y shape");
    let diff = &mut workspace.d_predictions[..len];
    for ((d, &p), &t) in diff.iter_mut().zip(&workspace.predictions[..len]).zip(y) {
        *d = p - t;
    }
    // Fixed CHUNK-length partial sums added left to right: the same bits on
    // any thread count, and no allocation (unlike the parallel weighted sum).
    let mut sum = T::ZERO;
    for piece in diff.chunks(CHUNK) {
        sum += dot(piece, piece);
    }
    sum * reduction.scale::<T>(len)
}

/// The loss of the predictions for `x` against the `rows × output_dim`
/// targets `y`: `Σ (P - Y)²`, divided by `rows · output_dim` for `Mean`.
///
/// # Panics
/// If a shape does not match `net` (callers validate first).
pub fn loss<T: Element>(
    net: &TwoLayer,
    params: &Params<'_, T>,
    x: &[T],
    y: &[T],
    rows: usize,
    reduction: Reduction,
    workspace: &mut Workspace<T>,
) -> T {
    forward(net, params, x, rows, workspace);
    loss_of_predictions(net, y, rows, reduction, workspace)
}

/// Adds up the rows of the row-major `rows × sums.len()` matrix `matrix`
/// into `sums`, top to bottom.
fn column_sums<T: Element>(matrix: &[T], sums: &mut [T]) {
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

/// The backward pass, from `P - Y` already in the workspace.
fn backward<T: Element>(
    net: &TwoLayer,
    params: &Params<'_, T>,
    x: &[T],
    rows: usize,
    reduction: Reduction,
    workspace: &mut Workspace<T>,
    out: &mut GradientsMut<'_, T>,
) {
    assert_eq!(out.w1.len(), net.w1_len(), "mlp: dw1 shape");
    assert_eq!(out.w2.len(), net.w2_len(), "mlp: dw2 shape");
    assert_eq!(out.b1.is_some(), net.bias, "mlp: db1 presence");
    assert_eq!(out.b2.is_some(), net.bias, "mlp: db2 presence");
    let hidden_len = rows * net.hidden_dim;
    let output_len = rows * net.output_dim;
    let Workspace {
        hidden,
        activations,
        d_predictions,
        d_activations,
        d_hidden,
        ..
    } = workspace;
    let hidden = &hidden[..hidden_len];
    let activations = &activations[..hidden_len];
    let d_predictions = &mut d_predictions[..output_len];
    let d_activations = &mut d_activations[..hidden_len];
    let d_hidden = &mut d_hidden[..hidden_len];

    // dL/dP = 2 (P - Y), times 1/count for the mean.
    let two_scale = (T::ONE + T::ONE) * reduction.scale::<T>(output_len);
    for d in d_predictions.iter_mut() {
        *d *= two_scale;
    }
    let d_predictions = &*d_predictions;
    let d_pred_view = View::row_major(d_predictions, rows, net.output_dim);

    // dW2 = Aᵀ dP.
    matmul(
        out.w2,
        View::row_major(activations, rows, net.hidden_dim).t(),
        d_pred_view,
        false,
        T::ONE,
    );
    if let Some(b2) = out.b2.as_deref_mut() {
        column_sums(d_predictions, b2);
    }
    // dA = dP W2ᵀ.
    matmul(
        d_activations,
        d_pred_view,
        View::row_major(params.w2, net.hidden_dim, net.output_dim).t(),
        false,
        T::ONE,
    );
    // dH = act'(H) · dA.
    activate_grad(net.activation, hidden, d_activations, d_hidden);
    // dW1 = Xᵀ dH.
    matmul(
        out.w1,
        View::row_major(x, rows, net.input_dim).t(),
        View::row_major(d_hidden, rows, net.hidden_dim),
        false,
        T::ONE,
    );
    if let Some(b1) = out.b1.as_deref_mut() {
        column_sums(d_hidden, b1);
    }
}

/// Runs the forward and backward passes, leaves the gradients in the
/// workspace ([`Workspace::gradients`]) and returns the loss.
///
/// # Panics
/// If a shape does not match `net` (callers validate first).
pub fn gradients<T: Element>(
    net: &TwoLayer,
    params: &Params<'_, T>,
    x: &[T],
    y: &[T],
    rows: usize,
    reduction: Reduction,
    workspace: &mut Workspace<T>,
) -> T {
    // Taken out for the call so the backward pass can borrow both the
    // workspace and its gradient buffers; moving the Vecs allocates nothing.
    let mut buffers = std::mem::take(&mut workspace.gradients);
    let loss = gradients_into(
        net,
        params,
        x,
        y,
        rows,
        reduction,
        workspace,
        &mut buffers.as_mut(),
    );
    workspace.gradients = buffers;
    loss
}

/// As [`gradients`], but writes the gradients into `out`.
///
/// # Panics
/// If a shape does not match `net` (callers validate first).
#[allow(clippy::too_many_arguments)]
pub fn gradients_into<T: Element>(
    net: &TwoLayer,
    params: &Params<'_, T>,
    x: &[T],
    y: &[T],
    rows: usize,
    reduction: Reduction,
    workspace: &mut Workspace<T>,
    out: &mut GradientsMut<'_, T>,
) -> T {
    let loss = loss(net, params, x, y, rows, reduction, workspace);
    backward(net, params, x, rows, reduction, workspace, out);
    loss
}

/// `params -= learning_rate * gradients`, element by element, in place, with
/// the rounding of [`step`].
///
/// # Panics
/// If the slices differ in length.
pub fn step_in_place<T: Element>(params: &mut [T], gradients: &[T], learning_rate: T) {
    assert_eq!(params.len(), gradients.len(), "mlp: gradient shape");
    for (w, &g) in params.iter_mut().zip(gradients) {
        *w = descended(*w, g, learning_rate);
    }
}

/// `w - (lr * g)`, rounded as numpy's `w - lr * g` rounds it (no fused
/// multiply-add).
#[inline(always)]
fn descended<T: Element>(w: T, g: T, learning_rate: T) -> T {
    w - learning_rate * g
}

/// `out = params - learning_rate * gradients`, element by element, with the
/// rounding of [`step`].
///
/// # Panics
/// If the three slices differ in length.
pub fn step_into<T: Element>(out: &mut [T], params: &[T], gradients: &[T], learning_rate: T) {
    assert_eq!(params.len(), gradients.len(), "mlp: gradient shape");
    assert_eq!(out.len(), params.len(), "mlp: step output shape");
    for ((o, &w), &g) in out.iter_mut().zip(params).zip(gradients) {
        *o = descended(w, g, learning_rate);
    }
}

/// One step of gradient descent: `W -= learning_rate * dW` for every parameter.
///
/// # Panics
/// If the gradients are not shaped like the parameters.
pub fn step<T: Element>(params: &mut ParamsMut<'_, T>, gradients: &Gradients<T>, learning_rate: T) {
    step_in_place(params.w1, &gradients.w1, learning_rate);
    step_in_place(params.w2, &gradients.w2, learning_rate);
    if let Some(b1) = params.b1.as_deref_mut() {
        step_in_place(b1, &gradients.b1, learning_rate);
    }
    if let Some(b2) = params.b2.as_deref_mut() {
        step_in_place(b2, &gradients.b2, learning_rate);
    }
}

/// The parameters after one step, written apart: `out = params -
/// learning_rate * gradients` for every parameter, with the rounding of
/// [`step`].
///
/// # Panics
/// If the shapes differ.
pub fn step_params_into<T: Element>(
    out: GradientsMut<'_, T>,
    params: &Params<'_, T>,
    gradients: &Gradients<T>,
    learning_rate: T,
) {
    step_into(out.w1, params.w1, &gradients.w1, learning_rate);
    step_into(out.w2, params.w2, &gradients.w2, learning_rate);
    if let (Some(out), Some(b1)) = (out.b1, params.b1) {
        step_into(out, b1, &gradients.b1, learning_rate);
    }
    if let (Some(out), Some(b2)) = (out.b2, params.b2) {
        step_into(out, b2, &gradients.b2, learning_rate);
    }
}
