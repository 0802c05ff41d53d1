//! Arguments in and results out: numpy arrays as slices, without copies.
//!
//! The fast path accepts an aligned, C-contiguous float32/float64 ndarray as
//! it is; anything else goes once through the slow path here, which applies
//! numpy's conversion rules (calling numpy, never neurust's Python modules)
//! and names the argument in its errors. `neurust._convert` calls the same
//! slow path, so the rule is written once.
//!
//! Data is read through the raw pointer rather than rust-numpy's borrow
//! tracker, whose cost per array is a large share of a small call's
//! (`neurust compare --workloads relu --sizes 4`; docs/performance.md).
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
use pyo3::types::PyFloat as PyFloatObject;
use pyo3::types::{IntoPyDict, PyBool, PyDict, PyInt, PyTuple};

use crate::bindings::error::{Error, Result};
use crate::kernels::Element as KernelElement;

/// Work smaller than this many elements keeps the GIL: detaching and
/// re-attaching costs about as much as a kernel needs for this many.
pub const GIL_RELEASE_MIN: usize = 1 << 15;

/// `f32` or `f64` as both a kernel element and a numpy element.
pub trait PyFloat: KernelElement + Element {
    /// Takes the array as this dtype, casting (float32 → float64 only) when
    /// the arguments were promoted.
    fn from_array<'py>(array: FloatArray<'py>) -> Result<Bound<'py, PyArrayDyn<Self>>>;
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

    pub fn into_any(self) -> Bound<'py, PyAny> {
        match self {
            FloatArray::F32(a) => a.into_any(),
            FloatArray::F64(a) => a.into_any(),
        }
    }
}

fn promote<'py, T: Element>(
    array: &Bound<'py, PyUntypedArray>,
) -> Result<Bound<'py, PyArrayDyn<T>>> {
    let cast = array.call_method1("astype", (numpy::dtype::<T>(array.py()),))?;
    Ok(cast.cast_into::<PyArrayDyn<T>>()?)
}

impl PyFloat for f64 {
    fn from_array<'py>(array: FloatArray<'py>) -> Result<Bound<'py, PyArrayDyn<f64>>> {
        match array {
            FloatArray::F64(a) => Ok(a),
            FloatArray::F32(a) => promote(a.as_untyped()),
        }
    }
}

impl PyFloat for f32 {
    fn from_array<'py>(array: FloatArray<'py>) -> Result<Bound<'py, PyArrayDyn<f32>>> {
        match array {
            FloatArray::F32(a) => Ok(a),
            FloatArray::F64(a) => promote(a.as_untyped()),
        }
    }
}

pub fn flags(array: &Bound<'_, PyUntypedArray>) -> i32 {
    // SAFETY: a live ndarray object always has a valid flags field.
    unsafe { (*npyffi::objects::_PyArray_GET_ITEM_DATA(array.as_array_ptr())).flags }
}

const BEHAVED_C: i32 = npyffi::NPY_ARRAY_C_CONTIGUOUS | npyffi::NPY_ARRAY_ALIGNED;

fn is_behaved_c(array: &Bound<'_, PyUntypedArray>) -> bool {
    flags(array) & BEHAVED_C == BEHAVED_C
}

/// Whether `obj` is a `numpy.ndarray` itself, not a subclass: subclasses
/// (a masked array, whose mask the kernels would drop) take the converting
/// path. One pointer comparison, against the cast's subclass-accepting check.
fn is_exact_ndarray(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: numpy's API table is loaded (rust-numpy does it once) and
    // a live object always has a valid type pointer.
    unsafe {
        let ndarray = npyffi::get_type_object(obj.py(), npyffi::NpyTypes::PyArray_Type);
        pyo3::ffi::Py_TYPE(obj.as_ptr()) == ndarray
    }
}

fn fast<'py>(obj: &Bound<'py, PyAny>) -> Option<FloatArray<'py>> {
    if !is_exact_ndarray(obj) {
        return None;
    }
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

/// What the kernels accept, for the messages.
const ACCEPTED: &str = "a real array of float32, float64, integer or bool values";

/// `converted` (made by `np.require` below) as a `FloatArray`.
fn converted<'py>(converted: &Bound<'py, PyAny>, name: &str) -> Result<FloatArray<'py>> {
    fast(converted).ok_or_else(|| {
        Error::runtime(format!(
            "internal error: {name} was not converted to a float array"
        ))
    })
}

/// `obj` as an aligned C-contiguous float array; errors name `name`.
pub fn float_array<'py>(obj: &Bound<'py, PyAny>, name: &str) -> Result<FloatArray<'py>> {
    if let Some(array) = fast(obj) {
        return Ok(array);
    }
    let mut arrays = slow_float_arrays(&[(obj, name)])?;
    Ok(arrays.remove(0))
}

/// Several arguments in one dtype, numpy's result dtype for all of them
/// together (see [`slow_float_arrays`]): float32 with int8 stays float32,
/// float32 with int32 is float64. Float32/float64 arrays alone need no
/// conversion (float64 if any is float64). Also says whether it is float64.
pub fn float_arrays_vec<'py>(
    args: &[(&Bound<'py, PyAny>, &str)],
) -> Result<(Vec<FloatArray<'py>>, bool)> {
    let fast_arrays: Option<Vec<FloatArray<'py>>> = args.iter().map(|(obj, _)| fast(obj)).collect();
    let arrays = match fast_arrays {
        Some(arrays) => arrays,
        None => slow_float_arrays(args)?,
    };
    let any_f64 = arrays.iter().any(FloatArray::is_f64);
    Ok((arrays, any_f64))
}

/// [`float_arrays_vec`] for a fixed number of arguments.
pub fn float_arrays<'py, const N: usize>(
    args: [(&Bound<'py, PyAny>, &str); N],
) -> Result<([FloatArray<'py>; N], bool)> {
    let (arrays, any_f64) = float_arrays_vec(&args)?;
    let arrays: [FloatArray<'py>; N] = arrays
        .try_into()
        .unwrap_or_else(|_| unreachable!("exactly N arrays were converted"));
    Ok((arrays, any_f64))
}

/// The slow path, by numpy's conversion rules (`numpy.asarray`, then
/// `numpy.result_type` of all the arguments with integers and bools counted
/// as float64, as numpy does for `ints * 1.0`): lists, integer and bool
/// arrays, strided views and non-native byte order come here once.
///
/// Errors name the argument: a masked array, strings, objects, complex
/// numbers, or a result that would be float16 or extended precision
/// (`TypeError`); a ragged sequence (`ValueError`).
pub fn slow_float_arrays<'py>(args: &[(&Bound<'py, PyAny>, &str)]) -> Result<Vec<FloatArray<'py>>> {
    let Some(&(first, _)) = args.first() else {
        return Ok(Vec::new());
    };
    let py = first.py();
    let mut arrays = Vec::with_capacity(args.len());
    for &(obj, name) in args {
        let array = as_array(obj, name)?;
        check_kind(obj, &array, name)?;
        arrays.push(array);
    }
    static RESULT_TYPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let mut dtypes: Vec<Bound<'py, PyAny>> = arrays.iter().map(|a| a.dtype().into_any()).collect();
    dtypes.push(PyFloatObject::new(py, 1.0).into_any());
    let target = RESULT_TYPE
        .import(py, "numpy", "result_type")?
        .call1(PyTuple::new(py, dtypes)?)?
        .call_method1("newbyteorder", ("=",))?;
    let target_name: String = target.getattr("name")?.extract()?;
    if target_name != "float32" && target_name != "float64" {
        let mut culprits = Vec::new();
        for (array, (_, name)) in arrays.iter().zip(args) {
            let dtype = array.dtype();
            let computed = dtype.is_equiv_to(&numpy::dtype::<f32>(py))
                || dtype.is_equiv_to(&numpy::dtype::<f64>(py));
            if dtype.kind() == b'f' && !computed {
                culprits.push(format!("{name} has dtype {dtype}"));
            }
        }
        return Err(Error::type_(format!(
            "{}: the result would be {target_name}, but neurust computes float32 and float64 \
             only; expected {ACCEPTED}",
            culprits.join("; ")
        )));
    }
    static REQUIRE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let require = REQUIRE.import(py, "numpy", "require")?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("dtype", &target)?;
    kwargs.set_item("requirements", ["C", "A"])?;
    let mut converted_arrays = Vec::with_capacity(args.len());
    for (array, (_, name)) in arrays.iter().zip(args) {
        let required = require.call((array,), Some(&kwargs))?;
        converted_arrays.push(converted(&required, name)?);
    }
    Ok(converted_arrays)
}

/// `numpy.asarray(obj)`, with errors that name the argument.
fn as_array<'py>(obj: &Bound<'py, PyAny>, name: &str) -> Result<Bound<'py, PyUntypedArray>> {
    reject_masked(obj, name)?;
    static ASARRAY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = obj.py();
    match ASARRAY.import(py, "numpy", "asarray")?.call1((obj,)) {
        Ok(array) => Ok(array.cast_into::<PyUntypedArray>()?),
        Err(error) => {
            let why = error.value(py).str()?;
            if error.is_instance_of::<PyValueError>(py) {
                Err(Error::value(format!(
                    "{name} could not be converted to an array: {why}"
                )))
            } else if error.is_instance_of::<PyTypeError>(py)
                || error.is_instance_of::<PyRuntimeError>(py)
            {
                // A torch tensor that requires grad raises RuntimeError here.
                Err(Error::type_(format!(
                    "{name} could not be converted to an array: {why}"
                )))
            } else {
                Err(error.into())
            }
        }
    }
}

/// A TypeError unless `array` (made of `obj`) holds bools, integers or floats.
fn check_kind(obj: &Bound<'_, PyAny>, array: &Bound<'_, PyUntypedArray>, name: &str) -> Result<()> {
    let dtype = array.dtype();
    if matches!(dtype.kind(), b'b' | b'i' | b'u' | b'f') {
        return Ok(());
    }
    if too_large_int(array)? {
        return Err(Error::type_(format!(
            "{name} holds integers too large for int64 or uint64; \
             expected {ACCEPTED} (convert them to float first)"
        )));
    }
    // An object array is named by its dtype; None, dicts and other
    // non-numbers (which numpy wraps in one) are named by their type.
    let wrapped = dtype.kind() == b'O' && obj.cast::<PyUntypedArray>().is_err();
    let what = if wrapped {
        format!("type {}", obj.get_type().name()?)
    } else {
        format!("dtype {dtype}")
    };
    Err(Error::type_(format!(
        "{name} has {what}; expected {ACCEPTED}"
    )))
}

/// Whether numpy made an object array because the data holds ints beyond 64 bits.
fn too_large_int(array: &Bound<'_, PyUntypedArray>) -> Result<bool> {
    if array.dtype().kind() != b'O' || array.len() == 0 {
        return Ok(false);
    }
    let items = array.call_method0("ravel")?.call_method0("tolist")?;
    let mut any_too_large = false;
    for item in items.try_iter()? {
        let item = item?;
        if !item.is_instance_of::<PyInt>() || item.is_instance_of::<PyBool>() {
            return Ok(false);
        }
        // An object array of small ints (made by the caller) holds none too large.
        any_too_large |= item.extract::<i64>().is_err() && item.extract::<u64>().is_err();
    }
    Ok(any_too_large)
}

/// `_core._as_float_arrays`: [`slow_float_arrays`]' rule for Python callers
/// (`neurust._convert.as_float_arrays`), so that the rule is written once.
#[pyfunction(name = "_as_float_arrays", signature = (args, /))]
fn as_float_arrays_py<'py>(
    args: Vec<(Bound<'py, PyAny>, String)>,
) -> Result<Vec<Bound<'py, PyAny>>> {
    let borrowed: Vec<(&Bound<'py, PyAny>, &str)> = args
        .iter()
        .map(|(obj, name)| (obj, name.as_str()))
        .collect();
    let arrays = slow_float_arrays(&borrowed)?;
    Ok(arrays.into_iter().map(FloatArray::into_any).collect())
}

/// `_core._as_array`: [`as_array`] for Python callers (`neurust._convert.as_array`).
#[pyfunction(name = "_as_array", signature = (obj, name, /))]
fn as_array_py<'py>(obj: &Bound<'py, PyAny>, name: &str) -> Result<Bound<'py, PyAny>> {
    Ok(as_array(obj, name)?.into_any())
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(as_float_arrays_py, module)?)?;
    module.add_function(wrap_pyfunction!(as_array_py, module)?)
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
) -> Result<Bound<'py, PyArrayDyn<T>>> {
    let too_big = || {
        Error::value(format!(
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
pub fn scalar<T: PyFloat>(py: Python<'_>, mut value: T) -> Result<Bound<'_, PyAny>> {
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
        Ok(Bound::from_owned_ptr_or_err(py, ptr)?)
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

/// Where a kernel with `out=` writes.
pub enum Out<'py, T: Element> {
    /// `out` has the result's dtype: the kernel writes straight into it.
    Direct(Bound<'py, PyArrayDyn<T>>),
    /// `out` has a dtype numpy's `same_kind` rule casts the result into (as
    /// a ufunc's `out=` does): the kernel writes a temporary, cast into it.
    Cast(Bound<'py, PyUntypedArray>),
}

impl<'py, T: PyFloat> Out<'py, T> {
    /// Runs `compute` into `out` (directly, or through a temporary of the
    /// result's `shape`) and returns `out`.
    pub fn fill(
        self,
        shape: &[usize],
        compute: impl FnOnce(Bound<'py, PyArrayDyn<T>>) -> Result<Bound<'py, PyAny>>,
    ) -> Result<Bound<'py, PyAny>> {
        match self {
            Out::Direct(array) => compute(array),
            Out::Cast(out) => {
                let py = out.py();
                let result = compute(new_array::<T>(py, shape)?)?;
                static COPYTO: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
                let kwargs = [("casting", "same_kind")].into_py_dict(py)?;
                COPYTO
                    .import(py, "numpy", "copyto")?
                    .call((&out, result), Some(&kwargs))?;
                Ok(out.into_any())
            }
        }
    }
}

/// Validates a user's `out=` argument for a result of `shape` and dtype `T`.
pub fn out_array<'py, T: PyFloat>(out: &Bound<'py, PyAny>, shape: &[usize]) -> Result<Out<'py, T>> {
    let Ok(untyped) = out.cast::<PyUntypedArray>() else {
        return Err(Error::type_(format!(
            "out must be a numpy.ndarray, got {}",
            out.get_type().name()?
        )));
    };
    reject_masked(out, "out")?;
    let typed = out.cast::<PyArrayDyn<T>>().ok();
    if typed.is_none() && !same_kind::<T>(untyped)? {
        return Err(Error::value(format!(
            "out has dtype {}, but the result has dtype {}, which numpy's same_kind \
             casting does not allow into it",
            untyped.dtype(),
            T::NAME
        )));
    }
    if untyped.shape() != shape {
        return Err(Error::value(format!(
            "out has shape {}, but the result has shape {}",
            shape_str(untyped.shape()),
            shape_str(shape)
        )));
    }
    if !is_behaved_c(untyped) {
        return Err(Error::value(
            "out must be C-contiguous and aligned (use np.empty_like(x) or np.ascontiguousarray)",
        ));
    }
    if flags(untyped) & npyffi::NPY_ARRAY_WRITEABLE == 0 {
        return Err(Error::value("out is read-only"));
    }
    Ok(match typed {
        Some(array) => Out::Direct(array.clone()),
        None => Out::Cast(untyped.clone()),
    })
}

/// A TypeError naming `name` if `obj` is a masked array: the kernels would
/// silently drop its mask.
pub fn reject_masked(obj: &Bound<'_, PyAny>, name: &str) -> Result<()> {
    if is_exact_ndarray(obj) {
        return Ok(());
    }
    static MASKED: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    if obj.is_instance(MASKED.import(obj.py(), "numpy.ma", "MaskedArray")?)? {
        return Err(Error::type_(format!(
            "{name} is a masked array; neurust ignores masks, so pass {name}.filled(value) or \
             {name}.compressed() (numpy.ma's functions honour the mask)"
        )));
    }
    Ok(())
}

/// Whether numpy casts a `T` result into `out`'s dtype under `same_kind`.
fn same_kind<T: PyFloat>(out: &Bound<'_, PyUntypedArray>) -> Result<bool> {
    static CAN_CAST: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = out.py();
    CAN_CAST
        .import(py, "numpy", "can_cast")?
        .call1((numpy::dtype::<T>(py), out.dtype(), "same_kind"))?
        .extract::<bool>()
        .map_err(Error::from)
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
