//! The buffers of a network's passes, sized for the largest batch seen.

use super::{Layout, Loss, Order};
use crate::kernels::alloc::{zeroed, AllocError};
use crate::kernels::Float;

/// Every intermediate of the passes: grown when a batch larger than any
/// before arrives, never per batch.
#[derive(Clone, Debug)]
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
#[derive(Clone, Debug, Default)]
pub(super) struct Buffers<T> {
    /// A gathered dense batch: `rows × inputs` (empty until an epoch
    /// reserves it: other passes read their rows in place).
    pub x: Vec<T>,
    pub y: Vec<T>,
    pub sample_weight: Vec<T>,
    /// Layer `l`'s output after its activation: `rows × sizes[l + 1]`.
    pub activations: Vec<Vec<T>>,
    /// The loss's gradient with respect to layer `l`'s pre-activation.
    pub deltas: Vec<Vec<T>>,
    /// Hidden layer `l`'s pre-activation (`rows × sizes[l + 1]`), kept only
    /// for an activation differentiated at its input.
    pub pre_activations: Vec<Vec<T>>,
    /// The loss's gradient with respect to a hidden layer's output, before
    /// such an activation's derivative turns it into the layer's delta.
    pub d_activations: Vec<T>,
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
        let hidden_sizes = &sizes[1..layout.layers()];
        let mut activations = Vec::with_capacity(layout.layers());
        let mut deltas = Vec::with_capacity(layout.layers());
        for &size in &sizes[1..] {
            activations.push(buffer(rows, size)?);
            deltas.push(buffer(rows, size)?);
        }
        let mut pre_activations = Vec::new();
        let mut d_activations = Vec::new();
        if layout.hidden.reads_pre_activation() {
            for &size in hidden_sizes {
                pre_activations.push(buffer(rows, size)?);
            }
            let widest = hidden_sizes.iter().copied().max().unwrap_or(0);
            d_activations = buffer(rows, widest)?;
        }
        // The numpy order's transposed copies and the scikit-learn losses'
        // reductions; the direct order and the sum of squares need neither.
        let (mut coef_t, mut transposed) = (Vec::new(), Vec::new());
        if layout.order == Order::Numpy {
            let mut largest_coef = 0;
            let mut largest_layer = 0;
            for layer in 0..layout.layers() {
                let (inputs, cols) = layout.coef_shape(layer);
                largest_coef = largest_coef.max(inputs * cols);
                largest_layer = largest_layer.max(cols);
            }
            let transposed_len = rows
                .checked_mul(largest_layer)
                .map(|len| len.max(largest_coef));
            coef_t = buffer(largest_coef, 1)?;
            transposed = zeroed(transposed_len)?;
        }
        let (mut scratch, mut means) = (Vec::new(), Vec::new());
        if !matches!(layout.loss, Loss::SumOfSquares(_)) {
            scratch = buffer(rows, 1)?;
            means = buffer(layout.outputs().max(2), 1)?;
        }
        let gathered = !self.buffers.x.is_empty();
        self.buffers = Buffers {
            x: Vec::new(),
            y: Vec::new(),
            sample_weight: Vec::new(),
            activations,
            deltas,
            pre_activations,
            d_activations,
            scratch,
            means,
            coef_t,
            transposed,
        };
        self.rows = rows;
        if gathered {
            self.reserve_gathered(layout)?;
        }
        Ok(())
    }

    /// Allocates the buffers a batch of picked (not consecutive) rows is
    /// gathered into, for the rows the workspace holds.
    pub(super) fn reserve_gathered(&mut self, layout: &Layout) -> Result<(), AllocError> {
        let rows = self.rows;
        if self.buffers.x.len() >= rows * layout.inputs()
            && self.buffers.sample_weight.len() >= rows
        {
            return Ok(());
        }
        self.buffers.x = buffer(rows, layout.inputs())?;
        self.buffers.y = buffer(rows, layout.outputs())?;
        self.buffers.sample_weight = buffer(rows, 1)?;
        Ok(())
    }

    /// The first `len` values of layer `layer`'s output from the last pass.
    pub fn activations(&self, layer: usize, len: usize) -> &[T] {
        &self.buffers.activations[layer][..len]
    }

    /// The bytes its buffers hold.
    pub fn bytes(&self) -> usize {
        let b = &self.buffers;
        let total = |vs: &[Vec<T>]| vs.iter().map(Vec::len).sum::<usize>();
        let elements = b.x.len()
            + b.y.len()
            + b.sample_weight.len()
            + total(&b.activations)
            + total(&b.deltas)
            + total(&b.pre_activations)
            + b.d_activations.len()
            + b.scratch.len()
            + b.means.len()
            + b.coef_t.len()
            + b.transposed.len()
            + total(&self.coef_grads)
            + total(&self.intercept_grads);
        elements * std::mem::size_of::<T>()
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
            intercept_grads.push(buffer(layout.intercept_len(layer), 1)?);
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
