//! The network bindings' arguments: names, shapes, scalars and parameters updated in place.

use numpy::prelude::*;
use numpy::{PyArrayDyn, PyUntypedArray};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyInt};

use crate::bindings::convert::{
    as_slice, float_array, reject_masked, shape_str, FloatArray, PyFloat,
};
use crate::bindings::error::{Error, Result};
use crate::kernels::activation::Activation;
use crate::kernels::mlp::{Params, Reduction, TwoLayer};

pub fn parse_activation(name: &str) -> Result<Activation> {
    match Activation::from_name(name) {
        Some(act @ (Activation::Relu | Activation::Sigmoid)) => Ok(act),
        // The step's derivative is zero everywhere: nothing would train.
        _ => Err(Error::value(format!(
            "activation must be 'relu' or 'sigmoid', got {name:?}"
        ))),
    }
}

pub fn parse_reduction(name: &str) -> Result<Reduction> {
    Reduction::from_name(name)
        .ok_or_else(|| Error::value(format!("reduction must be 'sum' or 'mean', got {name:?}")))
}

/// A count of at least 1 by the Python API's rule (`positive_int` in
/// `neurust._validation`, whose messages these are): an int (anything
/// `numbers.Integral`), never a bool, a float or a `timedelta64` (which numpy
/// registers as an integer type), at most `sys.maxsize`.
///
/// `TwoLayerNet` has checked its counts with `positive_int` before they get
/// here, so on that path this check passes; it is kept for callers of
/// `_core` itself, a module users may import.
pub fn count(value: &Bound<'_, PyAny>, name: &str) -> Result<usize> {
    static INTEGRAL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    static NOT_NUMBERS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = value.py();
    let not_numbers = NOT_NUMBERS.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        let numpy = py.import("numpy")?;
        let types = (numpy.getattr("bool_")?, numpy.getattr("timedelta64")?);
        Ok(types.into_pyobject(py)?.into_any().unbind())
    })?;
    let integral = INTEGRAL.import(py, "numbers", "Integral")?;
    if value.is_instance_of::<PyBool>()
        || value.is_instance(not_numbers.bind(py))?
        || !value.is_instance(integral)?
    {
        return Err(Error::type_(format!(
            "{name} must be an int, got {}",
            value.get_type().name()?
        )));
    }
    let shown = value.str()?;
    let number = py.get_type::<PyInt>().call1((value,))?;
    match number.extract::<i64>() {
        Ok(n) if n >= 1 => Ok(n as usize),
        Ok(_) => Err(Error::value(format!(
            "{name} must be a positive integer, got {shown}"
        ))),
        Err(_) if number.lt(0)? => Err(Error::value(format!(
            "{name} must be a positive integer, got {shown}"
        ))),
        Err(_) => Err(Error::value(format!(
            "{name} must be at most {}, got {shown}",
            i64::MAX
        ))),
    }
}

/// The learning rate, if finite and not negative.
pub fn learning_rate(lr: f64) -> Result<f64> {
    if !lr.is_finite() || lr < 0.0 {
        return Err(Error::value(format!(
            "lr must be a finite, non-negative number, got {lr}"
        )));
    }
    Ok(lr)
}

/// A parameter array, converted or not: its shape is what describes the net.
pub trait Shaped {
    fn dims(&self) -> &[usize];
}

impl Shaped for FloatArray<'_> {
    fn dims(&self) -> &[usize] {
        self.shape()
    }
}

impl<T: PyFloat> Shaped for Bound<'_, PyArrayDyn<T>> {
    fn dims(&self) -> &[usize] {
        self.shape()
    }
}

/// The network the parameter arrays describe, by `describe_shapes`.
pub fn describe<A: Shaped>(
    w1: &A,
    b1: Option<&A>,
    w2: &A,
    b2: Option<&A>,
    activation: Activation,
) -> Result<TwoLayer> {
    let (w1, b1) = (w1.dims(), b1.map(Shaped::dims));
    describe_shapes(w1, b1, w2.dims(), b2.map(Shaped::dims), activation)
}

/// The network described by the parameters' shapes, or a ValueError naming
/// the parameter that does not fit.
pub fn describe_shapes(
    w1: &[usize],
    b1: Option<&[usize]>,
    w2: &[usize],
    b2: Option<&[usize]>,
    activation: Activation,
) -> Result<TwoLayer> {
    let [input_dim, hidden_dim] = *w1 else {
        return Err(Error::value(format!(
            "w1 must be 2-D (input_dim, hidden_dim), but has shape {}",
            shape_str(w1)
        )));
    };
    let [w2_rows, output_dim] = *w2 else {
        return Err(Error::value(format!(
            "w2 must be 2-D (hidden_dim, output_dim), but has shape {}",
            shape_str(w2)
        )));
    };
    if w2_rows != hidden_dim {
        return Err(Error::value(format!(
            "w2 has shape {}, but w1 has shape {} ({hidden_dim} hidden units); \
             w2 needs {hidden_dim} rows",
            shape_str(w2),
            shape_str(w1)
        )));
    }
    check_biases(b1, b2, hidden_dim, output_dim)?;
    Ok(TwoLayer {
        input_dim,
        hidden_dim,
        output_dim,
        activation,
        bias: b1.is_some(),
    })
}

fn check_biases(
    b1: Option<&[usize]>,
    b2: Option<&[usize]>,
    hidden_dim: usize,
    output_dim: usize,
) -> Result<()> {
    match (b1, b2) {
        (None, None) => Ok(()),
        (Some(b1), Some(_)) if b1 != [hidden_dim] => Err(Error::value(format!(
            "b1 has shape {}, but w1 has {hidden_dim} columns; b1 needs shape ({hidden_dim},)",
            shape_str(b1)
        ))),
        (Some(_), Some(b2)) if b2 != [output_dim] => Err(Error::value(format!(
            "b2 has shape {}, but w2 has {output_dim} columns; b2 needs shape ({output_dim},)",
            shape_str(b2)
        ))),
        (Some(_), Some(_)) => Ok(()),
        (Some(_), None) | (None, Some(_)) => Err(Error::value(
            "b1 and b2 must both be given (a net with biases) or both be None",
        )),
    }
}

/// The number of rows of `x` (and `y`), or a ValueError naming the mismatch.
pub fn check_data(net: &TwoLayer, x: &[usize], y: Option<&[usize]>) -> Result<usize> {
    let [rows, cols] = *x else {
        return Err(Error::value(format!(
            "x must be 2-D (samples, input_dim), but has shape {}",
            shape_str(x)
        )));
    };
    if cols != net.input_dim {
        return Err(Error::value(format!(
            "x has shape {}, but the net has input_dim {}; x needs {} columns",
            shape_str(x),
            net.input_dim,
            net.input_dim
        )));
    }
    if let Some(y) = y {
        if y != [rows, net.output_dim] {
            return Err(Error::value(format!(
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

/// The untyped arguments of a read-only call, each already an aligned
/// C-contiguous float array.
pub struct Raw<'py> {
    pub x: FloatArray<'py>,
    pub y: Option<FloatArray<'py>>,
    pub w1: FloatArray<'py>,
    pub b1: Option<FloatArray<'py>>,
    pub w2: FloatArray<'py>,
    pub b2: Option<FloatArray<'py>>,
}

/// Parameters and data converted to one dtype, for the read-only calls.
pub struct Arrays<'py, T: PyFloat> {
    pub x: Bound<'py, PyArrayDyn<T>>,
    pub y: Option<Bound<'py, PyArrayDyn<T>>>,
    pub w1: Bound<'py, PyArrayDyn<T>>,
    pub b1: Option<Bound<'py, PyArrayDyn<T>>>,
    pub w2: Bound<'py, PyArrayDyn<T>>,
    pub b2: Option<Bound<'py, PyArrayDyn<T>>>,
}

/// An optional argument, converted: absent and None both mean not given.
pub fn given<'a, 'py, R>(
    obj: Option<&'a Bound<'py, PyAny>>,
    convert: impl FnOnce(&'a Bound<'py, PyAny>) -> Result<R>,
) -> Result<Option<R>> {
    obj.filter(|obj| !obj.is_none()).map(convert).transpose()
}

/// An optional array argument (a bias, `y`).
pub fn optional<'py>(
    obj: Option<&Bound<'py, PyAny>>,
    name: &str,
) -> Result<Option<FloatArray<'py>>> {
    given(obj, |obj| float_array(obj, name))
}

impl<'py> Raw<'py> {
    pub fn new(
        x: &Bound<'py, PyAny>,
        y: Option<&Bound<'py, PyAny>>,
        w1: &Bound<'py, PyAny>,
        b1: Option<&Bound<'py, PyAny>>,
        w2: &Bound<'py, PyAny>,
        b2: Option<&Bound<'py, PyAny>>,
    ) -> Result<Self> {
        Ok(Raw {
            x: float_array(x, "x")?,
            y: optional(y, "y")?,
            w1: float_array(w1, "w1")?,
            b1: optional(b1, "b1")?,
            w2: float_array(w2, "w2")?,
            b2: optional(b2, "b2")?,
        })
    }

    pub fn typed<T: PyFloat>(self) -> Result<Arrays<'py, T>> {
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

impl<T: PyFloat> Arrays<'_, T> {
    pub fn net(&self, activation: Activation) -> Result<(TwoLayer, usize)> {
        let net = describe(
            &self.w1,
            self.b1.as_ref(),
            &self.w2,
            self.b2.as_ref(),
            activation,
        )?;
        let rows = check_data(&net, self.x.shape(), self.y.as_ref().map(|y| y.shape()))?;
        Ok((net, rows))
    }

    /// # Safety
    /// The arrays are aligned and C-contiguous (every `FloatArray` is), and
    /// the read-only calls write none of them.
    pub unsafe fn params(&self) -> Params<'_, T> {
        Params {
            w1: as_slice(&self.w1),
            b1: self.b1.as_ref().map(|b| as_slice(b)),
            w2: as_slice(&self.w2),
            b2: self.b2.as_ref().map(|b| as_slice(b)),
        }
    }
}

/// A parameter that `mlp_fit` may update in place: an ndarray of dtype `T`,
/// aligned, C-contiguous and writeable.
pub fn writable_param<'py, T: PyFloat>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> Result<Bound<'py, PyArrayDyn<T>>> {
    reject_masked(obj, name)?;
    let array = match obj.cast::<PyArrayDyn<T>>() {
        Ok(array) => array.clone(),
        Err(_) => {
            return Err(match obj.cast::<PyUntypedArray>() {
                Ok(other) => Error::type_(format!(
                    "{name} has dtype {}, but w1 has dtype {}; all parameters must share one dtype",
                    other.dtype(),
                    T::NAME
                )),
                Err(_) => Error::type_(format!(
                    "{name} must be a numpy.ndarray (fit updates it in place), got {}",
                    obj.get_type().name()?
                )),
            })
        }
    };
    let aligned = (array.data() as usize).is_multiple_of(std::mem::align_of::<T>());
    if !array.is_c_contiguous() || !aligned {
        return Err(Error::value(format!(
            "{name} must be C-contiguous and aligned, as fit updates it in place \
             (use np.ascontiguousarray)"
        )));
    }
    Ok(array)
}

/// The TypeError for a `w1` that `mlp_fit` cannot train in place.
pub fn untrainable_w1(w1: &Bound<'_, PyAny>) -> Result<Error> {
    let found = match w1.cast::<PyUntypedArray>() {
        Ok(array) => format!("dtype {}", array.dtype()),
        Err(_) => w1.get_type().name()?.to_string(),
    };
    Ok(Error::type_(format!(
        "w1 must be a float32 or float64 numpy.ndarray (fit updates it in place), got {found}"
    )))
}

/// The bytes an array's elements occupy, to detect arguments sharing memory.
fn byte_range<T: PyFloat>(array: &Bound<'_, PyArrayDyn<T>>) -> (usize, usize) {
    let start = array.data() as usize;
    (start, start + array.len() * std::mem::size_of::<T>())
}

fn shares_memory(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < a.1 && b.0 < b.1 && a.0 < b.1 && b.0 < a.1
}

/// Parameters are written while everything else is read, so no parameter
/// may share memory with another argument; `x` and `y` (the first two,
/// only read) may share memory with each other.
pub fn check_no_aliasing<T: PyFloat>(
    named: [(&str, Option<&Bound<'_, PyArrayDyn<T>>>); 6],
) -> Result<()> {
    let ranges = named.map(|(name, array)| (name, array.map(byte_range)));
    for (i, (first, a)) in ranges.iter().enumerate() {
        for (j, (second, b)) in ranges.iter().enumerate().skip(i + 1) {
            let (Some(a), Some(b)) = (a, b) else { continue };
            if j >= 2 && shares_memory(*a, *b) {
                return Err(Error::value(format!(
                    "{second} shares memory with {first}, but fit updates {second} in place; \
                     pass a copy"
                )));
            }
        }
    }
    Ok(())
}
