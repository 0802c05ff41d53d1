//! The buffers of a network's passes, sized for the largest batch seen.

use super::Layout;
use crate::kernels::alloc::{zeroed, AllocError};
use crate::kernels::Float;

/// Every intermediate of the passes: grown when a batch larger than any
/// before arrives, never per batch.
#[derive(Debug)]
pub struct Workspace<T> {
    /// The rows the buffers hold.
    rows: usize,
    pub(super) buffers: Buffers<T>,
    /// The gradients an epoch computes before each update (shaped like the
    /// parameters; empty until the first epoch).
    pub(super) coef_grads: Vec<Vec<T>>,
    pub(super) intercept_grads: Vec<Vec<T>>,
}

/// The per-row buffers: a gathered batch and each layer's outputs and deltas.
#[derive(Debug, Default)]
pub(super) struct Buffers<T> {
    /// A gathered dense batch: `rows × inputs`.
    pub x: Vec<T>,
    pub y: Vec<T>,
    pub sample_weight: Vec<T>,
    /// Layer `l`'s output after its activation: `rows × sizes[l + 1]`.
    pub activations: Vec<Vec<T>>,
    /// The loss's gradient with respect to layer `l`'s pre-activation.
    pub deltas: Vec<Vec<T>>,
    /// One value per row (a lone column's terms before numpy's pairwise sum).
    pub scratch: Vec<T>,
    /// One value per output column.
    pub means: Vec<T>,
    /// A layer's coefficients transposed (`sizes[l + 1] × sizes[l]`).
    pub coef_t: Vec<T>,
    /// A product computed transposed, before it is turned back.
    pub transposed: Vec<T>,
}

fn buffer<T: Float>(rows: usize, cols: usize) -> Result<Vec<T>, AllocError> {
    zeroed(rows.checked_mul(cols))
}

impl<T: Float> Workspace<T> {
    /// An empty workspace: the first pass sizes it.
    pub fn new() -> Self {
        Workspace {
            rows: 0,
            buffers: Buffers::default(),
            coef_grads: Vec::new(),
            intercept_grads: Vec::new(),
        }
    }

    /// The rows the buffers hold now.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Grows the per-row buffers to hold `rows` rows of `layout` (keeping
    /// them when they already do).
    pub fn reserve(&mut self, layout: &Layout, rows: usize) -> Result<(), AllocError> {
        let fits = self.rows >= rows && self.buffers.activations.len() == layout.layers();
        if fits {
            return Ok(());
        }
        let rows = rows.max(self.rows);
        let sizes = &layout.sizes;
        let mut activations = Vec::with_capacity(layout.layers());
        let mut deltas = Vec::with_capacity(layout.layers());
        for &size in &sizes[1..] {
            activations.push(buffer(rows, size)?);
            deltas.push(buffer(rows, size)?);
        }
        let mut largest_coef = 0;
        let mut largest_layer = 0;
        for layer in 0..layout.layers() {
            let (inputs, cols) = layout.coef_shape(layer);
            largest_coef = largest_coef.max(inputs * cols);
            largest_layer = largest_layer.max(cols);
        }
        let transposed = rows
            .checked_mul(largest_layer)
            .map(|len| len.max(largest_coef));
        self.buffers = Buffers {
            x: buffer(rows, layout.inputs())?,
            y: buffer(rows, layout.outputs())?,
            sample_weight: buffer(rows, 1)?,
            activations,
            deltas,
            scratch: buffer(rows, 1)?,
            means: buffer(layout.outputs().max(2), 1)?,
            coef_t: buffer(largest_coef, 1)?,
            transposed: zeroed(transposed)?,
        };
        self.rows = rows;
        Ok(())
    }

    /// Allocates the epoch's gradient buffers once.
    pub fn reserve_gradients(&mut self, layout: &Layout) -> Result<(), AllocError> {
        if self.coef_grads.len() == layout.layers() {
            return Ok(());
        }
        let mut coef_grads = Vec::with_capacity(layout.layers());
        let mut intercept_grads = Vec::with_capacity(layout.layers());
        for layer in 0..layout.layers() {
            let (rows, cols) = layout.coef_shape(layer);
            coef_grads.push(buffer(rows, cols)?);
            intercept_grads.push(buffer(cols, 1)?);
        }
        self.coef_grads = coef_grads;
        self.intercept_grads = intercept_grads;
        Ok(())
    }
}

impl<T: Float> Default for Workspace<T> {
    fn default() -> Self {
        Self::new()
    }
}
