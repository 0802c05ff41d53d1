//! `mlp_fit`: borrow the parameters, train detached (Ctrl-C, callback), return or attach the history.

use std::time::Duration;

use numpy::prelude::*;
use numpy::{BorrowError, PyArray, PyArrayDyn, PyReadwriteArrayDyn};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use super::args::{
    check_data, check_no_aliasing, describe, learning_rate, parse_activation, parse_reduction,
    positive, untrainable_w1, writable_param,
};
use crate::bindings::convert::{as_slice, float_array, PyFloat};
use crate::kernels::activation::Activation;
use crate::kernels::alloc::zeroed;
use crate::kernels::mlp::{
    self, FitConfig, FitError, FitOutcome, ParamsMut, Reduction, TwoLayer, Workspace,
};

/// The longest a training loop runs without checking for Ctrl-C: well under
/// the 100 ms a person notices, and re-attaching costs about a microsecond.
const CHECK_INTERVAL: Duration = Duration::from_millis(25);

/// `mlp_fit`'s arguments once the scalars are parsed.
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

/// The arrays of one fit, checked and in the parameters' dtype.
struct Operands<'py, T: PyFloat> {
    x: Bound<'py, PyArrayDyn<T>>,
    y: Bound<'py, PyArrayDyn<T>>,
    w1: Bound<'py, PyArrayDyn<T>>,
    b1: Option<Bound<'py, PyArrayDyn<T>>>,
    w2: Bound<'py, PyArrayDyn<T>>,
    b2: Option<Bound<'py, PyArrayDyn<T>>>,
    net: TwoLayer,
    rows: usize,
}

impl<'py, T: PyFloat> Operands<'py, T> {
    fn new(args: &FitArgs<'_, 'py>) -> PyResult<Self> {
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
        check_no_aliasing([
            ("x", Some(&x)),
            ("y", Some(&y)),
            ("w1", Some(&w1)),
            ("b1", b1.as_ref()),
            ("w2", Some(&w2)),
            ("b2", b2.as_ref()),
        ])?;
        Ok(Operands {
            x,
            y,
            w1,
            b1,
            w2,
            b2,
            net,
            rows,
        })
    }

    /// The parameters by name, as the caller passed them.
    fn params_dict(&self) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(self.x.py());
        dict.set_item("w1", &self.w1)?;
        if let Some(b1) = &self.b1 {
            dict.set_item("b1", b1)?;
        }
        dict.set_item("w2", &self.w2)?;
        if let Some(b2) = &self.b2 {
            dict.set_item("b2", b2)?;
        }
        Ok(dict)
    }
}

/// rust-numpy's borrow flags on the parameters: they guard them for the
/// whole loop (the cost, well under a microsecond, is nothing next to a
/// fit), and refuse read-only arrays.
struct Borrows<'py, T: PyFloat> {
    w1: PyReadwriteArrayDyn<'py, T>,
    b1: Option<PyReadwriteArrayDyn<'py, T>>,
    w2: PyReadwriteArrayDyn<'py, T>,
    b2: Option<PyReadwriteArrayDyn<'py, T>>,
}

impl<'py, T: PyFloat> Borrows<'py, T> {
    fn new(operands: &Operands<'py, T>) -> PyResult<Self> {
        // Another fit holding the same array is a clash between threads
        // (RuntimeError, as for a net used by two threads); a read-only
        // array is a bad argument (ValueError).
        let borrow = |array: &Bound<'py, PyArrayDyn<T>>, name: &str| {
            array.try_readwrite().map_err(|err| match err {
                BorrowError::AlreadyBorrowed => PyRuntimeError::new_err(format!(
                    "{name} is being updated by another fit at the same time"
                )),
                _ => PyValueError::new_err(format!("{name} cannot be updated in place: {err}")),
            })
        };
        Ok(Borrows {
            w1: borrow(&operands.w1, "w1")?,
            w2: borrow(&operands.w2, "w2")?,
            b1: operands.b1.as_ref().map(|b| borrow(b, "b1")).transpose()?,
            b2: operands.b2.as_ref().map(|b| borrow(b, "b2")).transpose()?,
        })
    }

    fn params(&mut self) -> PyResult<ParamsMut<'_, T>> {
        fn slice<'a, T: PyFloat>(
            array: &'a mut PyReadwriteArrayDyn<'_, T>,
        ) -> PyResult<&'a mut [T]> {
            array
                .as_slice_mut()
                .map_err(|_| PyValueError::new_err("a parameter is not contiguous"))
        }
        Ok(ParamsMut {
            w1: slice(&mut self.w1)?,
            b1: self.b1.as_mut().map(slice).transpose()?,
            w2: slice(&mut self.w2)?,
            b2: self.b2.as_mut().map(slice).transpose()?,
        })
    }
}

/// What the detached loop left: the kernel's outcome, an exception raised
/// between chunks (Ctrl-C, or from the callback) and the steps completed.
struct Run<T> {
    outcome: Result<FitOutcome, FitError<T>>,
    interrupted: Option<PyErr>,
    steps_done: usize,
}

fn fit_typed<'py, T: PyFloat>(args: FitArgs<'_, 'py>) -> PyResult<Bound<'py, PyAny>> {
    let py = args.x.py();
    let operands = Operands::<T>::new(&args)?;
    let mut borrows = Borrows::new(&operands)?;
    let mut params = borrows.params()?;
    // SAFETY: `x` and `y` are aligned and C-contiguous (FloatArrays) and only
    // read; no parameter shares memory with them (checked in `Operands::new`).
    let (x, y) = unsafe { (as_slice(&operands.x), as_slice(&operands.y)) };
    let config = FitConfig {
        steps: args.steps,
        learning_rate: args.lr,
        reduction: args.reduction,
        batch_size: args.batch_size,
        report_every: args.callback_every.unwrap_or(args.steps),
        report_interval: Some(CHECK_INTERVAL),
    };
    let (net, rows) = (operands.net, operands.rows);
    let batch_rows = args.batch_size.unwrap_or(rows).min(rows);
    let mut history = zeroed::<T>(Some(args.steps))?;
    let mut workspace = Workspace::<T>::for_fit(net, batch_rows)?;
    let callback = args.callback.as_ref();
    let mut interrupted: Option<PyErr> = None;
    let mut steps_done = 0;
    let outcome = py.detach(|| {
        let on_chunk = |done: usize, loss: T| {
            steps_done = done;
            match report(done, loss, callback) {
                Ok(()) => true,
                Err(err) => {
                    interrupted = Some(err);
                    false
                }
            }
        };
        let ws = &mut workspace;
        mlp::fit(
            &net,
            &mut params,
            x,
            y,
            rows,
            &config,
            ws,
            &mut history,
            on_chunk,
        )
    });
    let run = Run {
        outcome,
        interrupted,
        steps_done,
    };
    finish(py, run, history, &operands)
}

/// Between two chunks of steps, with the GIL: runs Python's signal handlers
/// (Ctrl-C raises here) and the progress callback.
fn report<T: PyFloat>(done: usize, loss: T, callback: Option<&Py<PyAny>>) -> PyResult<()> {
    Python::attach(|py| {
        py.check_signals()?;
        match callback {
            Some(callback) => callback.call1(py, (done, loss.to_f64())).map(drop),
            None => Ok(()),
        }
    })
}

/// The loss history, or the exception that stopped the loop with the
/// completed steps' history and the parameters attached.
fn finish<'py, T: PyFloat>(
    py: Python<'py>,
    run: Run<T>,
    history: Vec<T>,
    operands: &Operands<'py, T>,
) -> PyResult<Bound<'py, PyAny>> {
    let (err, done) = match (run.outcome, run.interrupted) {
        (Ok(_), None) => return Ok(PyArray::from_vec(py, history).into_any()),
        (Ok(_), Some(err)) => (err, run.steps_done),
        (Err(error), _) => {
            let FitError::NonFiniteLoss { step, .. } = error;
            (error.into(), step)
        }
    };
    Err(attach_partial(py, err, operands, &history[..done]))
}

/// Puts the stopped fit's parameters and history on `err` through
/// `neurust.backends._partial.attach`, the one place every backend does it.
fn attach_partial<T: PyFloat>(
    py: Python<'_>,
    err: PyErr,
    operands: &Operands<'_, T>,
    history: &[T],
) -> PyErr {
    static ATTACH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let attached = operands.params_dict().and_then(|params| {
        let attach = ATTACH.import(py, "neurust.backends._partial", "attach")?;
        let history = PyArray::from_slice(py, history);
        attach.call1((err.value(py), params, history)).map(drop)
    });
    match attached {
        Ok(()) => err,
        Err(other) => other,
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
///     If the loss becomes NaN or infinite at step ``k``; the message names
///     the step, and the parameters are those of step ``k - 1`` (unchanged
///     when ``k`` is 0), whose loss ends the attached history.
/// KeyboardInterrupt
///     On Ctrl-C; the parameters are valid as of the last completed step.
///     Either exception (and any from ``callback``) carries a ``partial_fit``
///     (see ``neurust.backends._partial``): the parameters, the losses of the
///     completed steps, and their count, also set as ``params``, ``history``
///     and ``steps_done``.
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
    steps: &Bound<'py, PyAny>,
    lr: f64,
    reduction: &str,
    batch_size: Option<&Bound<'py, PyAny>>,
    callback: Option<Py<PyAny>>,
    callback_every: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let optional = |value: Option<&Bound<'py, PyAny>>, name: &str| match value {
        Some(value) if !value.is_none() => count(value, name).map(Some),
        _ => Ok(None),
    };
    let callback = callback.filter(|c| !c.is_none(x.py()));
    if let Some(callback) = &callback {
        // Checked before any step: a bad callback must not leave w1 updated.
        let callback = callback.bind(x.py());
        if !callback.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "callback must be callable or None, got {}",
                callback.get_type().name()?
            )));
        }
    }
    let args = FitArgs {
        x,
        y,
        w1,
        b1,
        w2,
        b2,
        activation: parse_activation(activation)?,
        reduction: parse_reduction(reduction)?,
        steps: count(steps, "steps")?,
        lr: learning_rate(lr)?,
        batch_size: optional(batch_size, "batch_size")?,
        callback_every: optional(callback_every, "callback_every")?,
        callback,
    };
    if w1.cast::<PyArrayDyn<f64>>().is_ok() {
        fit_typed::<f64>(args)
    } else if w1.cast::<PyArrayDyn<f32>>().is_ok() {
        fit_typed::<f32>(args)
    } else {
        Err(untrainable_w1(w1)?)
    }
}

/// A count of at least 1 by the Python layer's rule
/// (`neurust._validation.positive_int`): an int, never a bool, a float or a
/// `timedelta64` (which numpy registers as an integer type).
fn count(value: &Bound<'_, PyAny>, name: &str) -> PyResult<usize> {
    static POSITIVE_INT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let number: i64 = POSITIVE_INT
        .import(value.py(), "neurust._validation", "positive_int")?
        .call1((value, name))?
        .extract()?;
    positive(number, name)
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(mlp_fit_py, module)?)
}
