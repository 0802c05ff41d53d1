//! The two-layer network: forward pass, backward pass and the fused training loop.
//!
//! The network is `P = act(X W1 + b1) W2 + b2` with `X` of shape
//! `rows × input_dim`, `W1` of `input_dim × hidden_dim` and `W2` of
//! `hidden_dim × output_dim`, all row-major (the layout numpy arrays have).
//! The loss is the sum (or the mean) of squared errors against the targets `Y`.
//!
//! Every intermediate lives in a [`Workspace`] allocated once, so [`fit`] runs
//! any number of steps without allocating. Transposed products read the same
//! buffers through transposed [`View`]s instead of copying them. Results do
//! not depend on the thread count: the products come from `gemm::matmul`
//! (whose parallel split does not change the order of additions), and the
//! sums here (loss, bias gradients) run in one fixed order on one thread.
//!
//! Shapes are the caller's to validate: the functions panic on a mismatch, as
//! the binding layer checks every argument first and names it in its error.

use core::fmt;
use std::alloc::{alloc_zeroed, Layout};
use std::time::{Duration, Instant};

use super::activation::{activate, activate_grad, Activation};
use super::dot::dot;
use super::gemm::{linear, matmul, View, SMALL_GEMM};
use super::parallel::CHUNK;
use super::Float;

/// Steps between two readings of the clock for time-based reports, for
/// networks whose step is below `SMALL_GEMM` multiply-adds (under a
/// microsecond).
const CLOCK_EVERY: usize = 64;

/// The shape of a two-layer network: its sizes, activation and whether its
/// layers add biases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TwoLayer {
    pub input_dim: usize,
    pub hidden_dim: usize,
    pub output_dim: usize,
    pub activation: Activation,
    pub bias: bool,
}

impl TwoLayer {
    /// Elements in `W1` (`input_dim × hidden_dim`).
    pub fn w1_len(&self) -> usize {
        self.input_dim * self.hidden_dim
    }

    /// Elements in `W2` (`hidden_dim × output_dim`).
    pub fn w2_len(&self) -> usize {
        self.hidden_dim * self.output_dim
    }

    fn check_params<T>(&self, params: &Params<'_, T>) {
        assert_eq!(params.w1.len(), self.w1_len(), "mlp: w1 shape");
        assert_eq!(params.w2.len(), self.w2_len(), "mlp: w2 shape");
        assert_eq!(params.b1.is_some(), self.bias, "mlp: b1 presence");
        assert_eq!(params.b2.is_some(), self.bias, "mlp: b2 presence");
        if let (Some(b1), Some(b2)) = (params.b1, params.b2) {
            assert_eq!(b1.len(), self.hidden_dim, "mlp: b1 shape");
            assert_eq!(b2.len(), self.output_dim, "mlp: b2 shape");
        }
    }
}

/// Read-only parameters: the weights, and the biases when the net has them.
#[derive(Clone, Copy, Debug)]
pub struct Params<'a, T> {
    pub w1: &'a [T],
    pub b1: Option<&'a [T]>,
    pub w2: &'a [T],
    pub b2: Option<&'a [T]>,
}

/// Parameters that a training step updates in place (for the binding, the
/// numpy arrays' own memory).
#[derive(Debug)]
pub struct ParamsMut<'a, T> {
    pub w1: &'a mut [T],
    pub b1: Option<&'a mut [T]>,
    pub w2: &'a mut [T],
    pub b2: Option<&'a mut [T]>,
}

impl<T> ParamsMut<'_, T> {
    /// A read-only view of the same parameters.
    pub fn view(&self) -> Params<'_, T> {
        Params {
            w1: self.w1,
            b1: self.b1.as_deref(),
            w2: self.w2,
            b2: self.b2.as_deref(),
        }
    }
}

/// The gradients of the loss, shaped like the parameters (the bias buffers
/// are empty when the net has no biases).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gradients<T> {
    pub w1: Vec<T>,
    pub b1: Vec<T>,
    pub w2: Vec<T>,
    pub b2: Vec<T>,
}

impl<T> Gradients<T> {
    /// The same buffers as a [`GradientsMut`] to compute into.
    pub fn as_mut(&mut self) -> GradientsMut<'_, T> {
        fn bias<T>(b: &mut [T]) -> Option<&mut [T]> {
            (!b.is_empty()).then_some(b)
        }
        GradientsMut {
            w1: &mut self.w1,
            b1: bias(&mut self.b1),
            w2: &mut self.w2,
            b2: bias(&mut self.b2),
        }
    }
}

/// Caller-owned buffers the backward pass writes the gradients into (for
/// the binding, fresh numpy arrays: computing straight into them spares a
/// copy and, more costly, the page faults of a second large buffer).
#[derive(Debug)]
pub struct GradientsMut<'a, T> {
    pub w1: &'a mut [T],
    pub b1: Option<&'a mut [T]>,
    pub w2: &'a mut [T],
    pub b2: Option<&'a mut [T]>,
}

/// How the squared errors are combined into one loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// `Σ (P - Y)²`, as the seed trains.
    #[default]
    Sum,
    /// `Σ (P - Y)² / (rows · output_dim)`, as `torch.nn.MSELoss()` computes.
    Mean,
}

impl Reduction {
    /// Parses `"sum"` or `"mean"`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sum" => Some(Reduction::Sum),
            "mean" => Some(Reduction::Mean),
            _ => None,
        }
    }

    /// The factor the sum of squares is multiplied by over `count` elements.
    fn scale<T: Float>(self, count: usize) -> T {
        match self {
            Reduction::Sum => T::ONE,
            // Exact for any count below 2^53, then rounded once to T.
            Reduction::Mean => T::from_f64(1.0 / count as f64),
        }
    }
}

/// A buffer too large to allocate (or whose size overflows `usize`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocError {
    /// The element count asked for; `None` when it overflowed.
    pub elements: Option<usize>,
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.elements {
            Some(elements) => write!(f, "cannot allocate a buffer of {elements} elements"),
            None => write!(f, "cannot allocate a buffer: its size overflows"),
        }
    }
}

impl std::error::Error for AllocError {}

/// A zero-filled vector of `len` elements, or an error instead of the abort
/// `vec![0.0; len]` gives when memory runs out.
///
/// The memory comes from `alloc_zeroed` (calloc), so large buffers are
/// zero pages the kernel maps lazily: a buffer never written costs nothing,
/// where writing zeros would fault in every page.
pub fn zeroed<T: Float>(len: Option<usize>) -> Result<Vec<T>, AllocError> {
    let error = AllocError { elements: len };
    let len = len.ok_or(error)?;
    if len == 0 {
        return Ok(Vec::new());
    }
    let layout = Layout::array::<T>(len).map_err(|_| error)?;
    // SAFETY: the layout has a non-zero size (len > 0 and T is f32 or f64).
    let ptr = unsafe { alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        return Err(error);
    }
    // SAFETY: `ptr` comes from the global allocator with the layout of
    // `len` elements of T, so capacity `len` matches it; all-zero bits are
    // +0.0 in IEEE 754, so every element is initialised.
    Ok(unsafe { Vec::from_raw_parts(ptr, len, len) })
}

/// Every buffer one forward and backward pass needs, for batches of up to
/// `max_rows` rows; batches with fewer rows use the front of each buffer.
#[derive(Clone, Debug)]
pub struct Workspace<T> {
    net: TwoLayer,
    max_rows: usize,
    /// `X W1 + b1`, the hidden pre-activations (`rows × hidden_dim`).
    hidden: Vec<T>,
    /// `act(hidden)` (`rows × hidden_dim`).
    activations: Vec<T>,
    /// `activations W2 + b2` (`rows × output_dim`).
    predictions: Vec<T>,
    /// `P - Y`, then the loss's gradient with respect to `P`.
    d_predictions: Vec<T>,
    /// The loss's gradient with respect to the activations.
    d_activations: Vec<T>,
    /// The loss's gradient with respect to the pre-activations.
    d_hidden: Vec<T>,
    gradients: Gradients<T>,
}

impl<T: Float> Workspace<T> {
    /// Allocates the buffers for `net` and batches of up to `max_rows` rows.
    ///
    /// # Errors
    /// [`AllocError`] if a buffer's size overflows or the memory is not there
    /// (a binding turns it into `MemoryError`, where `vec!` would abort).
    pub fn new(net: TwoLayer, max_rows: usize) -> Result<Self, AllocError> {
        let hidden = max_rows.checked_mul(net.hidden_dim);
        let output = max_rows.checked_mul(net.output_dim);
        let bias_len = |len: usize| if net.bias { len } else { 0 };
        Ok(Workspace {
            net,
            max_rows,
            hidden: zeroed(hidden)?,
            activations: zeroed(hidden)?,
            predictions: zeroed(output)?,
            d_predictions: zeroed(output)?,
            d_activations: zeroed(hidden)?,
            d_hidden: zeroed(hidden)?,
            gradients: Gradients {
                w1: zeroed(net.input_dim.checked_mul(net.hidden_dim))?,
                b1: zeroed(Some(bias_len(net.hidden_dim)))?,
                w2: zeroed(net.hidden_dim.checked_mul(net.output_dim))?,
                b2: zeroed(Some(bias_len(net.output_dim)))?,
            },
        })
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
        &self.predictions[..rows * self.net.output_dim]
    }

    /// The hidden activations of the last forward pass over `rows` rows.
    pub fn activations(&self, rows: usize) -> &[T] {
        &self.activations[..rows * self.net.hidden_dim]
    }

    fn check(&self, net: &TwoLayer, rows: usize) {
        assert_eq!(&self.net, net, "mlp: workspace built for another net");
        assert!(
            rows <= self.max_rows,
            "mlp: batch larger than the workspace"
        );
    }
}

/// Runs the forward pass over the `rows × input_dim` matrix `x` and returns
/// the `rows × output_dim` predictions (a slice of the workspace).
///
/// # Panics
/// If a shape does not match `net` (callers validate first).
pub fn forward<'w, T: Float>(
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
fn loss_of_predictions<T: Float>(
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
pub fn loss<T: Float>(
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
fn column_sums<T: Float>(matrix: &[T], sums: &mut [T]) {
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
fn backward<T: Float>(
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
pub fn gradients<T: Float>(
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
pub fn gradients_into<T: Float>(
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

fn descend<T: Float>(params: &mut [T], gradients: &[T], learning_rate: T) {
    assert_eq!(params.len(), gradients.len(), "mlp: gradient shape");
    // `w - (lr * g)`, rounded as numpy's `w -= lr * g` rounds it.
    for (w, &g) in params.iter_mut().zip(gradients) {
        *w -= learning_rate * g;
    }
}

/// One step of gradient descent: `W -= learning_rate * dW` for every parameter.
///
/// # Panics
/// If the gradients are not shaped like the parameters.
pub fn step<T: Float>(params: &mut ParamsMut<'_, T>, gradients: &Gradients<T>, learning_rate: T) {
    descend(params.w1, &gradients.w1, learning_rate);
    descend(params.w2, &gradients.w2, learning_rate);
    if let Some(b1) = params.b1.as_deref_mut() {
        descend(b1, &gradients.b1, learning_rate);
    }
    if let Some(b2) = params.b2.as_deref_mut() {
        descend(b2, &gradients.b2, learning_rate);
    }
}

/// What [`fit`] does besides the steps themselves.
#[derive(Clone, Copy, Debug)]
pub struct FitConfig<T> {
    /// Steps of gradient descent to run.
    pub steps: usize,
    pub learning_rate: T,
    pub reduction: Reduction,
    /// Rows per step. `None` trains on all of `x` every step; `Some(n)` cuts
    /// `x` and `y` into consecutive blocks of `n` rows (the last one shorter
    /// when `n` does not divide the row count) and step `s` trains on block
    /// `s mod blocks`, so the blocks are visited in order, cyclically, with no
    /// shuffling.
    pub batch_size: Option<usize>,
    /// Call `on_chunk` after at most this many steps (0 counts as 1)...
    pub report_every: usize,
    /// ...or sooner, once this much time has passed since the last call, so
    /// that a binding can honour Ctrl-C promptly whatever one step costs.
    pub report_interval: Option<Duration>,
}

impl<T: Float> FitConfig<T> {
    /// Full-batch training with the sum of squared errors, reporting every
    /// `steps` steps (that is, once at the end).
    pub fn new(steps: usize, learning_rate: T) -> Self {
        FitConfig {
            steps,
            learning_rate,
            reduction: Reduction::Sum,
            batch_size: None,
            report_every: steps,
            report_interval: None,
        }
    }
}

/// How a [`fit`] that did not fail ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FitOutcome {
    /// Steps whose update was applied.
    pub steps_done: usize,
    /// Whether `on_chunk` asked to stop before all the steps ran.
    pub stopped_early: bool,
}

/// Why a [`fit`] failed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FitError {
    /// The loss before step `step` (0-based) was NaN or infinite; that step's
    /// update was not applied, so the parameters are those after `step` steps.
    NonFiniteLoss { step: usize, loss: f64 },
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FitError::NonFiniteLoss { step, loss } => write!(
                f,
                "the loss became {loss} at step {step}; the parameters are kept as they were \
                 before that step (try a smaller learning rate)"
            ),
        }
    }
}

impl std::error::Error for FitError {}

/// Trains `params` in place by gradient descent on the `rows × input_dim`
/// inputs `x` and `rows × output_dim` targets `y`.
///
/// `history[s]` receives the loss before step `s`. Each step checks its loss
/// before updating anything: a NaN or infinite loss stops the loop with
/// [`FitError::NonFiniteLoss`], the parameters as they were before that step.
/// `on_chunk(steps_done, last_loss)` runs after every chunk of steps (see
/// [`FitConfig::report_every`] and [`FitConfig::report_interval`]) and after
/// the last step; returning `false` stops the loop with the parameters valid
/// as of the last completed step. Nothing is allocated: the workspace holds
/// every buffer, and must hold `batch_size` rows (or all `rows` without one).
///
/// # Panics
/// If a shape does not match `net`, `history` is shorter than `config.steps`,
/// or `batch_size` is 0 (callers validate first).
#[allow(clippy::too_many_arguments)]
pub fn fit<T: Float>(
    net: &TwoLayer,
    params: &mut ParamsMut<'_, T>,
    x: &[T],
    y: &[T],
    rows: usize,
    config: &FitConfig<T>,
    workspace: &mut Workspace<T>,
    history: &mut [T],
    mut on_chunk: impl FnMut(usize, T) -> bool,
) -> Result<FitOutcome, FitError> {
    net.check_params(&params.view());
    assert_eq!(x.len(), rows * net.input_dim, "mlp: x shape");
    assert_eq!(y.len(), rows * net.output_dim, "mlp: y shape");
    assert!(history.len() >= config.steps, "mlp: history too short");
    let batch = config.batch_size.unwrap_or(rows).min(rows);
    assert!(batch > 0 || rows == 0, "mlp: batch_size must be positive");
    let blocks = if rows == 0 { 1 } else { rows.div_ceil(batch) };
    let report_every = config.report_every.max(1);
    let mut last_report = Instant::now();
    let mut since_report = 0;
    // Reading the clock costs about as much as a whole step of a tiny
    // network, so tiny networks read it only every CLOCK_EVERY steps.
    let step_work = batch * net.input_dim * net.hidden_dim;
    let clock_every = if step_work < SMALL_GEMM {
        CLOCK_EVERY
    } else {
        1
    };

    for (step_index, recorded) in history[..config.steps].iter_mut().enumerate() {
        let block = step_index % blocks;
        let start = block * batch;
        let end = (start + batch).min(rows);
        let block_rows = end - start;
        let block_x = &x[start * net.input_dim..end * net.input_dim];
        let block_y = &y[start * net.output_dim..end * net.output_dim];

        let loss = gradients(
            net,
            &params.view(),
            block_x,
            block_y,
            block_rows,
            config.reduction,
            workspace,
        );
        *recorded = loss;
        if !loss.is_finite() {
            return Err(FitError::NonFiniteLoss {
                step: step_index,
                loss: loss.to_f64(),
            });
        }
        step(params, &workspace.gradients, config.learning_rate);

        let steps_done = step_index + 1;
        since_report += 1;
        let due = since_report >= report_every
            || steps_done == config.steps
            || (since_report % clock_every == 0
                && config
                    .report_interval
                    .is_some_and(|interval| last_report.elapsed() >= interval));
        if due {
            since_report = 0;
            if !on_chunk(steps_done, loss) {
                let stopped_early = steps_done < config.steps;
                return Ok(FitOutcome {
                    steps_done,
                    stopped_early,
                });
            }
            last_report = Instant::now();
        }
    }
    Ok(FitOutcome {
        steps_done: config.steps,
        stopped_early: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::parallel;

    /// A small deterministic generator of standard-normal draws (xorshift64*
    /// then Box–Muller), so the tests need no random-number crate.
    struct Normal(u64);

    impl Normal {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
            (bits as f64 + 0.5) / (1u64 << 53) as f64
        }

        fn draw(&mut self, len: usize) -> Vec<f64> {
            (0..len)
                .map(|_| {
                    let (u, v) = (self.uniform(), self.uniform());
                    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
                })
                .collect()
        }
    }

    struct Owned {
        w1: Vec<f64>,
        b1: Option<Vec<f64>>,
        w2: Vec<f64>,
        b2: Option<Vec<f64>>,
    }

    impl Owned {
        fn new(net: &TwoLayer, rng: &mut Normal) -> Self {
            Owned {
                w1: rng.draw(net.w1_len()),
                b1: net.bias.then(|| rng.draw(net.hidden_dim)),
                w2: rng.draw(net.w2_len()),
                b2: net.bias.then(|| rng.draw(net.output_dim)),
            }
        }

        fn view(&self) -> Params<'_, f64> {
            Params {
                w1: &self.w1,
                b1: self.b1.as_deref(),
                w2: &self.w2,
                b2: self.b2.as_deref(),
            }
        }

        fn view_mut(&mut self) -> ParamsMut<'_, f64> {
            ParamsMut {
                w1: &mut self.w1,
                b1: self.b1.as_deref_mut(),
                w2: &mut self.w2,
                b2: self.b2.as_deref_mut(),
            }
        }
    }

    fn net(input_dim: usize, hidden_dim: usize, output_dim: usize) -> TwoLayer {
        TwoLayer {
            input_dim,
            hidden_dim,
            output_dim,
            activation: Activation::Relu,
            bias: false,
        }
    }

    #[test]
    fn forward_matches_the_definition_on_a_worked_example() {
        // x = (2, 3, 4); hidden units (1, -1, 5) → relu(19) = 19 and
        // (-1, 0, 0) → relu(-2) = 0; output weights (2, 7), bias 0.5.
        let net = TwoLayer {
            bias: true,
            ..net(3, 2, 1)
        };
        let params = Params {
            w1: &[1.0, -1.0, -1.0, 0.0, 5.0, 0.0],
            b1: Some(&[0.0, 0.0]),
            w2: &[2.0, 7.0],
            b2: Some(&[0.5]),
        };
        let mut ws = Workspace::new(net, 1).expect("a small workspace");
        let p = forward(&net, &params, &[2.0, 3.0, 4.0], 1, &mut ws);
        assert_eq!(p, &[38.5]);
        let l = loss(
            &net,
            &params,
            &[2.0, 3.0, 4.0],
            &[40.5],
            1,
            Reduction::Sum,
            &mut ws,
        );
        assert_eq!(l, 4.0);
    }

    fn check_gradients_against_finite_differences(activation: Activation, reduction: Reduction) {
        let net = TwoLayer {
            activation,
            bias: true,
            ..net(3, 4, 2)
        };
        let rows = 5;
        let mut rng = Normal(7);
        let x = rng.draw(rows * net.input_dim);
        let y = rng.draw(rows * net.output_dim);
        let mut owned = Owned::new(&net, &mut rng);
        let mut ws = Workspace::new(net, rows).expect("a small workspace");
        gradients(&net, &owned.view(), &x, &y, rows, reduction, &mut ws);
        let analytic = ws.gradients().clone();
        // ReLU has a kink at 0: finite differences are meaningful only away from it.
        forward(&net, &owned.view(), &x, rows, &mut ws);
        assert!(ws.hidden[..rows * net.hidden_dim]
            .iter()
            .all(|h| h.abs() > 1e-3));

        let h = 1e-6;
        let mut numeric = |which: usize, index: usize| {
            let mut eval = |delta: f64| {
                let mut o = Owned {
                    w1: owned.w1.clone(),
                    b1: owned.b1.clone(),
                    w2: owned.w2.clone(),
                    b2: owned.b2.clone(),
                };
                let slot = match which {
                    0 => &mut o.w1[index],
                    1 => &mut o.b1.as_mut().expect("the net has biases")[index],
                    2 => &mut o.w2[index],
                    _ => &mut o.b2.as_mut().expect("the net has biases")[index],
                };
                *slot += delta;
                loss(&net, &o.view(), &x, &y, rows, reduction, &mut ws)
            };
            (eval(h) - eval(-h)) / (2.0 * h)
        };
        let groups = [&analytic.w1, &analytic.b1, &analytic.w2, &analytic.b2];
        for (which, group) in groups.into_iter().enumerate() {
            for (index, &want) in group.iter().enumerate() {
                let got = numeric(which, index);
                assert!(
                    (got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                    "{activation:?} {reduction:?} group {which}[{index}]: {got} vs {want}"
                );
            }
        }
        // The step must not change what `gradients` reported.
        let lr = 0.01;
        let before = owned.w1.clone();
        step(&mut owned.view_mut(), &analytic, lr);
        for ((a, b), g) in owned.w1.iter().zip(&before).zip(&analytic.w1) {
            assert_eq!(*a, b - lr * g);
        }
    }

    #[test]
    fn relu_gradients_match_finite_differences() {
        check_gradients_against_finite_differences(Activation::Relu, Reduction::Sum);
        check_gradients_against_finite_differences(Activation::Relu, Reduction::Mean);
    }

    #[test]
    fn sigmoid_gradients_match_finite_differences() {
        check_gradients_against_finite_differences(Activation::Sigmoid, Reduction::Sum);
        check_gradients_against_finite_differences(Activation::Sigmoid, Reduction::Mean);
    }

    #[test]
    fn gradients_into_caller_buffers_match_the_workspace_gradients() {
        let net = TwoLayer {
            bias: true,
            ..net(5, 4, 3)
        };
        let mut rng = Normal(5);
        let (x, y) = (rng.draw(7 * 5), rng.draw(7 * 3));
        let owned = Owned::new(&net, &mut rng);
        let mut ws = Workspace::new(net, 7).expect("a small workspace");
        let l1 = gradients(&net, &owned.view(), &x, &y, 7, Reduction::Sum, &mut ws);
        let mut mine = Gradients {
            w1: vec![f64::NAN; 20],
            b1: vec![f64::NAN; 4],
            w2: vec![f64::NAN; 12],
            b2: vec![f64::NAN; 3],
        };
        let l2 = gradients_into(
            &net,
            &owned.view(),
            &x,
            &y,
            7,
            Reduction::Sum,
            &mut ws,
            &mut mine.as_mut(),
        );
        assert_eq!(l1, l2);
        assert_eq!(&mine, ws.gradients());
    }

    #[test]
    fn impossible_workspace_is_an_error_not_an_abort() {
        let overflowing = net(1, 1 << 40, 1);
        let err = Workspace::<f64>::new(overflowing, 1 << 30).expect_err("2^70 elements");
        assert_eq!(err.elements, None);
        // 2^61 elements fit in usize but their bytes do not fit in isize.
        let huge = net(1, 1 << 31, 1);
        let err = Workspace::<f64>::new(huge, 1 << 30).expect_err("16 EiB");
        assert_eq!(err.elements, Some(1 << 61));
        assert!(zeroed::<f32>(Some(0)).expect("empty").is_empty());
    }

    #[test]
    fn mean_loss_divides_the_sum_by_the_element_count() {
        let net = net(4, 3, 2);
        let mut rng = Normal(3);
        let (x, y) = (rng.draw(6 * 4), rng.draw(6 * 2));
        let owned = Owned::new(&net, &mut rng);
        let mut ws = Workspace::new(net, 6).expect("a small workspace");
        let sum = loss(&net, &owned.view(), &x, &y, 6, Reduction::Sum, &mut ws);
        let mean = loss(&net, &owned.view(), &x, &y, 6, Reduction::Mean, &mut ws);
        assert!((mean - sum / 12.0).abs() <= 1e-15 * sum);
    }

    /// A scaled-down version of the seed's run: standard-normal data and
    /// weights, ReLU, no biases, sum of squared errors.
    fn seed_like(
        rows: usize,
        input_dim: usize,
        hidden_dim: usize,
    ) -> (TwoLayer, Vec<f64>, Vec<f64>, Owned) {
        let net = net(input_dim, hidden_dim, 1);
        let mut rng = Normal(2024);
        let x = rng.draw(rows * input_dim);
        let y = rng.draw(rows);
        let owned = Owned::new(&net, &mut rng);
        (net, x, y, owned)
    }

    #[test]
    fn fit_drives_the_seed_like_loss_down_by_orders_of_magnitude() {
        let (rows, steps) = (32, 300);
        let (net, x, y, mut owned) = seed_like(rows, 200, 40);
        let mut ws = Workspace::new(net, rows).expect("a small workspace");
        let mut history = vec![0.0; steps];
        let mut config = FitConfig::new(steps, 2e-5);
        config.report_every = 50;
        let mut reports = Vec::new();
        let outcome = fit(
            &net,
            &mut owned.view_mut(),
            &x,
            &y,
            rows,
            &config,
            &mut ws,
            &mut history,
            |done, last| {
                reports.push((done, last));
                true
            },
        )
        .expect("the loss stays finite");
        assert_eq!(
            outcome,
            FitOutcome {
                steps_done: steps,
                stopped_early: false
            }
        );
        assert!(history[0] > 1e4, "start {}", history[0]);
        assert!(
            history[steps - 1] < history[0] * 1e-4,
            "{} -> {}",
            history[0],
            history[steps - 1]
        );
        let done: Vec<usize> = reports.iter().map(|r| r.0).collect();
        assert_eq!(done, vec![50, 100, 150, 200, 250, 300]);
        assert_eq!(reports[5].1, history[steps - 1]);
    }

    #[test]
    fn fit_follows_the_same_path_as_gradients_then_step() {
        let rows = 16;
        let (net, x, y, mut fused) = seed_like(rows, 30, 8);
        let mut manual = Owned {
            w1: fused.w1.clone(),
            b1: None,
            w2: fused.w2.clone(),
            b2: None,
        };
        let (steps, lr) = (20, 1e-4);
        let mut ws = Workspace::new(net, rows).expect("a small workspace");
        let mut history = vec![0.0; steps];
        fit(
            &net,
            &mut fused.view_mut(),
            &x,
            &y,
            rows,
            &FitConfig::new(steps, lr),
            &mut ws,
            &mut history,
            |_, _| true,
        )
        .expect("finite");
        for &recorded in &history {
            let l = gradients(&net, &manual.view(), &x, &y, rows, Reduction::Sum, &mut ws);
            assert_eq!(l, recorded);
            let g = ws.gradients().clone();
            step(&mut manual.view_mut(), &g, lr);
        }
        assert_eq!(manual.w1, fused.w1);
        assert_eq!(manual.w2, fused.w2);
    }

    #[test]
    fn non_finite_loss_stops_before_the_bad_update() {
        let rows = 8;
        let (net, x, y, mut owned) = seed_like(rows, 20, 6);
        let mut ws = Workspace::new(net, rows).expect("a small workspace");
        // A learning rate this large makes the loss overflow within a few steps.
        let steps = 200;
        let mut history = vec![0.0; steps];
        let config = FitConfig {
            report_every: 1,
            ..FitConfig::new(steps, 1e3)
        };
        let err = fit(
            &net,
            &mut owned.view_mut(),
            &x,
            &y,
            rows,
            &config,
            &mut ws,
            &mut history,
            |_, _| true,
        )
        .expect_err("the loss must blow up");
        let FitError::NonFiniteLoss { step: bad, loss } = err;
        assert!(!loss.is_finite());
        assert!(bad > 0 && bad < steps);
        assert!(history[..bad].iter().all(|l| l.is_finite()));
        assert!(err.to_string().contains(&format!("step {bad}")));

        // Replay `bad` steps from the same start: the parameters must equal
        // the failed run's, i.e. the bad step changed nothing.
        let (_, _, _, mut replay) = seed_like(rows, 20, 6);
        let config = FitConfig::new(bad, 1e3);
        fit(
            &net,
            &mut replay.view_mut(),
            &x,
            &y,
            rows,
            &config,
            &mut ws,
            &mut history,
            |_, _| true,
        )
        .expect("the first steps are finite");
        assert_eq!(replay.w1, owned.w1);
        assert_eq!(replay.w2, owned.w2);
    }

    #[test]
    fn callback_returning_false_stops_with_the_steps_done() {
        let rows = 8;
        let (net, x, y, mut owned) = seed_like(rows, 10, 4);
        let mut ws = Workspace::new(net, rows).expect("a small workspace");
        let mut history = vec![f64::NAN; 100];
        let config = FitConfig {
            report_every: 7,
            ..FitConfig::new(100, 1e-4)
        };
        let outcome = fit(
            &net,
            &mut owned.view_mut(),
            &x,
            &y,
            rows,
            &config,
            &mut ws,
            &mut history,
            |done, _| done < 14,
        )
        .expect("finite");
        assert_eq!(
            outcome,
            FitOutcome {
                steps_done: 14,
                stopped_early: true
            }
        );
        assert!(history[..14].iter().all(|l| l.is_finite()));
        assert!(history[14].is_nan());
    }

    #[test]
    fn report_interval_calls_back_before_report_every() {
        let rows = 4;
        let (net, x, y, mut owned) = seed_like(rows, 5, 3);
        let mut ws = Workspace::new(net, rows).expect("a small workspace");
        let steps = 2 * CLOCK_EVERY + 5;
        let mut history = vec![0.0; steps];
        let config = FitConfig {
            report_every: 1000,
            report_interval: Some(Duration::ZERO),
            ..FitConfig::new(steps, 1e-4)
        };
        let mut calls = 0;
        fit(
            &net,
            &mut owned.view_mut(),
            &x,
            &y,
            rows,
            &config,
            &mut ws,
            &mut history,
            |_, _| {
                calls += 1;
                true
            },
        )
        .expect("finite");
        // The clock is read every CLOCK_EVERY steps; the last step always reports.
        assert_eq!(calls, 3);
    }

    #[test]
    fn mini_batches_cycle_through_consecutive_row_blocks() {
        // 10 rows in blocks of 4: rows 0..4, 4..8, 8..10, then 0..4 again.
        let rows = 10;
        let (net, x, y, mut batched) = seed_like(rows, 6, 5);
        let (_, _, _, mut manual) = seed_like(rows, 6, 5);
        let (steps, lr) = (7, 1e-3);
        let mut ws = Workspace::new(net, 4).expect("a small workspace");
        let mut history = vec![0.0; steps];
        let config = FitConfig {
            batch_size: Some(4),
            ..FitConfig::new(steps, lr)
        };
        fit(
            &net,
            &mut batched.view_mut(),
            &x,
            &y,
            rows,
            &config,
            &mut ws,
            &mut history,
            |_, _| true,
        )
        .expect("finite");
        let blocks = [(0, 4), (4, 8), (8, 10)];
        for (s, &recorded) in history.iter().enumerate() {
            let (start, end) = blocks[s % 3];
            let l = gradients(
                &net,
                &manual.view(),
                &x[start * 6..end * 6],
                &y[start..end],
                end - start,
                Reduction::Sum,
                &mut ws,
            );
            assert_eq!(l, recorded, "step {s}");
            let g = ws.gradients().clone();
            step(&mut manual.view_mut(), &g, lr);
        }
        assert_eq!(manual.w1, batched.w1);
    }

    #[test]
    fn training_is_independent_of_thread_count() {
        // Large enough that every product runs on the parallel faer path.
        let rows = 96;
        let (net, x, y, start) = seed_like(rows, 300, 64);
        let run = |threads: usize| {
            parallel::set_num_threads(threads);
            let mut owned = Owned {
                w1: start.w1.clone(),
                b1: None,
                w2: start.w2.clone(),
                b2: None,
            };
            let mut ws = Workspace::new(net, rows).expect("a small workspace");
            let mut history = vec![0.0; 5];
            fit(
                &net,
                &mut owned.view_mut(),
                &x,
                &y,
                rows,
                &FitConfig::new(5, 1e-6),
                &mut ws,
                &mut history,
                |_, _| true,
            )
            .expect("finite");
            (history, owned.w1, owned.w2)
        };
        let before = parallel::num_threads();
        let one = run(1);
        let three = run(3);
        parallel::set_num_threads(before);
        assert_eq!(one, three);
    }

    #[test]
    fn float32_trains_natively() {
        let net = net(8, 4, 1);
        let mut rng = Normal(11);
        let to32 = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
        let (x, y) = (to32(rng.draw(16 * 8)), to32(rng.draw(16)));
        let (mut w1, mut w2) = (to32(rng.draw(32)), to32(rng.draw(4)));
        let mut params = ParamsMut {
            w1: &mut w1,
            b1: None,
            w2: &mut w2,
            b2: None,
        };
        let mut ws = Workspace::<f32>::new(net, 16).expect("a small workspace");
        let mut history = vec![0.0_f32; 200];
        fit(
            &net,
            &mut params,
            &x,
            &y,
            16,
            &FitConfig::new(200, 1e-3),
            &mut ws,
            &mut history,
            |_, _| true,
        )
        .expect("finite");
        assert!(
            history[199] < history[0] * 0.1,
            "{} -> {}",
            history[0],
            history[199]
        );
    }
}
