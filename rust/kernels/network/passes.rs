//! The forward pass, and the products it shares with the backward pass (narrow ones transposed).

use super::batch::{batch, csr_times, csr_transpose_times, Batch, Rows};
use super::input::{Indices, Input};
use super::real::Real;
use super::workspace::Buffers;
use super::{Hidden, Layout, Order, Workspace};
use crate::kernels::activation::activate;
use crate::kernels::alloc::AllocError;
use crate::kernels::gemm::{matmul, View, TILE_MAX};
use crate::kernels::linear::add_row_vector;
use crate::kernels::simd::{dispatch, Level};

/// Whether a product with this few output columns runs faster transposed:
/// the register-blocked kernels fill their tiles along the output's rows
/// (`benches/network_per_batch.py`; figures in docs/performance.md).
#[inline(always)]
fn narrow(inputs: usize, cols: usize) -> bool {
    cols > 1 && cols < 16 && inputs >= 2 * cols
}

/// Writes the transpose of the row-major `rows × cols` matrix `matrix` into `out`.
#[inline(always)]
fn transpose_into<T: Real>(matrix: &[T], rows: usize, cols: usize, out: &mut [T]) {
    let out = &mut out[..rows * cols];
    for (i, row) in matrix.chunks_exact(cols).enumerate().take(rows) {
        for (j, &v) in row.iter().enumerate() {
            out[j * rows + i] = v;
        }
    }
}

/// `out = a @ coef` for a dense row-major `a` (`rows × inputs`); with
/// `then`, a hidden layer's activation and intercepts, also the intercepts
/// added and the activation applied where the register tiles can (returns
/// whether they did: `Hidden::product_then`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn dense_product<T: Real>(
    order: Order,
    out: &mut [T],
    a: &[T],
    rows: usize,
    inputs: usize,
    coef: &[T],
    cols: usize,
    coef_t: &mut [T],
    transposed: &mut [T],
    then: Option<(Hidden, &[T])>,
) -> bool {
    let a = View::row_major(a, rows, inputs);
    if order == Order::Numpy && narrow(inputs, cols) {
        let coef_t = &mut coef_t[..cols * inputs];
        transpose_into(coef, inputs, cols, coef_t);
        let transposed = &mut transposed[..cols * rows];
        matmul(
            transposed,
            View::row_major(coef_t, cols, inputs),
            a.t(),
            false,
            T::ONE,
        );
        transpose_into(transposed, cols, rows, out);
        false
    } else if let Some((hidden, intercepts)) = then {
        let coef = View::row_major(coef, inputs, cols);
        hidden.product_then(out, a, coef, intercepts)
    } else {
        matmul(out, a, View::row_major(coef, inputs, cols), false, T::ONE);
        false
    }
}

/// `out = aᵀ @ delta` (`inputs × cols`) for a dense row-major `a`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn dense_transpose_product<T: Real>(
    order: Order,
    out: &mut [T],
    a: &[T],
    rows: usize,
    inputs: usize,
    delta: &[T],
    cols: usize,
    transposed: &mut [T],
) {
    let a = View::row_major(a, rows, inputs);
    let delta = View::row_major(delta, rows, cols);
    if order == Order::Numpy && narrow(inputs, cols) {
        let transposed = &mut transposed[..cols * inputs];
        matmul(transposed, delta.t(), a, false, T::ONE);
        transpose_into(transposed, cols, inputs, out);
    } else {
        matmul(out, a.t(), delta, false, T::ONE);
    }
}

/// `out = delta @ coefᵀ` (`rows × inputs`): through a transposed copy of
/// `coef` while the product is small (the view's short dot products waste
/// the kernels' lanes: `benches/network_per_batch.py`, docs/performance.md);
/// large products read the view (OpenBLAS takes it as is).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn delta_below<T: Real>(
    order: Order,
    out: &mut [T],
    delta: &[T],
    rows: usize,
    cols: usize,
    coef: &[T],
    inputs: usize,
    coef_t: &mut [T],
) {
    let delta = View::row_major(delta, rows, cols);
    if order == Order::Numpy && rows * cols * inputs < TILE_MAX {
        let coef_t = &mut coef_t[..cols * inputs];
        transpose_into(coef, inputs, cols, coef_t);
        matmul(
            out,
            delta,
            View::row_major(coef_t, cols, inputs),
            false,
            T::ONE,
        );
    } else {
        matmul(
            out,
            delta,
            View::row_major(coef, inputs, cols).t(),
            false,
            T::ONE,
        );
    }
}

/// `out = batch @ coef` (`rows × cols`), and `then` as `dense_product`
/// takes it.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn first_product<T: Real>(
    order: Order,
    batch: Batch<'_, T>,
    rows: usize,
    (inputs, cols): (usize, usize),
    coef: &[T],
    out: &mut [T],
    coef_t: &mut [T],
    transposed: &mut [T],
    then: Option<(Hidden, &[T])>,
) -> bool {
    match batch {
        Batch::Dense(x) => dense_product(
            order, out, x, rows, inputs, coef, cols, coef_t, transposed, then,
        ),
        Batch::Csr(csr, picked) => match csr.indices() {
            Indices::I32 { indices, indptr } => {
                csr_times(csr.data(), indices, indptr, picked, coef, cols, out);
                false
            }
            Indices::I64 { indices, indptr } => {
                csr_times(csr.data(), indices, indptr, picked, coef, cols, out);
                false
            }
        },
    }
}

/// `out = batchᵀ @ delta` (`inputs × cols`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn first_transpose_product<T: Real>(
    order: Order,
    batch: Batch<'_, T>,
    rows: usize,
    delta: &[T],
    (inputs, cols): (usize, usize),
    out: &mut [T],
    transposed: &mut [T],
) {
    match batch {
        Batch::Dense(x) => {
            dense_transpose_product(order, out, x, rows, inputs, delta, cols, transposed)
        }
        Batch::Csr(csr, picked) => match csr.indices() {
            Indices::I32 { indices, indptr } => {
                csr_transpose_times(csr.data(), indices, indptr, picked, delta, cols, out)
            }
            Indices::I64 { indices, indptr } => {
                csr_transpose_times(csr.data(), indices, indptr, picked, delta, cols, out)
            }
        },
    }
}

/// The forward pass over `rows` rows into `buffers.activations`
/// (scikit-learn's `_forward_pass`): `act(A @ W + b)` layer by layer, each
/// hidden layer's `A @ W + b` kept apart when its activation's derivative
/// reads it.
#[inline(always)]
pub(super) fn forward_batch<T: Real, C: AsRef<[T]>, I: AsRef<[T]>>(
    layout: &Layout,
    coefs: &[C],
    intercepts: &[I],
    batch: Batch<'_, T>,
    rows: usize,
    buffers: &mut Buffers<T>,
) {
    let Buffers {
        activations,
        pre_activations,
        coef_t,
        transposed,
        ..
    } = buffers;
    let order = layout.order;
    let last = layout.layers() - 1;
    for layer in 0..=last {
        let cols = layout.sizes[layer + 1];
        let (before, after) = activations.split_at_mut(layer);
        let out = &mut after[0][..rows * cols];
        let keep = layer != last && layout.hidden.reads_pre_activation();
        let target = if keep {
            &mut pre_activations[layer][..rows * cols]
        } else {
            &mut *out
        };
        let coef = coefs[layer].as_ref();
        let intercepts = intercepts[layer].as_ref();
        // A hidden layer whose pre-activations are not kept: the tiles may
        // add the intercepts and apply the activation as they store it.
        let then = (layer != last && !keep).then_some((layout.hidden, intercepts));
        let done = if layer == 0 {
            let shape = layout.coef_shape(0);
            first_product(
                order, batch, rows, shape, coef, target, coef_t, transposed, then,
            )
        } else {
            let inputs = layout.sizes[layer];
            let previous = &before[layer - 1][..rows * inputs];
            dense_product(
                order, target, previous, rows, inputs, coef, cols, coef_t, transposed, then,
            )
        };
        if layer == last {
            add_row_vector(target, intercepts);
            layout.output.apply(out, cols);
        } else if let (true, Hidden::Neuron(activation)) = (keep, layout.hidden) {
            add_row_vector(target, intercepts);
            activate(activation, &pre_activations[layer][..rows * cols], out);
        } else if !done {
            layout.hidden.apply_after_adding(out, intercepts);
        }
    }
}

/// The output activations of every row of `input` into the row-major
/// `rows × outputs` slice `out`, a workspace-sized chunk of rows at a time.
pub fn forward<T: Real, C: AsRef<[T]>, I: AsRef<[T]>>(
    layout: &Layout,
    coefs: &[C],
    intercepts: &[I],
    input: &Input<'_, T>,
    out: &mut [T],
    workspace: &mut Workspace<T>,
) -> Result<(), AllocError> {
    /// Rows per chunk when the workspace is smaller: the rows are
    /// independent, so chunks bound the memory of a large prediction.
    const CHUNK_ROWS: usize = 4096;
    layout.check_params(coefs, intercepts);
    assert_eq!(input.cols(), layout.inputs(), "network: X columns");
    let (total, outputs) = (input.rows(), layout.outputs());
    assert_eq!(out.len(), total * outputs, "network: output shape");
    let chunk = total.min(workspace.rows().max(CHUNK_ROWS)).max(1);
    workspace.reserve(layout, chunk)?;
    let buffers = &mut workspace.buffers;
    dispatch(
        Level::Avx512,
        #[inline(always)]
        |_| {
            let mut start = 0;
            while start < total {
                let count = chunk.min(total - start);
                let rows = Rows::Range { start, count };
                let batch = batch(input, rows, &mut []);
                forward_batch(layout, coefs, intercepts, batch, count, buffers);
                let result = &buffers.activations[layout.layers() - 1][..count * outputs];
                out[start * outputs..(start + count) * outputs].copy_from_slice(result);
                start += count;
            }
        },
    );
    Ok(())
}
