//! The two-layer net's own passes as they were before the N-layer core served
//! it, kept to prove the core gives the same bits.

#![allow(dead_code)]

use super::{Gradients, GradientsMut, Params, Reduction, TwoLayer};
use crate::kernels::activation::{activate, activate_grad};
use crate::kernels::dot::dot;
use crate::kernels::gemm::{matmul, View};
use crate::kernels::linear::linear;
use crate::kernels::parallel::CHUNK;
use crate::kernels::Element;

/// The buffers of the reference passes (the old workspace's).
pub struct Workspace<T> {
    pub hidden: Vec<T>,
    pub activations: Vec<T>,
    pub predictions: Vec<T>,
    d_predictions: Vec<T>,
    d_activations: Vec<T>,
    d_hidden: Vec<T>,
}

impl<T: Element> Workspace<T> {
    pub fn new(net: &TwoLayer, rows: usize) -> Self {
        let (hidden, output) = (rows * net.hidden_dim, rows * net.output_dim);
        Workspace {
            hidden: vec![T::ZERO; hidden],
            activations: vec![T::ZERO; hidden],
            predictions: vec![T::ZERO; output],
            d_predictions: vec![T::ZERO; output],
            d_activations: vec![T::ZERO; hidden],
            d_hidden: vec![T::ZERO; hidden],
        }
    }
}

fn scale<T: Element>(reduction: Reduction, count: usize) -> T {
    match reduction {
        Reduction::Sum => T::ONE,
        Reduction::Mean => T::from_f64(1.0 / count as f64),
    }
}

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
    sum * scale::<T>(reduction, len)
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
    let two_scale = (T::ONE + T::ONE) * scale::<T>(reduction, output_len);
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

/// The loss and freshly allocated gradients.
pub fn gradients<T: Element>(
    net: &TwoLayer,
    params: &Params<'_, T>,
    x: &[T],
    y: &[T],
    rows: usize,
    reduction: Reduction,
) -> (T, Gradients<T>) {
    let bias = |len: usize| if net.bias { len } else { 0 };
    let mut grads = Gradients {
        w1: vec![T::ZERO; net.w1_len()],
        b1: vec![T::ZERO; bias(net.hidden_dim)],
        w2: vec![T::ZERO; net.w2_len()],
        b2: vec![T::ZERO; bias(net.output_dim)],
    };
    let mut workspace = Workspace::new(net, rows);
    let loss = gradients_into(
        net,
        params,
        x,
        y,
        rows,
        reduction,
        &mut workspace,
        &mut grads.as_mut(),
    );
    (loss, grads)
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
