//! `mlp_fit`: borrow the parameters, train detached (Ctrl-C, callback), return the history or raise `FitStopped`.

use std::time::Duration;

use numpy::prelude::*;
use numpy::{BorrowError, PyArray, PyArrayDyn, PyReadwriteArrayDyn};
use pyo3::exceptions::PyBaseException;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::args::{
    check_data, check_no_aliasing, count, describe, given, learning_rate, parse_activation,
    parse_reduction, untrainable_w1, writable_param,
};
use super::state::NetState;
use crate::bindings::convert::{as_slice, float_array, PyFloat};
use crate::bindings::error::{Error, Result};
use crate::kernels::activation::Activation;
use crate::kernels::alloc::zeroed;
use crate::kernels::mlp::{
    self, FitConfig, FitError, FitOutcome, ParamsMut, Reduction, TwoLayer, Workspace,
};

pyo3::create_exception!(
    neurust._core,
    FitStopped,
    PyBaseException,
    "A fit that stopped before its last step, with its state: ``reason`` (``\"non-finite\"``, \
     ``\"interrupted\"`` or ``\"callback\"``), ``steps_done``, ``history`` (the loss before each \
     step run), ``params`` (the arrays trained in place), ``loss`` (the non-finite loss, else \
     None), ``lr`` and ``cause`` (the KeyboardInterrupt or the callback's exception, else None). \
     A BaseException, as it may carry a KeyboardInterrupt that ``except Exception`` must not \
     swallow; neurust's Python layer turns it into the error users see."
);

/// The longest a training loop runs without checking for Ctrl-C: well under
/// the 100 ms a person notices, and re-attaching costs next to nothing
/// (`neurust compare --workloads fit`; figures in docs/performance.md).
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
    fn new(args: &FitArgs<'_, 'py>) -> Result<Self> {
        let w1 = writable_param::<T>(args.w1, "w1")?;
        let w2 = writable_param::<T>(args.w2, "w2")?;
        let b1 = given(args.b1, |b1| writable_param::<T>(b1, "b1"))?;
        let b2 = given(args.b2, |b2| writable_param::<T>(b2, "b2"))?;
        let net = describe(&w1, b1.as_ref(), &w2, b2.as_ref(), args.activation)?;
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
    fn params_dict(&self) -> Result<Bound<'py, PyDict>> {
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
/// whole loop (once a call, nothing next to a fit: `neurust compare
/// --workloads fit`), and refuse read-only arrays.
struct Borrows<'py, T: PyFloat> {
    w1: PyReadwriteArrayDyn<'py, T>,
    b1: Option<PyReadwriteArrayDyn<'py, T>>,
    w2: PyReadwriteArrayDyn<'py, T>,
    b2: Option<PyReadwriteArrayDyn<'py, T>>,
}

impl<'py, T: PyFloat> Borrows<'py, T> {
    fn new(operands: &Operands<'py, T>) -> Result<Self> {
        // Another fit holding the same array is a clash between threads
        // (RuntimeError, as for a net used by two threads); a read-only
        // array is a bad argument (ValueError).
        let borrow = |array: &Bound<'py, PyArrayDyn<T>>, name: &str| {
            array.try_readwrite().map_err(|err| match err {
                BorrowError::AlreadyBorrowed => Error::runtime(format!(
                    "{name} is being updated by another fit at the same time"
                )),
                _ => Error::value(format!("{name} cannot be updated in place: {err}")),
            })
        };
        Ok(Borrows {
            w1: borrow(&operands.w1, "w1")?,
            w2: borrow(&operands.w2, "w2")?,
            b1: operands.b1.as_ref().map(|b| borrow(b, "b1")).transpose()?,
            b2: operands.b2.as_ref().map(|b| borrow(b, "b2")).transpose()?,
        })
    }

    fn params(&mut self) -> Result<ParamsMut<'_, T>> {
        fn slice<'a, T: PyFloat>(array: &'a mut PyReadwriteArrayDyn<'_, T>) -> Result<&'a mut [T]> {
            array
                .as_slice_mut()
                .map_err(|_| Error::value("a parameter is not contiguous"))
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

fn fit_typed<'py, T: PyFloat>(
    args: FitArgs<'_, 'py>,
    state: Option<&NetState>,
) -> Result<Bound<'py, PyAny>> {
    let py = args.x.py();
    let operands = Operands::<T>::new(&args)?;
    if let Some(state) = state {
        state.check(&operands.net)?;
    }
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
    finish(py, run, history, &operands, args.lr)
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

/// The loss history, or `FitStopped` carrying the completed steps' history,
/// the parameters, why it stopped and the exception that stopped it.
fn finish<'py, T: PyFloat>(
    py: Python<'py>,
    run: Run<T>,
    history: Vec<T>,
    operands: &Operands<'py, T>,
    lr: f64,
) -> Result<Bound<'py, PyAny>> {
    let (reason, cause, loss, done) = match (run.outcome, run.interrupted) {
        (Ok(_), None) => return Ok(PyArray::from_vec(py, history).into_any()),
        (Ok(_), Some(err)) => {
            let reason = if err.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
                "interrupted"
            } else {
                "callback"
            };
            (reason, Some(err), None, run.steps_done)
        }
        (Err(FitError::NonFiniteLoss { step, loss, .. }), _) => {
            ("non-finite", None, Some(loss.to_f64()), step)
        }
    };
    let message = match reason {
        "non-finite" => format!("the fit stopped at step {done}: the loss was not finite"),
        "interrupted" => format!("the fit was interrupted after {done} steps"),
        _ => format!("the callback raised after {done} steps"),
    };
    let error = FitStopped::new_err(message);
    let value = error.value(py);
    value.setattr("reason", reason)?;
    value.setattr("steps_done", done)?;
    value.setattr("history", PyArray::from_slice(py, &history[..done]))?;
    value.setattr("params", operands.params_dict()?)?;
    value.setattr("loss", loss)?;
    value.setattr("lr", lr)?;
    let cause_value = cause.as_ref().map(|err| err.value(py).clone());
    value.setattr("cause", &cause_value)?;
    error.set_cause(py, cause);
    Err(error.into())
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
/// FitStopped
///     If the loss becomes NaN or infinite at step ``k`` (``reason`` is
///     ``"non-finite"``; the parameters are those of step ``k - 1``,
///     unchanged when ``k`` is 0, whose loss ends ``history``), on Ctrl-C
///     (``"interrupted"``) or when ``callback`` raises (``"callback"``; the
///     parameters are valid as of the last completed step). It carries the
///     stopped fit's state; ``cause`` (also ``__cause__``) is the
///     KeyboardInterrupt or the callback's exception.
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
) -> Result<Bound<'py, PyAny>> {
    let call = FitCall {
        x,
        y,
        w1,
        b1,
        w2,
        b2,
        activation: parse_activation(activation)?,
        steps,
        lr,
        reduction,
        batch_size,
        callback,
        callback_every,
    };
    fit(call, None)
}

/// The arguments of `mlp_fit` (or `TwoLayer.fit`) as the caller passed them.
pub struct FitCall<'a, 'py> {
    pub x: &'a Bound<'py, PyAny>,
    pub y: &'a Bound<'py, PyAny>,
    pub w1: &'a Bound<'py, PyAny>,
    pub b1: Option<&'a Bound<'py, PyAny>>,
    pub w2: &'a Bound<'py, PyAny>,
    pub b2: Option<&'a Bound<'py, PyAny>>,
    pub activation: Activation,
    pub steps: &'a Bound<'py, PyAny>,
    pub lr: f64,
    pub reduction: &'a str,
    pub batch_size: Option<&'a Bound<'py, PyAny>>,
    pub callback: Option<Py<PyAny>>,
    pub callback_every: Option<&'a Bound<'py, PyAny>>,
}

/// Checks the scalars (each once, here), then trains in the dtype of `w1`.
pub fn fit<'py>(call: FitCall<'_, 'py>, state: Option<&NetState>) -> Result<Bound<'py, PyAny>> {
    let py = call.x.py();
    let callback = call.callback.filter(|c| !c.is_none(py));
    if let Some(callback) = &callback {
        // Checked before any step: a bad callback must not leave w1 updated.
        let callback = callback.bind(py);
        if !callback.is_callable() {
            return Err(Error::type_(format!(
                "callback must be callable or None, got {}",
                callback.get_type().name()?
            )));
        }
    }
    let args = FitArgs {
        x: call.x,
        y: call.y,
        w1: call.w1,
        b1: call.b1,
        w2: call.w2,
        b2: call.b2,
        activation: call.activation,
        reduction: parse_reduction(call.reduction)?,
        steps: count(call.steps, "steps")?,
        lr: learning_rate(call.lr)?,
        batch_size: given(call.batch_size, |value| count(value, "batch_size"))?,
        callback_every: given(call.callback_every, |value| count(value, "callback_every"))?,
        callback,
    };
    let w1 = call.w1;
    if w1.cast::<PyArrayDyn<f64>>().is_ok() {
        fit_typed::<f64>(args, state)
    } else if w1.cast::<PyArrayDyn<f32>>().is_ok() {
        fit_typed::<f32>(args, state)
    } else {
        Err(untrainable_w1(w1)?)
    }
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("FitStopped", module.py().get_type::<FitStopped>())?;
    module.add_function(wrap_pyfunction!(mlp_fit_py, module)?)
}
