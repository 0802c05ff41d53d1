//! Arguments in and results out: numpy arrays as slices, without copies.
//!
//! The fast path accepts an aligned, C-contiguous float32/float64 ndarray as
//! it is; anything else goes once through `neurust._convert`, which applies
//! numpy's conversion rules and names the argument in its errors.
//!
//! Data is read through the raw pointer rather than rust-numpy's borrow
//! tracker, which costs 100–200 ns per array (a large share of a 0.3 µs call).
//! That is sound here because no Rust code keeps a reference past the call,
//! inputs are only read, and an `out=` that overlaps an input is detected by
//! address (`overlaps`) and handled by computing into a temporary first. As
//! with numpy, another Python thread writing to the same array while a
//! kernel runs without the GIL gives unspecified values, never unsafety in
//! Rust's own state.

use numpy::npyffi::{self, PY_ARRAY_API};
use numpy::prelude::*;
use numpy::{Element, PyArrayDyn, PyUntypedArray};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::kernels::Element as KernelElement;

/// Work smaller than this many elements keeps the GIL: detaching and
/// re-attaching costs about as much as a kernel needs for this many.
pub const GIL_RELEASE_MIN: usize = 1 << 15;

/// `f32` or `f64` as both a kernel element and a numpy element.
pub trait PyFloat: KernelElement + Element {
    /// Takes the array as this dtype, casting (float32 → float64 only) when
    /// the arguments were promoted.
    fn from_array<'py>(array: FloatArray<'py>) -> PyResult<Bound<'py, PyArrayDyn<Self>>>;
}

/// An aligned, C-contiguous float32 or float64 array.
pub enum FloatArray<'py> {
    F32(Bound<'py, PyArrayDyn<f32>>),
    F64(Bound<'py, PyArrayDyn<f64>>),
}

impl<'py> FloatArray<'py> {
    pub fn is_f64(&self) -> bool {
        matches!(self, FloatArray::F64(_))
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            FloatArray::F32(a) => a.shape(),
            FloatArray::F64(a) => a.shape(),
        }
    }
}

fn promote<'py, T: Element>(
    array: &Bound<'py, PyUntypedArray>,
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    let cast = array.call_method1("astype", (numpy::dtype::<T>(array.py()),))?;
    Ok(cast.cast_into::<PyArrayDyn<T>>()?)
}

impl PyFloat for f64 {
    fn from_array<'py>(array: FloatArray<'py>) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        match array {
            FloatArray::F64(a) => Ok(a),
            FloatArray::F32(a) => promote(a.as_untyped()),
        }
    }
}

impl PyFloat for f32 {
    fn from_array<'py>(array: FloatArray<'py>) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        match array {
            FloatArray::F32(a) => Ok(a),
            FloatArray::F64(a) => promote(a.as_untyped()),
        }
    }
}

fn flags(array: &Bound<'_, PyUntypedArray>) -> i32 {
    // SAFETY: a live ndarray object always has a valid flags field.
    unsafe { (*npyffi::objects::_PyArray_GET_ITEM_DATA(array.as_array_ptr())).flags }
}

const BEHAVED_C: i32 = npyffi::NPY_ARRAY_C_CONTIGUOUS | npyffi::NPY_ARRAY_ALIGNED;

fn is_behaved_c(array: &Bound<'_, PyUntypedArray>) -> bool {
    flags(array) & BEHAVED_C == BEHAVED_C
}

fn fast<'py>(obj: &Bound<'py, PyAny>) -> Option<FloatArray<'py>> {
    if let Ok(a) = obj.cast::<PyArrayDyn<f64>>() {
        if is_behaved_c(a.as_untyped()) {
            return Some(FloatArray::F64(a.clone()));
        }
    } else if let Ok(a) = obj.cast::<PyArrayDyn<f32>>() {
        if is_behaved_c(a.as_untyped()) {
            return Some(FloatArray::F32(a.clone()));
        }
    }
    None
}

/// `obj` as an aligned C-contiguous float array; errors name `name`.
pub fn float_array<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<FloatArray<'py>> {
    if let Some(array) = fast(obj) {
        return Ok(array);
    }
    static CONVERT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = obj.py();
    let converted = CONVERT
        .import(py, "neurust._convert", "as_float_array")?
        .call1((obj, name))?;
    fast(&converted).ok_or_else(|| {
        PyRuntimeError::new_err(format!(
            "internal error: {name} was not converted to a float array"
        ))
    })
}

/// Several arguments converted and promoted to one dtype (float64 if any
/// is float64), as numpy's `result_type` does for float arrays.
pub fn float_arrays<'py, const N: usize>(
    args: [(&Bound<'py, PyAny>, &str); N],
) -> PyResult<([FloatArray<'py>; N], bool)> {
    let mut arrays = Vec::with_capacity(N);
    for (obj, name) in args {
        arrays.push(float_array(obj, name)?);
    }
    let any_f64 = arrays.iter().any(FloatArray::is_f64);
    let arrays: [FloatArray<'py>; N] = arrays
        .try_into()
        .unwrap_or_else(|_| unreachable!("exactly N arrays were pushed"));
    Ok((arrays, any_f64))
}

/// The array's elements as a slice.
///
/// # Safety
/// `array` must be C-contiguous and aligned (as every `FloatArray` and
/// checked `out=` is), and no `&mut` to the same memory may be live.
pub unsafe fn as_slice<'a, T: Element>(array: &'a Bound<'_, PyArrayDyn<T>>) -> &'a [T] {
    let len = array.len();
    if len == 0 {
        return &[];
    }
    std::slice::from_raw_parts(array.data(), len)
}

/// The array's elements as a mutable slice.
///
/// # Safety
/// As `as_slice`, and no other reference to the same memory may be live.
#[allow(clippy::mut_from_ref)]
pub unsafe fn as_slice_mut<'a, T: Element>(array: &'a Bound<'_, PyArrayDyn<T>>) -> &'a mut [T] {
    let len = array.len();
    if len == 0 {
        return &mut [];
    }
    std::slice::from_raw_parts_mut(array.data(), len)
}

/// A new uninitialised C-order array; every caller writes all of it.
///
/// Unlike `PyArray::new`, which panics when numpy cannot allocate, this
/// returns `MemoryError` (numpy's own) or a `ValueError` when the size does
/// not even fit in an address.
pub fn new_array<'py, T: Element>(
    py: Python<'py>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    let too_big = || {
        PyValueError::new_err(format!(
            "the result would have shape {}, which is too large to allocate",
            shape_str(shape)
        ))
    };
    let elements = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(too_big)?;
    let bytes = elements
        .checked_mul(std::mem::size_of::<T>())
        .ok_or_else(too_big)?;
    if bytes > isize::MAX as usize {
        return Err(too_big());
    }
    let mut dims: Vec<npyffi::npy_intp> = shape.iter().map(|&d| d as npyffi::npy_intp).collect();
    // SAFETY: the dimensions are valid (their product fits in isize), the
    // descr reference is stolen by numpy as its API requires, null strides
    // and data ask numpy for a fresh C-order buffer, and a null result (with
    // numpy's MemoryError set) becomes an Err instead of a panic. The caller
    // fills every element before Python can see it.
    unsafe {
        let ptr = PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            npyffi::get_type_object(py, npyffi::NpyTypes::PyArray_Type),
            T::get_dtype(py).into_dtype_ptr(),
            dims.len() as std::os::raw::c_int,
            dims.as_mut_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
        );
        Ok(Bound::from_owned_ptr_or_err(py, ptr)?.cast_into_unchecked())
    }
}

/// A numpy scalar (`np.float64` or `np.float32`) holding `value`.
pub fn scalar<T: PyFloat>(py: Python<'_>, mut value: T) -> PyResult<Bound<'_, PyAny>> {
    let descr = numpy::dtype::<T>(py);
    // SAFETY: PyArray_Scalar copies one element of the given descr from the
    // pointer (a live local of that type) and returns a new reference.
    unsafe {
        let ptr = PY_ARRAY_API.PyArray_Scalar(
            py,
            (&mut value as *mut T).cast(),
            descr.as_dtype_ptr(),
            std::ptr::null_mut(),
        );
        Bound::from_owned_ptr_or_err(py, ptr)
    }
}

/// Whether two slices share any memory.
pub fn overlaps<T>(a: &[T], b: &[T]) -> bool {
    let (a0, a1) = (
        a.as_ptr() as usize,
        a.as_ptr() as usize + std::mem::size_of_val(a),
    );
    let (b0, b1) = (
        b.as_ptr() as usize,
        b.as_ptr() as usize + std::mem::size_of_val(b),
    );
    !a.is_empty() && !b.is_empty() && a0 < b1 && b0 < a1
}

/// `(3,)`, `(2, 3)` or `()`, as numpy prints shapes.
pub fn shape_str(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Validates a user's `out=` argument for a result of `shape` and dtype `T`.
pub fn out_array<'py, T: PyFloat>(
    out: &Bound<'py, PyAny>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    let array = match out.cast::<PyArrayDyn<T>>() {
        Ok(array) => array,
        Err(_) => {
            return Err(match out.cast::<PyUntypedArray>() {
                Ok(other) => PyValueError::new_err(format!(
                    "out has dtype {}, but the result has dtype {}",
                    other.dtype(),
                    T::NAME
                )),
                Err(_) => PyTypeError::new_err(format!(
                    "out must be a numpy.ndarray, got {}",
                    out.get_type().name()?
                )),
            })
        }
    };
    if array.shape() != shape {
        return Err(PyValueError::new_err(format!(
            "out has shape {}, but the result has shape {}",
            shape_str(array.shape()),
            shape_str(shape)
        )));
    }
    let untyped = array.as_untyped();
    if !is_behaved_c(untyped) {
        return Err(PyValueError::new_err(
            "out must be C-contiguous and aligned (use np.empty_like(x) or np.ascontiguousarray)",
        ));
    }
    if flags(untyped) & npyffi::NPY_ARRAY_WRITEABLE == 0 {
        return Err(PyValueError::new_err("out is read-only"));
    }
    Ok(array.clone())
}

/// Runs `work` without the GIL when it is large enough to pay for that.
pub fn maybe_detached<R: Send>(
    py: Python<'_>,
    elements: usize,
    work: impl FnOnce() -> R + Send,
) -> R {
    if elements >= GIL_RELEASE_MIN {
        py.detach(work)
    } else {
        work()
    }
}
