//! Bindings for the two-layer network: forward, loss, gradients and the fused training loop.
//!
//! The parameters' dtype decides the arithmetic: `x` and `y` are converted to
//! the dtype of `w1`, so a float32 model trains in float32 end to end.
//! `mlp_fit` updates the parameter arrays in place with the GIL released and
//! re-attaches between chunks of steps (every `CHECK_INTERVAL` at the latest)
//! to run Python's signal handlers, so Ctrl-C raises `KeyboardInterrupt`
//! promptly, and to call an optional progress callback.

use std::time::Duration;

use numpy::prelude::*;
use numpy::{PyArray, PyArrayDyn, PyUntypedArray};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::convert::{
    as_slice, as_slice_mut, float_array, maybe_detached, new_array, scalar, shape_str, FloatArray,
    PyFloat,
};
use crate::kernels::activation::Activation;
use crate::kernels::alloc::zeroed;
use crate::kernels::mlp::{
    self, FitConfig, FitError, GradientsMut, Params, ParamsMut, Reduction, TwoLayer, Workspace,
};

/// The longest a training loop runs without checking for Ctrl-C: well under
/// the 100 ms a person notices, and re-attaching costs about a microsecond.
const CHECK_INTERVAL: Duration = Duration::from_millis(25);

fn parse_activation(name: &str) -> PyResult<Activation> {
    match Activation::from_name(name) {
        Some(act @ (Activation::Relu | Activation::Sigmoid)) => Ok(act),
        // The step's derivative is zero everywhere: nothing would train.
        _ => Err(PyValueError::new_err(format!(
            "activation must be 'relu' or 'sigmoid', got {name:?}"
        ))),
    }
}

fn parse_reduction(name: &str) -> PyResult<Reduction> {
    Reduction::from_name(name).ok_or_else(|| {
        PyValueError::new_err(format!("reduction must be 'sum' or 'mean', got {name:?}"))
    })
}

/// The network described by the parameters' shapes, or a ValueError naming
/// the parameter that does not fit.
fn describe(
    w1: &[usize],
    b1: Option<&[usize]>,
    w2: &[usize],
    b2: Option<&[usize]>,
    activation: Activation,
) -> PyResult<TwoLayer> {
    let [input_dim, hidden_dim] = *w1 else {
        return Err(PyValueError::new_err(format!(
            "w1 must be 2-D (input_dim, hidden_dim), but has shape {}",
            shape_str(w1)
        )));
    };
    let [w2_rows, output_dim] = *w2 else {
        return Err(PyValueError::new_err(format!(
            "w2 must be 2-D (hidden_dim, output_dim), but has shape {}",
            shape_str(w2)
        )));
    };
    if w2_rows != hidden_dim {
        return Err(PyValueError::new_err(format!(
            "w2 has shape {}, but w1 has shape {} ({hidden_dim} hidden units); \
             w2 needs {hidden_dim} rows",
            shape_str(w2),
            shape_str(w1)
        )));
    }
    match (b1, b2) {
        (None, None) => {}
        (Some(b1), Some(b2)) => {
            if b1 != [hidden_dim] {
                return Err(PyValueError::new_err(format!(
                    "b1 has shape {}, but w1 has {hidden_dim} columns; b1 needs shape ({hidden_dim},)",
                    shape_str(b1)
                )));
            }
            if b2 != [output_dim] {
                return Err(PyValueError::new_err(format!(
                    "b2 has shape {}, but w2 has {output_dim} columns; b2 needs shape ({output_dim},)",
                    shape_str(b2)
                )));
            }
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(PyValueError::new_err(
                "b1 and b2 must both be given (a net with biases) or both be None",
            ))
        }
    }
    Ok(TwoLayer {
        input_dim,
        hidden_dim,
        output_dim,
        activation,
        bias: b1.is_some(),
    })
}

/// The number of rows of `x` (and `y`), or a ValueError naming the mismatch.
fn check_data(net: &TwoLayer, x: &[usize], y: Option<&[usize]>) -> PyResult<usize> {
    let [rows, cols] = *x else {
        return Err(PyValueError::new_err(format!(
            "x must be 2-D (samples, input_dim), but has shape {}",
            shape_str(x)
        )));
    };
    if cols != net.input_dim {
        return Err(PyValueError::new_err(format!(
            "x has shape {}, but the net has input_dim {}; x needs {} columns",
            shape_str(x),
            net.input_dim,
            net.input_dim
        )));
    }
    if let Some(y) = y {
        if y != [rows, net.output_dim] {
            return Err(PyValueError::new_err(format!(
                "y has shape {}, but x has shape {} and the net has output_dim {}; \
                 y needs shape ({rows}, {})",
                shape_str(y),
                shape_str(x),
                net.output_dim,
                net.output_dim
            )));
        }
    }
    Ok(rows)
}

/// Parameters and data converted to one dtype, for the read-only calls.
struct Arrays<'py, T: PyFloat> {
    x: Bound<'py, PyArrayDyn<T>>,
    y: Option<Bound<'py, PyArrayDyn<T>>>,
    w1: Bound<'py, PyArrayDyn<T>>,
    b1: Option<Bound<'py, PyArrayDyn<T>>>,
    w2: Bound<'py, PyArrayDyn<T>>,
    b2: Option<Bound<'py, PyArrayDyn<T>>>,
}

/// The untyped arguments of a read-only call, each already an aligned
/// C-contiguous float array.
struct Raw<'py> {
    x: FloatArray<'py>,
    y: Option<FloatArray<'py>>,
    w1: FloatArray<'py>,
    b1: Option<FloatArray<'py>>,
    w2: FloatArray<'py>,
    b2: Option<FloatArray<'py>>,
}

fn optional<'py>(obj: Option<&Bound<'py, PyAny>>, name: &str) -> PyResult<Option<FloatArray<'py>>> {
    match obj {
        Some(obj) if !obj.is_none() => Ok(Some(float_array(obj, name)?)),
        _ => Ok(None),
    }
}

impl<'py> Raw<'py> {
    fn new(
        x: &Bound<'py, PyAny>,
        y: Option<&Bound<'py, PyAny>>,
        w1: &Bound<'py, PyAny>,
        b1: Option<&Bound<'py, PyAny>>,
        w2: &Bound<'py, PyAny>,
        b2: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        Ok(Raw {
            x: float_array(x, "x")?,
            y: optional(y, "y")?,
            w1: float_array(w1, "w1")?,
            b1: optional(b1, "b1")?,
            w2: float_array(w2, "w2")?,
            b2: optional(b2, "b2")?,
        })
    }

    fn typed<T: PyFloat>(self) -> PyResult<Arrays<'py, T>> {
        let convert = |a: Option<FloatArray<'py>>| a.map(T::from_array).transpose();
        Ok(Arrays {
            x: T::from_array(self.x)?,
            y: convert(self.y)?,
            w1: T::from_array(self.w1)?,
            b1: convert(self.b1)?,
            w2: T::from_array(self.w2)?,
            b2: convert(self.b2)?,
        })
    }
}

impl<'py, T: PyFloat> Arrays<'py, T> {
    fn net(&self, activation: Activation) -> PyResult<(TwoLayer, usize)> {
        let net = describe(
            self.w1.shape(),
            self.b1.as_ref().map(|b| b.shape()),
            self.w2.shape(),
            self.b2.as_ref().map(|b| b.shape()),
            activation,
        )?;
        let rows = check_data(&net, self.x.shape(), self.y.as_ref().map(|y| y.shape()))?;
        Ok((net, rows))
    }

    /// # Safety
    /// The arrays are aligned and C-contiguous (every `FloatArray` is), and
    /// the read-only calls write none of them.
    unsafe fn params(&self) -> Params<'_, T> {
        Params {
            w1: as_slice(&self.w1),
            b1: self.b1.as_ref().map(|b| as_slice(b)),
            w2: as_slice(&self.w2),
            b2: self.b2.as_ref().map(|b| as_slice(b)),
        }
    }
}

fn work(net: &TwoLayer, rows: usize) -> usize {
    rows.saturating_mul(net.input_dim)
        .saturating_mul(net.hidden_dim)
}

fn copy_out<'py, T: PyFloat>(
    py: Python<'py>,
    shape: &[usize],
    data: &[T],
) -> PyResult<Bound<'py, PyAny>> {
    let array = new_array::<T>(py, shape)?;
    // SAFETY: the array is fresh, C-contiguous and exactly `data.len()` long
    // (its shape is the predictions'), and every element is written here.
    unsafe { as_slice_mut(&array) }.copy_from_slice(data);
    Ok(array.into_any())
}

fn forward_typed<'py, T: PyFloat>(
    raw: Raw<'py>,
    activation: Activation,
) -> PyResult<Bound<'py, PyAny>> {
    let arrays = raw.typed::<T>()?;
    let py = arrays.x.py();
    let (net, rows) = arrays.net(activation)?;
    let mut workspace = Workspace::<T>::new(net, rows)?;
    // SAFETY: see `Arrays::params`; `x` is likewise only read.
    let (params, x) = unsafe { (arrays.params(), as_slice(&arrays.x)) };
    maybe_detached(py, work(&net, rows), || {
        mlp::forward(&net, &params, x, rows, &mut workspace);
    });
    copy_out(py, &[rows, net.output_dim], workspace.predictions(rows))
}

/// The two-layer network's predictions: ``act(x @ w1 + b1) @ w2 + b2``.
///
/// Parameters
/// ----------
/// x : array_like, shape (n, input_dim)
///     One sample per row; converted to the dtype of ``w1``.
/// w1 : array_like, shape (input_dim, hidden_dim)
/// b1 : array_like, shape (hidden_dim,), or None
/// w2 : array_like, shape (hidden_dim, output_dim)
/// b2 : array_like, shape (output_dim,), or None
///     The biases are both given or both None.
/// activation : {"relu", "sigmoid"}
///
/// Returns
/// -------
/// ndarray, shape (n, output_dim)
///     In the dtype of ``w1`` (float32 or float64).
///
/// Raises
/// ------
/// ValueError
///     If the shapes do not chain or ``activation`` is unknown.
/// TypeError
///     If an argument is not real numbers.
///
/// Examples
/// --------
/// >>> _core.mlp_forward([[2.0, 3.0, 4.0]], [[1.0], [-1.0], [5.0]], None, [[1.0]], None, "relu")
/// array([[19.]])
#[pyfunction(name = "mlp_forward", signature = (x, w1, b1, w2, b2, activation, /))]
fn mlp_forward_py<'py>(
    x: &Bound<'py, PyAny>,
    w1: &Bound<'py, PyAny>,
    b1: Option<&Bound<'py, PyAny>>,
    w2: &Bound<'py, PyAny>,
    b2: Option<&Bound<'py, PyAny>>,
    activation: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let activation = parse_activation(activation)?;
    let raw = Raw::new(x, None, w1, b1, w2, b2)?;
    if raw.w1.is_f64() {
        forward_typed::<f64>(raw, activation)
    } else {
        forward_typed::<f32>(raw, activation)
    }
}

fn loss_typed<'py, T: PyFloat>(
    raw: Raw<'py>,
    activation: Activation,
    reduction: Reduction,
    with_gradients: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let arrays = raw.typed::<T>()?;
    let py = arrays.x.py();
    let (net, rows) = arrays.net(activation)?;
    let Some(y_array) = arrays.y.as_ref() else {
        return Err(PyValueError::new_err("y is required"));
    };
    let mut workspace = Workspace::<T>::new(net, rows)?;
    // SAFETY: see `Arrays::params`; `x` and `y` are likewise only read.
    let (params, x, y) = unsafe { (arrays.params(), as_slice(&arrays.x), as_slice(y_array)) };
    if !with_gradients {
        let loss = maybe_detached(py, work(&net, rows), || {
            mlp::loss(&net, &params, x, y, rows, reduction, &mut workspace)
        });
        return scalar(py, loss);
    }
    let dw1 = new_array::<T>(py, &[net.input_dim, net.hidden_dim])?;
    let dw2 = new_array::<T>(py, &[net.hidden_dim, net.output_dim])?;
    let (db1, db2) = if net.bias {
        (
            Some(new_array::<T>(py, &[net.hidden_dim])?),
            Some(new_array::<T>(py, &[net.output_dim])?),
        )
    } else {
        (None, None)
    };
    // SAFETY: the gradient arrays are fresh (aliasing nothing), C-contiguous,
    // shaped like the parameters, and written in full by the backward pass.
    let mut out = unsafe {
        GradientsMut {
            w1: as_slice_mut(&dw1),
            b1: db1.as_ref().map(|b| as_slice_mut(b)),
            w2: as_slice_mut(&dw2),
            b2: db2.as_ref().map(|b| as_slice_mut(b)),
        }
    };
    let loss = maybe_detached(py, work(&net, rows), || {
        mlp::gradients_into(
            &net,
            &params,
            x,
            y,
            rows,
            reduction,
            &mut workspace,
            &mut out,
        )
    });
    let none = || py.None().into_bound(py);
    let items = [
        scalar(py, loss)?,
        dw1.into_any(),
        db1.map_or_else(none, Bound::into_any),
        dw2.into_any(),
        db2.map_or_else(none, Bound::into_any),
    ];
    Ok(PyTuple::new(py, items)?.into_any())
}

fn loss_or_gradients<'py>(
    raw: Raw<'py>,
    activation: &str,
    reduction: &str,
    with_gradients: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let activation = parse_activation(activation)?;
    let reduction = parse_reduction(reduction)?;
    if raw.w1.is_f64() {
        loss_typed::<f64>(raw, activation, reduction, with_gradients)
    } else {
        loss_typed::<f32>(raw, activation, reduction, with_gradients)
    }
}

/// The two-layer network's loss: ``Σ (P - y)²`` for ``reduction="sum"``,
/// divided by ``y.size`` for ``"mean"``, where ``P = mlp_forward(x, ...)``.
///
/// Parameters
/// ----------
/// x : array_like, shape (n, input_dim)
/// y : array_like, shape (n, output_dim)
/// w1, b1, w2, b2, activation
///     As for :func:`mlp_forward`.
/// reduction : {"sum", "mean"}
///
/// Returns
/// -------
/// numpy.float64 or numpy.float32
///     In the dtype of ``w1``.
///
/// Raises
/// ------
/// ValueError
///     If the shapes do not chain or a name is unknown.
/// TypeError
///     If an argument is not real numbers.
///
/// Examples
/// --------
/// >>> _core.mlp_loss([[1.0]], [[3.0]], [[1.0]], None, [[1.0]], None, "relu", "sum")
/// np.float64(4.0)
#[pyfunction(
    name = "mlp_loss",
    signature = (x, y, w1, b1, w2, b2, activation, reduction = "sum", /)
)]
#[allow(clippy::too_many_arguments)]
fn mlp_loss_py<'py>(
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    w1: &Bound<'py, PyAny>,
    b1: Option<&Bound<'py, PyAny>>,
    w2: &Bound<'py, PyAny>,
    b2: Option<&Bound<'py, PyAny>>,
    activation: &str,
    reduction: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let raw = Raw::new(x, Some(y), w1, b1, w2, b2)?;
    loss_or_gradients(raw, activation, reduction, false)
}

/// The loss and its gradients with respect to every parameter (backprop).
///
/// With ``D = dL/dP`` (``2 (P - y)``, over ``y.size`` for the mean):
/// ``dw2 = A.T @ D``, ``db2 = D.sum(0)``, ``dH = act'(H) * (D @ w2.T)``,
/// ``dw1 = x.T @ dH``, ``db1 = dH.sum(0)``, where ``H = x @ w1 + b1`` and
/// ``A = act(H)``.
///
/// Parameters
/// ----------
/// x, y, w1, b1, w2, b2, activation, reduction
///     As for :func:`mlp_loss`.
///
/// Returns
/// -------
/// tuple
///     ``(loss, dw1, db1, dw2, db2)``: gradients shaped like the parameters,
///     in the dtype of ``w1``; ``db1`` and ``db2`` are None without biases.
///
/// Raises
/// ------
/// ValueError
///     If the shapes do not chain or a name is unknown.
/// TypeError
///     If an argument is not real numbers.
///
/// Examples
/// --------
/// >>> _core.mlp_gradients([[1.0]], [[3.0]], [[1.0]], None, [[1.0]], None, "relu", "sum")[1]
/// array([[-4.]])
#[pyfunction(
    name = "mlp_gradients",
    signature = (x, y, w1, b1, w2, b2, activation, reduction = "sum", /)
)]
#[allow(clippy::too_many_arguments)]
fn mlp_gradients_py<'py>(
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    w1: &Bound<'py, PyAny>,
    b1: Option<&Bound<'py, PyAny>>,
    w2: &Bound<'py, PyAny>,
    b2: Option<&Bound<'py, PyAny>>,
    activation: &str,
    reduction: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let raw = Raw::new(x, Some(y), w1, b1, w2, b2)?;
    loss_or_gradients(raw, activation, reduction, true)
}

/// A parameter that `mlp_fit` may update in place: an ndarray of dtype `T`,
/// aligned, C-contiguous and writeable.
fn writable_param<'py, T: PyFloat>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    let array = match obj.cast::<PyArrayDyn<T>>() {
        Ok(array) => array.clone(),
        Err(_) => {
            return Err(match obj.cast::<PyUntypedArray>() {
                Ok(other) => PyTypeError::new_err(format!(
                    "{name} has dtype {}, but w1 has dtype {}; all parameters must share one dtype",
                    other.dtype(),
                    T::NAME
                )),
                Err(_) => PyTypeError::new_err(format!(
                    "{name} must be a numpy.ndarray (fit updates it in place), got {}",
                    obj.get_type().name()?
                )),
            })
        }
    };
    let aligned = (array.data() as usize) % std::mem::align_of::<T>() == 0;
    if !array.is_c_contiguous() || !aligned {
        return Err(PyValueError::new_err(format!(
            "{name} must be C-contiguous and aligned, as fit updates it in place \
             (use np.ascontiguousarray)"
        )));
    }
    Ok(array)
}

/// The bytes an array's elements occupy, to detect arguments sharing memory.
fn byte_range<T: PyFloat>(array: &Bound<'_, PyArrayDyn<T>>) -> (usize, usize) {
    let start = array.data() as usize;
    (start, start + array.len() * std::mem::size_of::<T>())
}

fn shares_memory(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < a.1 && b.0 < b.1 && a.0 < b.1 && b.0 < a.1
}

/// Puts the history of the completed steps on an exception, so the caller
/// keeps it after a Ctrl-C or a NaN.
fn with_history<T: PyFloat>(py: Python<'_>, err: PyErr, history: &[T]) -> PyErr {
    let value = err.value(py);
    let attached = value
        .setattr("history", PyArray::from_slice(py, history))
        .and_then(|()| value.setattr("steps_done", history.len()));
    match attached {
        Ok(()) => err,
        Err(other) => other,
    }
}

struct FitArgs<'a, 'py> {
    x: &'a Bound<'py, PyAny>,
    y: &'a Bound<'py, PyAny>,
    w1: &'a Bound<'py, PyAny>,
    b1: Option<&'a Bound<'py, PyAny>>,
    w2: &'a Bound<'py, PyAny>,
    b2: Option<&'a Bound<'py, PyAny>>,
    activation: Activation,
    steps: usize,
    lr: f64,
    reduction: Reduction,
    batch_size: Option<usize>,
    callback: Option<Py<PyAny>>,
    callback_every: Option<usize>,
}

fn fit_typed<'py, T: PyFloat>(args: FitArgs<'_, 'py>) -> PyResult<Bound<'py, PyAny>> {
    let py = args.x.py();
    let w1 = writable_param::<T>(args.w1, "w1")?;
    let w2 = writable_param::<T>(args.w2, "w2")?;
    let bias = |obj: Option<&Bound<'py, PyAny>>, name: &str| match obj {
        Some(obj) if !obj.is_none() => writable_param::<T>(obj, name).map(Some),
        _ => Ok(None),
    };
    let (b1, b2) = (bias(args.b1, "b1")?, bias(args.b2, "b2")?);
    let net = describe(
        w1.shape(),
        b1.as_ref().map(|b| b.shape()),
        w2.shape(),
        b2.as_ref().map(|b| b.shape()),
        args.activation,
    )?;
    let x = T::from_array(float_array(args.x, "x")?)?;
    let y = T::from_array(float_array(args.y, "y")?)?;
    let rows = check_data(&net, x.shape(), Some(y.shape()))?;

    let named = [
        ("x", Some(byte_range(&x))),
        ("y", Some(byte_range(&y))),
        ("w1", Some(byte_range(&w1))),
        ("b1", b1.as_ref().map(byte_range)),
        ("w2", Some(byte_range(&w2))),
        ("b2", b2.as_ref().map(byte_range)),
    ];
    // Parameters are written while everything else is read, so no parameter
    // may share memory with another argument; x and y (only read) may.
    for (i, (first, a)) in named.iter().enumerate() {
        for (j, (second, b)) in named.iter().enumerate().skip(i + 1) {
            let (Some(a), Some(b)) = (a, b) else { continue };
            if j >= 2 && shares_memory(*a, *b) {
                return Err(PyValueError::new_err(format!(
                    "{second} shares memory with {first}, but fit updates {second} in place; \
                     pass a copy"
                )));
            }
        }
    }

    // rust-numpy's borrow flags guard the parameters for the whole loop (the
    // cost, well under a microsecond, is nothing next to a fit), and refuse
    // read-only arrays.
    let borrow = |array: &Bound<'py, PyArrayDyn<T>>, name: &str| {
        array.try_readwrite().map_err(|err| {
            PyValueError::new_err(format!("{name} cannot be updated in place: {err}"))
        })
    };
    let mut w1_rw = borrow(&w1, "w1")?;
    let mut w2_rw = borrow(&w2, "w2")?;
    let mut b1_rw = b1.as_ref().map(|b| borrow(b, "b1")).transpose()?;
    let mut b2_rw = b2.as_ref().map(|b| borrow(b, "b2")).transpose()?;
    let not_contiguous = |_| PyValueError::new_err("a parameter is not contiguous");
    let mut params = ParamsMut {
        w1: w1_rw.as_slice_mut().map_err(not_contiguous)?,
        b1: b1_rw
            .as_mut()
            .map(|b| b.as_slice_mut().map_err(not_contiguous))
            .transpose()?,
        w2: w2_rw.as_slice_mut().map_err(not_contiguous)?,
        b2: b2_rw
            .as_mut()
            .map(|b| b.as_slice_mut().map_err(not_contiguous))
            .transpose()?,
    };
    // SAFETY: `x` and `y` are aligned and C-contiguous (FloatArrays) and only
    // read; no parameter shares memory with them (checked above).
    let (x_data, y_data) = unsafe { (as_slice(&x), as_slice(&y)) };

    let config = FitConfig {
        steps: args.steps,
        learning_rate: T::from_f64(args.lr),
        reduction: args.reduction,
        batch_size: args.batch_size,
        report_every: args.callback_every.unwrap_or(args.steps),
        report_interval: Some(CHECK_INTERVAL),
    };
    let batch_rows = args.batch_size.unwrap_or(rows).min(rows);
    let mut history = zeroed::<T>(Some(args.steps))?;
    let mut workspace = Workspace::<T>::new(net, batch_rows)?;
    let callback = args.callback;
    let mut interrupted: Option<PyErr> = None;
    let mut steps_done = 0;
    let outcome = py.detach(|| {
        mlp::fit(
            &net,
            &mut params,
            x_data,
            y_data,
            rows,
            &config,
            &mut workspace,
            &mut history,
            |done, loss| {
                steps_done = done;
                Python::attach(|py| {
                    let result = py.check_signals().and_then(|()| match &callback {
                        Some(callback) => callback.call1(py, (done, loss.to_f64())).map(drop),
                        None => Ok(()),
                    });
                    match result {
                        Ok(()) => true,
                        Err(err) => {
                            interrupted = Some(err);
                            false
                        }
                    }
                })
            },
        )
    });
    match outcome {
        Ok(_) => match interrupted {
            Some(err) => Err(with_history(py, err, &history[..steps_done])),
            None => Ok(PyArray::from_vec(py, history).into_any()),
        },
        Err(error) => {
            let FitError::NonFiniteLoss { step, .. } = error;
            Err(with_history(py, error.into(), &history[..step]))
        }
    }
}

/// Trains the two-layer network in place by gradient descent, the whole loop
/// in Rust: ``w -= lr * dL/dw`` for ``steps`` steps.
///
/// Runs without the GIL and allocates nothing per step. Between chunks of
/// steps (at most 25 ms apart) it checks for Ctrl-C and calls ``callback``.
///
/// Parameters
/// ----------
/// x : array_like, shape (n, input_dim)
/// y : array_like, shape (n, output_dim)
///     Converted to the dtype of ``w1``.
/// w1, b1, w2, b2 : ndarray or None
///     Updated in place: writeable, C-contiguous ndarrays of one dtype
///     (float32 or float64); the biases are both given or both None.
/// activation : {"relu", "sigmoid"}
/// steps : int
///     At least 1.
/// lr : float
///     The learning rate; finite and not negative.
/// reduction : {"sum", "mean"}
/// batch_size : int, optional
///     Rows per step: step ``s`` trains on the ``s mod blocks``-th block of
///     consecutive rows (the last block shorter if ``batch_size`` does not
///     divide ``n``), in order, without shuffling. Default: all rows.
/// callback : callable, optional
///     Called as ``callback(steps_done, loss)`` after every chunk of steps
///     and after the last; an exception it raises stops the loop.
/// callback_every : int, optional
///     Steps per chunk (default: ``steps``; chunks also end every 25 ms).
///
/// Returns
/// -------
/// ndarray, shape (steps,)
///     The loss before each step, in the dtype of ``w1``.
///
/// Raises
/// ------
/// FloatingPointError
///     If the loss becomes NaN or infinite; the message names the step, and
///     the parameters are left as they were before it.
/// KeyboardInterrupt
///     On Ctrl-C; the parameters are valid as of the last completed step.
///     Either exception (and any from ``callback``) carries ``history`` (the
///     losses of the completed steps) and ``steps_done``.
/// ValueError
///     For shapes that do not chain, ``steps < 1``, a negative or non-finite
///     ``lr``, ``batch_size < 1``, unknown names, or parameters that cannot be
///     updated in place.
/// TypeError
///     If a parameter is not an ndarray of w1's dtype, or data is not real.
///
/// Examples
/// --------
/// >>> w1, w2 = np.ones((1, 1)), np.ones((1, 1))
/// >>> _core.mlp_fit([[1.0]], [[3.0]], w1, None, w2, None, activation="relu", steps=2, lr=0.1)
/// array([4.    , 1.0816])
#[pyfunction(
    name = "mlp_fit",
    signature = (
        x, y, w1, b1, w2, b2, /, *, activation, steps, lr, reduction = "sum",
        batch_size = None, callback = None, callback_every = None
    )
)]
#[allow(clippy::too_many_arguments)]
fn mlp_fit_py<'py>(
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    w1: &Bound<'py, PyAny>,
    b1: Option<&Bound<'py, PyAny>>,
    w2: &Bound<'py, PyAny>,
    b2: Option<&Bound<'py, PyAny>>,
    activation: &str,
    steps: i64,
    lr: f64,
    reduction: &str,
    batch_size: Option<i64>,
    callback: Option<Py<PyAny>>,
    callback_every: Option<i64>,
) -> PyResult<Bound<'py, PyAny>> {
    let activation = parse_activation(activation)?;
    let reduction = parse_reduction(reduction)?;
    let steps = usize::try_from(steps)
        .ok()
        .filter(|&s| s > 0)
        .ok_or_else(|| {
            PyValueError::new_err(format!("steps must be a positive integer, got {steps}"))
        })?;
    if !lr.is_finite() || lr < 0.0 {
        return Err(PyValueError::new_err(format!(
            "lr must be a finite, non-negative number, got {lr}"
        )));
    }
    let positive = |value: Option<i64>, name: &str| {
        value
            .map(|v| {
                usize::try_from(v).ok().filter(|&v| v > 0).ok_or_else(|| {
                    PyValueError::new_err(format!("{name} must be a positive integer, got {v}"))
                })
            })
            .transpose()
    };
    let batch_size = positive(batch_size, "batch_size")?;
    let callback_every = positive(callback_every, "callback_every")?;
    let callback = callback.filter(|c| !c.is_none(x.py()));
    let args = FitArgs {
        x,
        y,
        w1,
        b1,
        w2,
        b2,
        activation,
        steps,
        lr,
        reduction,
        batch_size,
        callback,
        callback_every,
    };
    if w1.cast::<PyArrayDyn<f64>>().is_ok() {
        fit_typed::<f64>(args)
    } else if w1.cast::<PyArrayDyn<f32>>().is_ok() {
        fit_typed::<f32>(args)
    } else {
        Err(PyTypeError::new_err(format!(
            "w1 must be a float32 or float64 numpy.ndarray (fit updates it in place), got {}",
            match w1.cast::<PyUntypedArray>() {
                Ok(array) => format!("dtype {}", array.dtype()),
                Err(_) => w1.get_type().name()?.to_string(),
            }
        )))
    }
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(mlp_forward_py, module)?)?;
    module.add_function(wrap_pyfunction!(mlp_loss_py, module)?)?;
    module.add_function(wrap_pyfunction!(mlp_gradients_py, module)?)?;
    module.add_function(wrap_pyfunction!(mlp_fit_py, module)?)
}
