//! The two-layer net's passes on the N-layer core, and one step of gradient descent.

use super::{Gradients, GradientsMut, Params, ParamsMut, Reduction, TwoLayer, Workspace};
use crate::kernels::network::{self, Loss, TwoLayerPass};
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
    let (coefs, intercepts) = params.layers();
    let Workspace { layout, core, .. } = workspace;
    network::forward_dense(layout, &coefs, &intercepts, x, rows, core)
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
    net.check_params(params);
    workspace.check(net, rows);
    assert_eq!(x.len(), rows * net.input_dim, "mlp: x shape");
    assert_eq!(y.len(), rows * net.output_dim, "mlp: y shape");
    let (coefs, intercepts) = params.layers();
    let Workspace { layout, core, .. } = workspace;
    layout.loss = Loss::SumOfSquares(reduction);
    network::loss_dense(layout, &coefs, &intercepts, x, y, rows, core)
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
    // The core checks every shape; the workspace's net is this one's.
    workspace.check(net, rows);
    let (coefs, intercepts) = params.layers();
    let mut coef_grads = [&mut *out.w1, &mut *out.w2];
    let mut intercept_grads = [
        out.b1.as_deref_mut().unwrap_or(&mut []),
        out.b2.as_deref_mut().unwrap_or(&mut []),
    ];
    let grads = network::Gradients {
        coefs: &mut coef_grads,
        intercepts: &mut intercept_grads,
    };
    let Workspace { layout, core, .. } = workspace;
    layout.loss = Loss::SumOfSquares(reduction);
    network::backprop_dense(layout, &coefs, &intercepts, x, y, rows, core, grads)
}

/// As [`gradients_into`] with `pass` (from [`Workspace::pass`]), on shapes
/// and a workspace the caller has checked for this net: [`fit`](super::fit)'s step.
pub(super) fn gradients_checked<T: Element>(
    pass: TwoLayerPass,
    params: &Params<'_, T>,
    x: &[T],
    y: &[T],
    rows: usize,
    workspace: &mut Workspace<T>,
    out: &mut GradientsMut<'_, T>,
) -> T {
    let (coefs, intercepts) = params.layers();
    let mut coef_grads = [&mut *out.w1, &mut *out.w2];
    let mut intercept_grads = [
        out.b1.as_deref_mut().unwrap_or(&mut []),
        out.b2.as_deref_mut().unwrap_or(&mut []),
    ];
    let grads = network::Gradients {
        coefs: &mut coef_grads,
        intercepts: &mut intercept_grads,
    };
    pass.backprop(&coefs, &intercepts, x, y, rows, &mut workspace.core, grads)
}

/// `params -= learning_rate * gradients`, element by element, in place, with
/// the rounding of [`step`] (the core's plain descent).
///
/// # Panics
/// If the slices differ in length.
pub fn step_in_place<T: Element>(params: &mut [T], gradients: &[T], learning_rate: T) {
    network::descend(params, gradients, learning_rate);
}

/// `out = params - learning_rate * gradients`, element by element, with the
/// rounding of [`step`].
///
/// # Panics
/// If the three slices differ in length.
pub fn step_into<T: Element>(out: &mut [T], params: &[T], gradients: &[T], learning_rate: T) {
    network::descend_into(out, params, gradients, learning_rate);
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
