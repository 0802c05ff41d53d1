//! numpy's legacy `RandomState.shuffle` of an intp vector, with numpy's own bit generator.
//!
//! The draws go through the `bitgen_t` that every numpy `BitGenerator`
//! publishes in its `capsule` attribute (numpy's documented C interface), so
//! the generator is numpy's whatever its kind, and its state advances exactly
//! as numpy's shuffle advances it. The walk itself is
//! `crate::kernels::shuffle`.
//!
//! The function takes the bit generator, not its capsule: the capsule points
//! into the bit generator object without holding a reference to it, so only
//! the generator passed as an argument is sure to stay alive for the call.

use std::ffi::c_void;

use numpy::npyffi;
use numpy::prelude::*;
use numpy::{PyArrayDyn, PyUntypedArray};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyCapsuleMethods};

use crate::bindings::convert::{as_slice_mut, flags, shape_str};
use crate::bindings::error::{Error, Result};
use crate::kernels::shuffle::{shuffle, BitSource};

/// numpy's `bitgen_t` (`numpy/random/bitgen.h`), field for field; the
/// shuffle reads the first three.
#[repr(C)]
struct BitgenT {
    state: *mut c_void,
    next_uint64: Option<unsafe extern "C" fn(*mut c_void) -> u64>,
    next_uint32: Option<unsafe extern "C" fn(*mut c_void) -> u32>,
    _next_double: Option<unsafe extern "C" fn(*mut c_void) -> f64>,
    _next_raw: Option<unsafe extern "C" fn(*mut c_void) -> u64>,
}

/// The two draws the shuffle uses, read out of a `bitgen_t` as numpy's
/// `RandomState` reads them (it keeps a copy of the struct).
struct NumpyBits {
    state: *mut c_void,
    next_uint64: unsafe extern "C" fn(*mut c_void) -> u64,
    next_uint32: unsafe extern "C" fn(*mut c_void) -> u32,
}

impl BitSource for NumpyBits {
    fn next_u32(&mut self) -> u32 {
        // SAFETY: the pointers come from a live bit generator's `bitgen_t`
        // (see `numpy_bits`), which numpy calls the same way.
        unsafe { (self.next_uint32)(self.state) }
    }

    fn next_u64(&mut self) -> u64 {
        // SAFETY: as `next_u32`.
        unsafe { (self.next_uint64)(self.state) }
    }
}

/// The draws of `bit_generator`, through its `capsule`.
fn numpy_bits(bit_generator: &Bound<'_, PyAny>) -> Result<NumpyBits> {
    let not_a_bit_generator = || -> Result<Error> {
        Ok(Error::type_(format!(
            "bit_generator must be a numpy BitGenerator (with a capsule named \
             \"BitGenerator\"), got {}",
            bit_generator.get_type().name()?
        )))
    };
    let Ok(capsule) = bit_generator.getattr(intern!(bit_generator.py(), "capsule")) else {
        return Err(not_a_bit_generator()?);
    };
    let Ok(capsule) = capsule.cast_into::<PyCapsule>() else {
        return Err(not_a_bit_generator()?);
    };
    let Ok(pointer) = capsule.pointer_checked(Some(c"BitGenerator")) else {
        return Err(not_a_bit_generator()?);
    };
    // SAFETY: a capsule named "BitGenerator" holds a `bitgen_t *` (numpy's
    // C-API contract), pointing into the bit generator object, which the
    // caller's reference keeps alive for the whole call.
    let bitgen = unsafe { pointer.cast::<BitgenT>().as_ref() };
    match (bitgen.next_uint64, bitgen.next_uint32) {
        (Some(next_uint64), Some(next_uint32)) => Ok(NumpyBits {
            state: bitgen.state,
            next_uint64,
            next_uint32,
        }),
        _ => Err(Error::value(
            "bit_generator's capsule has no next_uint64 or next_uint32 function",
        )),
    }
}

/// `x`, checked to be an intp vector that can be shuffled in place.
fn shuffled_array<'py>(x: &Bound<'py, PyAny>) -> Result<Bound<'py, PyArrayDyn<isize>>> {
    let Ok(untyped) = x.cast::<PyUntypedArray>() else {
        return Err(Error::type_(format!(
            "x must be a numpy.ndarray of intp, got {}",
            x.get_type().name()?
        )));
    };
    let Ok(typed) = x.cast::<PyArrayDyn<isize>>() else {
        return Err(Error::type_(format!(
            "x has dtype {}, but intp is expected",
            untyped.dtype()
        )));
    };
    if untyped.ndim() != 1 {
        return Err(Error::value(format!(
            "x must be 1-D, got shape {}",
            shape_str(untyped.shape())
        )));
    }
    let f = flags(untyped);
    let behaved = npyffi::NPY_ARRAY_C_CONTIGUOUS | npyffi::NPY_ARRAY_ALIGNED;
    if f & behaved != behaved {
        return Err(Error::value(
            "x must be a C-contiguous, aligned array (np.ascontiguousarray gives one)",
        ));
    }
    if f & npyffi::NPY_ARRAY_WRITEABLE == 0 {
        return Err(Error::value("x is read-only, but it is shuffled in place"));
    }
    Ok(typed.clone())
}

/// Shuffles ``x`` in place as ``numpy.random.RandomState(bit_generator).shuffle(x)``
/// does: the same permutation, and ``bit_generator`` left in the same state.
///
/// The caller holds ``bit_generator.lock`` (as numpy's methods do) so that no
/// other thread draws meanwhile. The GIL stays held: the call is short.
///
/// Parameters
/// ----------
/// bit_generator : numpy.random.BitGenerator
///     ``random_state._bit_generator`` of a ``RandomState``; any bit generator
///     with numpy's ``capsule``.
/// x : ndarray of intp, shape (n,)
///     C-contiguous and writeable; shuffled in place.
///
/// Raises
/// ------
/// TypeError
///     If ``bit_generator`` has no capsule named "BitGenerator", or ``x`` is
///     not an ndarray of intp.
/// ValueError
///     If ``x`` is not 1-D, C-contiguous and writeable.
#[pyfunction(name = "_legacy_shuffle", signature = (bit_generator, x, /))]
fn legacy_shuffle_py(bit_generator: &Bound<'_, PyAny>, x: &Bound<'_, PyAny>) -> Result<()> {
    let mut bits = numpy_bits(bit_generator)?;
    let x = shuffled_array(x)?;
    // SAFETY: checked C-contiguous and aligned; no other Rust reference to
    // its memory exists, and the GIL is held for the whole write.
    let values = unsafe { as_slice_mut(&x) };
    shuffle(values, &mut bits);
    Ok(())
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(legacy_shuffle_py, module)?)
}
