//! `Network`: one object owning an N-layer network's shapes, workspace and optimizer state.
//!
//! The estimator keeps its parameters in its own numpy arrays and passes
//! them to every call; the object reads them and, in `epoch`, updates them
//! in place. It validates and converts, then calls `kernels::network`; it
//! never calls back into a Python module. Long work runs detached from the
//! GIL, and an epoch re-attaches between batches (at most every 25 ms) to
//! let Ctrl-C raise `KeyboardInterrupt`.

mod arrays;
mod state;

use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::bindings::error::{Error, Result};
use pyo3::types::PyDict;

use self::arrays::{check_no_overlap, layer_arrays, targets, weights, Checked, Extent, Samples};
use crate::bindings::convert::{maybe_detached, new_array, PyFloat};
use crate::kernels::network::{
    self, Gradients, Hidden, Interrupted, Layout, Loss, Optimizer, Output, Real, Workspace,
};

/// The longest an epoch runs without checking for Ctrl-C: re-attaching
/// costs nothing next to a batch (`benches/network_per_batch.py`; figures in
/// docs/performance.md).
const CHECK_INTERVAL: Duration = Duration::from_millis(25);

/// The element types the network computes in.
trait NetFloat: PyFloat + Real {}

impl<T: PyFloat + Real> NetFloat for T {}

/// What one dtype's network keeps between calls.
struct State<T> {
    optimizer: Option<Optimizer<T>>,
    workspace: Workspace<T>,
}

impl<T: NetFloat> State<T> {
    fn new() -> Self {
        State {
            optimizer: None,
            workspace: Workspace::new(),
        }
    }
}

enum Engine {
    F32(State<f32>),
    F64(State<f64>),
}

/// Runs `$body` with `$state` bound to the typed state, whichever the dtype.
macro_rules! typed {
    ($engine:expr, $state:ident => $body:expr) => {
        match $engine {
            Engine::F32($state) => $body,
            Engine::F64($state) => $body,
        }
    };
}

/// A feed-forward network of scikit-learn's MLP: its layer sizes,
/// activations, loss, workspace and optimizer state.
#[pyclass(module = "neurust._core", name = "Network")]
pub struct Network {
    layout: Layout,
    engine: Engine,
}

fn parse<V>(value: &str, name: &str, parsed: Option<V>, choices: &str) -> Result<V> {
    parsed.ok_or_else(|| {
        Error::value(format!(
            "{name} is {value:?}, but it must be one of {choices}"
        ))
    })
}

fn no_optimizer() -> Error {
    Error::runtime("the network has no optimizer yet: call set_sgd or set_adam first")
}

/// The samples, targets and sample weights of a training call, each checked
/// against the layout and the number of rows.
type Labelled<'py, T> = (Samples<'py, T>, Checked<'py, T>, Option<Checked<'py, T>>);

fn labelled<'py, T: NetFloat>(
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    layout: &Layout,
) -> Result<Labelled<'py, T>> {
    let samples = Samples::<T>::new(x, layout)?;
    let rows = samples.rows();
    let y = targets::<T>(y, rows, layout)?;
    let w = weights::<T>(sample_weight, rows)?;
    Ok((samples, y, w))
}

/// Every writeable array against every other array of the call.
fn check_overlaps<T: NetFloat>(
    samples: &Samples<'_, T>,
    read: &[&Checked<'_, T>],
    lists: &[&[Checked<'_, T>]],
) -> Result<()> {
    let mut extents: Vec<Extent> = samples.extents();
    extents.extend(read.iter().map(|a| a.extent));
    for list in lists {
        extents.extend(list.iter().map(|a| a.extent));
    }
    check_no_overlap(&extents)
}

fn forward_typed<'py, T: NetFloat>(
    layout: &Layout,
    state: &mut State<T>,
    x: &Bound<'py, PyAny>,
    coefs: &Bound<'py, PyAny>,
    intercepts: &Bound<'py, PyAny>,
) -> Result<Bound<'py, PyAny>> {
    let py = x.py();
    let samples = Samples::<T>::new(x, layout)?;
    let coefs = layer_arrays::<T>(coefs, "coefs", layout, true, false)?;
    let intercepts = layer_arrays::<T>(intercepts, "intercepts", layout, false, false)?;
    let rows = samples.rows();
    let out = new_array::<T>(py, &[rows, layout.outputs()])?;
    // SAFETY: every array is checked C-contiguous and aligned; `out` is new,
    // so nothing else aliases it; the slices end with this call.
    unsafe {
        let input = samples.input()?;
        let coefs: Vec<&[T]> = coefs.iter().map(|a| a.slice()).collect();
        let intercepts: Vec<&[T]> = intercepts.iter().map(|a| a.slice()).collect();
        let out_slice = crate::bindings::convert::as_slice_mut(&out);
        let work = rows * layout.sizes.iter().sum::<usize>();
        let workspace = &mut state.workspace;
        maybe_detached(py, work, || {
            network::forward(layout, &coefs, &intercepts, &input, out_slice, workspace)
        })?;
    }
    Ok(out.into_any())
}

#[allow(clippy::too_many_arguments)]
fn loss_gradient_typed<'py, T: NetFloat>(
    layout: &Layout,
    state: &mut State<T>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    coefs: &Bound<'py, PyAny>,
    intercepts: &Bound<'py, PyAny>,
    alpha: f64,
    coef_grads: &Bound<'py, PyAny>,
    intercept_grads: &Bound<'py, PyAny>,
) -> Result<f64> {
    let py = x.py();
    let (samples, y, w) = labelled::<T>(x, y, sample_weight, layout)?;
    let rows = samples.rows();
    let coefs = layer_arrays::<T>(coefs, "coefs", layout, true, false)?;
    let intercepts = layer_arrays::<T>(intercepts, "intercepts", layout, false, false)?;
    let coef_grads = layer_arrays::<T>(coef_grads, "coef_grads", layout, true, true)?;
    let intercept_grads =
        layer_arrays::<T>(intercept_grads, "intercept_grads", layout, false, true)?;
    let mut read = vec![&y];
    read.extend(w.as_ref());
    check_overlaps(
        &samples,
        &read,
        &[&coefs, &intercepts, &coef_grads, &intercept_grads],
    )?;
    // SAFETY: checked C-contiguous and aligned; the gradients (the only
    // arrays written) overlap no other array of the call.
    let loss = unsafe {
        let input = samples.input()?;
        let (y, w) = (y.slice(), w.as_ref().map(|w| w.slice()));
        let coefs: Vec<&[T]> = coefs.iter().map(|a| a.slice()).collect();
        let intercepts: Vec<&[T]> = intercepts.iter().map(|a| a.slice()).collect();
        let mut coef_grads: Vec<&mut [T]> = coef_grads.iter().map(|a| a.slice_mut()).collect();
        let mut intercept_grads: Vec<&mut [T]> =
            intercept_grads.iter().map(|a| a.slice_mut()).collect();
        let work = rows * layout.sizes.iter().sum::<usize>();
        let workspace = &mut state.workspace;
        maybe_detached(py, work, || {
            network::loss_gradient(
                layout,
                &coefs,
                &intercepts,
                &input,
                y,
                w,
                alpha,
                Gradients {
                    coefs: &mut coef_grads,
                    intercepts: &mut intercept_grads,
                },
                workspace,
            )
        })?
    };
    Ok(loss.to_f64())
}

#[allow(clippy::too_many_arguments)]
fn epoch_typed<'py, T: NetFloat>(
    layout: &Layout,
    state: &mut State<T>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    sample_weight: &Bound<'py, PyAny>,
    coefs: &Bound<'py, PyAny>,
    intercepts: &Bound<'py, PyAny>,
    order: &Bound<'py, PyAny>,
    batch_size: usize,
    alpha: f64,
) -> Result<f64> {
    let py = x.py();
    let optimizer = state.optimizer.as_mut().ok_or_else(no_optimizer)?;
    let (samples, y, w) = labelled::<T>(x, y, sample_weight, layout)?;
    let rows = samples.rows();
    let coefs = layer_arrays::<T>(coefs, "coefs", layout, true, true)?;
    let intercepts = layer_arrays::<T>(intercepts, "intercepts", layout, false, true)?;
    let order = arrays::array::<isize>(order, "order", None, 1, false)?;
    let mut read = vec![&y];
    read.extend(w.as_ref());
    check_overlaps(&samples, &read, &[&coefs, &intercepts])?;
    // SAFETY: `order` is an aligned contiguous intp array that nothing here
    // writes.
    let order_values = unsafe { order.slice() };
    if let Some((position, &row)) = order_values
        .iter()
        .enumerate()
        .find(|(_, &row)| row < 0 || row as usize >= rows)
    {
        return Err(Error::value(format!(
            "order[{position}] is {row}, but X has {rows} samples"
        )));
    }
    // SAFETY: isize and usize have the same size and alignment, and every
    // value was just checked to be non-negative, so each reads the same.
    let order_rows: &[usize] =
        unsafe { std::slice::from_raw_parts(order_values.as_ptr().cast(), order_values.len()) };
    let mut interrupted: Option<PyErr> = None;
    // SAFETY: checked C-contiguous and aligned; the parameters (the only
    // arrays written) overlap no other array of the call.
    let outcome = unsafe {
        let input = samples.input()?;
        let (y, w) = (y.slice(), w.as_ref().map(|w| w.slice()));
        let mut coefs: Vec<&mut [T]> = coefs.iter().map(|a| a.slice_mut()).collect();
        let mut intercepts: Vec<&mut [T]> = intercepts.iter().map(|a| a.slice_mut()).collect();
        let workspace = &mut state.workspace;
        let interrupted = &mut interrupted;
        py.detach(|| {
            let mut checked = Instant::now();
            let keep_going = || {
                if checked.elapsed() < CHECK_INTERVAL {
                    return true;
                }
                checked = Instant::now();
                match Python::attach(|py| py.check_signals()) {
                    Ok(()) => true,
                    Err(err) => {
                        *interrupted = Some(err);
                        false
                    }
                }
            };
            network::epoch(
                layout,
                &mut coefs,
                &mut intercepts,
                &input,
                y,
                w,
                order_rows,
                batch_size,
                alpha,
                optimizer,
                workspace,
                keep_going,
            )
        })?
    };
    match (outcome, interrupted) {
        (Ok(total), _) => Ok(total.to_f64()),
        (Err(Interrupted { .. }), Some(err)) => Err(err.into()),
        (Err(Interrupted { batches }), None) => Err(Error::runtime(format!(
            "the epoch stopped after {batches} batches"
        ))),
    }
}

#[pymethods]
impl Network {
    /// Network(layer_sizes, hidden_activation, out_activation, loss, dtype)
    ///
    /// ``layer_sizes`` is ``[n_features, hidden..., n_outputs]``;
    /// ``hidden_activation`` one of identity, logistic, tanh, relu;
    /// ``out_activation`` one of identity, logistic, softmax, exp; ``loss``
    /// one of squared_error, poisson, log_loss, binary_log_loss (log_loss
    /// with a logistic output computes binary_log_loss, as scikit-learn);
    /// ``dtype`` "float32" or "float64".
    #[new]
    fn new(
        layer_sizes: &Bound<'_, PyAny>,
        hidden_activation: &str,
        out_activation: &str,
        loss: &str,
        dtype: &str,
    ) -> Result<Self> {
        let sizes: Vec<i64> = layer_sizes
            .extract()
            .map_err(|_| Error::type_("layer_sizes must be a list of ints"))?;
        let sizes = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| {
                usize::try_from(size).map_err(|_| {
                    Error::value(format!("layer_sizes[{i}] is {size}, but must be >= 1"))
                })
            })
            .collect::<Result<Vec<usize>>>()?;
        let hidden = parse(
            hidden_activation,
            "hidden_activation",
            Hidden::from_name(hidden_activation),
            "'identity', 'logistic', 'tanh', 'relu'",
        )?;
        let output = parse(
            out_activation,
            "out_activation",
            Output::from_name(out_activation),
            "'identity', 'logistic', 'softmax', 'exp'",
        )?;
        let loss = parse(
            loss,
            "loss",
            Loss::from_name(loss),
            "'squared_error', 'poisson', 'log_loss', 'binary_log_loss'",
        )?;
        let layout = Layout::new(sizes, hidden, output, loss).map_err(Error::value)?;
        let engine = match dtype {
            "float32" => Engine::F32(State::new()),
            "float64" => Engine::F64(State::new()),
            other => {
                return Err(Error::value(format!(
                    "dtype is {other:?}, but it must be 'float32' or 'float64'"
                )))
            }
        };
        Ok(Network { layout, engine })
    }

    #[getter]
    fn layer_sizes(&self) -> Vec<usize> {
        self.layout.sizes.clone()
    }

    #[getter]
    fn dtype(&self) -> &'static str {
        match self.engine {
            Engine::F32(_) => "float32",
            Engine::F64(_) => "float64",
        }
    }

    #[getter]
    fn hidden_activation(&self) -> &'static str {
        self.layout.hidden.name()
    }

    #[getter]
    fn out_activation(&self) -> &'static str {
        self.layout.output.name()
    }

    #[getter]
    fn loss(&self) -> &'static str {
        self.layout.loss.name()
    }

    /// The output layer's activations for ``X``: shape (n_samples, n_outputs).
    #[allow(non_snake_case)]
    fn forward<'py>(
        &mut self,
        X: &Bound<'py, PyAny>,
        coefs: &Bound<'py, PyAny>,
        intercepts: &Bound<'py, PyAny>,
    ) -> Result<Bound<'py, PyAny>> {
        let layout = &self.layout;
        typed!(&mut self.engine, state => forward_typed(layout, state, X, coefs, intercepts))
    }

    /// scikit-learn's ``_backprop`` over all of ``X``: returns the loss with
    /// the L2 term and writes the gradients into ``coef_grads`` and
    /// ``intercept_grads``.
    #[allow(clippy::too_many_arguments)]
    #[allow(non_snake_case)]
    fn loss_gradient(
        &mut self,
        X: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
        sample_weight: &Bound<'_, PyAny>,
        coefs: &Bound<'_, PyAny>,
        intercepts: &Bound<'_, PyAny>,
        alpha: f64,
        coef_grads: &Bound<'_, PyAny>,
        intercept_grads: &Bound<'_, PyAny>,
    ) -> Result<f64> {
        let layout = &self.layout;
        typed!(&mut self.engine, state => loss_gradient_typed(
            layout, state, X, y, sample_weight, coefs, intercepts, alpha, coef_grads,
            intercept_grads,
        ))
    }

    /// (Re)creates SGD's state with zero velocities.
    fn set_sgd(&mut self, learning_rate: f64, momentum: f64, nesterov: bool) -> Result<()> {
        let layout = &self.layout;
        typed!(&mut self.engine, state => {
            state.optimizer = Some(Optimizer::sgd(layout, learning_rate, momentum, nesterov)?);
        });
        Ok(())
    }

    /// (Re)creates Adam's state: ``t = 0``, zero moments.
    fn set_adam(
        &mut self,
        learning_rate_init: f64,
        beta_1: f64,
        beta_2: f64,
        epsilon: f64,
    ) -> Result<()> {
        let layout = &self.layout;
        typed!(&mut self.engine, state => {
            state.optimizer = Some(Optimizer::adam(
                layout, learning_rate_init, beta_1, beta_2, epsilon,
            )?);
        });
        Ok(())
    }

    /// SGD's current rate, or Adam's initial rate.
    #[getter]
    fn get_learning_rate(&self) -> Result<f64> {
        typed!(&self.engine, state => match &state.optimizer {
            Some(Optimizer::Sgd(sgd)) => Ok(sgd.learning_rate),
            Some(Optimizer::Adam(adam)) => Ok(adam.learning_rate_init),
            None => Err(no_optimizer()),
        })
    }

    #[setter]
    fn set_learning_rate(&mut self, value: f64) -> Result<()> {
        typed!(&mut self.engine, state => match &mut state.optimizer {
            Some(Optimizer::Sgd(sgd)) => { sgd.learning_rate = value; Ok(()) }
            Some(Optimizer::Adam(adam)) => { adam.learning_rate_init = value; Ok(()) }
            None => Err(no_optimizer()),
        })
    }

    /// One epoch in place: batches of ``batch_size`` consecutive entries of
    /// ``order``, each gathered, back-propagated (with the L2 term) and
    /// applied by the optimizer. Returns ``Σ batch_loss · batch_rows``.
    #[allow(clippy::too_many_arguments)]
    #[allow(non_snake_case)]
    fn epoch(
        &mut self,
        X: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
        sample_weight: &Bound<'_, PyAny>,
        coefs: &Bound<'_, PyAny>,
        intercepts: &Bound<'_, PyAny>,
        order: &Bound<'_, PyAny>,
        batch_size: i64,
        alpha: f64,
    ) -> Result<f64> {
        let batch_size = usize::try_from(batch_size)
            .ok()
            .filter(|&b| b > 0)
            .ok_or_else(|| Error::value(format!("batch_size is {batch_size}, but must be >= 1")))?;
        let layout = &self.layout;
        typed!(&mut self.engine, state => epoch_typed(
            layout, state, X, y, sample_weight, coefs, intercepts, order, batch_size, alpha,
        ))
    }

    /// The optimizer's state as a dict (None before set_sgd/set_adam).
    fn optimizer_state<'py>(&self, py: Python<'py>) -> Result<Option<Bound<'py, PyDict>>> {
        let layout = &self.layout;
        typed!(&self.engine, state => state
            .optimizer
            .as_ref()
            .map(|optimizer| state::to_dict(py, layout, optimizer))
            .transpose())
    }

    /// Restores what ``optimizer_state`` returned (None removes the optimizer).
    fn set_optimizer_state(&mut self, state: &Bound<'_, PyAny>) -> Result<()> {
        let layout = &self.layout;
        if state.is_none() {
            typed!(&mut self.engine, typed => typed.optimizer = None);
            return Ok(());
        }
        let dict = state
            .cast::<PyDict>()
            .map_err(|_| Error::type_("state must be a dict or None"))?;
        typed!(&mut self.engine, typed => {
            typed.optimizer = Some(state::from_dict(dict, layout)?);
        });
        Ok(())
    }

    fn __getnewargs__(
        &self,
    ) -> (
        Vec<usize>,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ) {
        (
            self.layout.sizes.clone(),
            self.layout.hidden.name(),
            self.layout.output.name(),
            self.layout.loss.name(),
            self.dtype(),
        )
    }

    fn __getstate__<'py>(&self, py: Python<'py>) -> Result<Option<Bound<'py, PyDict>>> {
        self.optimizer_state(py)
    }

    fn __setstate__(&mut self, state: &Bound<'_, PyAny>) -> Result<()> {
        self.set_optimizer_state(state)
    }

    fn __repr__(&self) -> String {
        format!(
            "Network({:?}, {:?}, {:?}, {:?}, {:?})",
            self.layout.sizes,
            self.layout.hidden.name(),
            self.layout.output.name(),
            self.layout.loss.name(),
            self.dtype()
        )
    }
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Network>()
}
