//! One epoch of mini-batch training: gather, forward, backward with L2, update, batch after batch.

use super::backward::{backprop, Gradients, Targets};
use super::batch::Rows;
use super::input::Input;
use super::real::Real;
use super::{Layout, Optimizer, Workspace};
use crate::kernels::alloc::AllocError;
use crate::kernels::simd::{dispatch, Level};

/// The epoch stopped between two batches because `keep_going` said so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupted {
    /// The batches completed (their updates are in the parameters).
    pub batches: usize,
}

/// Trains one epoch in place over the rows in `order`, `batch_size` at a
/// time (the last batch shorter): scikit-learn's inner loop of
/// `_fit_stochastic`. Returns `Σ batch_loss · batch_rows` (the loss includes
/// the L2 term; the caller divides by the row count), summed in the element
/// type as numpy does.
///
/// `keep_going` runs before every batch after the first; when it returns
/// false the epoch stops with [`Interrupted`].
///
/// # Panics
/// If a shape does not match `layout`, a row of `order` is out of range,
/// `batch_size` is 0 or the optimizer's state does not fit the parameters.
#[allow(clippy::too_many_arguments)]
pub fn epoch<T: Real, P: AsMut<[T]> + AsRef<[T]>>(
    layout: &Layout,
    coefs: &mut [P],
    intercepts: &mut [P],
    input: &Input<'_, T>,
    y: &[T],
    sample_weight: Option<&[T]>,
    order: &[usize],
    batch_size: usize,
    alpha: f64,
    optimizer: &mut Optimizer<T>,
    workspace: &mut Workspace<T>,
    mut keep_going: impl FnMut() -> bool,
) -> Result<Result<T, Interrupted>, AllocError> {
    layout.check_params(coefs, intercepts);
    assert!(batch_size > 0, "network: batch_size");
    let rows = input.rows();
    assert_eq!(input.cols(), layout.inputs(), "network: X columns");
    assert_eq!(y.len(), rows * layout.outputs(), "network: y shape");
    assert!(order.iter().all(|&row| row < rows), "network: order");
    workspace.reserve(layout, batch_size.min(order.len()))?;
    workspace.reserve_gathered(layout)?;
    workspace.reserve_gradients(layout)?;
    let layers = layout.layers();
    let mut total = T::ZERO;
    let Workspace {
        buffers,
        coef_grads,
        intercept_grads,
        ..
    } = workspace;
    for (done, picked) in order.chunks(batch_size).enumerate() {
        if done > 0 && !keep_going() {
            return Ok(Err(Interrupted { batches: done }));
        }
        let targets = Targets {
            input,
            rows: Rows::Pick(picked),
            y,
            sample_weight,
        };
        // The batch's elementwise loops (activations, derivatives, the
        // optimizer) compiled for the CPU's widest vectors; without FMA
        // contraction, which Rust never does, the bits are the same.
        let loss = dispatch(
            Level::Avx512,
            #[inline(always)]
            |_| {
                let grads = Gradients {
                    coefs: coef_grads.as_mut_slice(),
                    intercepts: intercept_grads.as_mut_slice(),
                };
                let loss = backprop(layout, coefs, intercepts, &targets, alpha, buffers, grads);
                optimizer.begin_update();
                for layer in 0..layers {
                    optimizer.update(layer, coefs[layer].as_mut(), &coef_grads[layer]);
                }
                for layer in 0..layers {
                    let index = layers + layer;
                    optimizer.update(index, intercepts[layer].as_mut(), &intercept_grads[layer]);
                }
                loss
            },
        );
        total += loss * T::from_f64(picked.len() as f64);
    }
    Ok(Ok(total))
}
