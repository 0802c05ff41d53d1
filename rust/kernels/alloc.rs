//! Fallible zero-filled buffers: an error the bindings turn into `MemoryError`, not an abort.

use core::fmt;
use std::alloc::{alloc_zeroed, Layout};

use super::Float;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_impossible_buffers() {
        assert!(zeroed::<f32>(Some(0)).expect("empty").is_empty());
        assert_eq!(zeroed::<f64>(None), Err(AllocError { elements: None }));
        let err = zeroed::<f64>(Some(1 << 61)).expect_err("16 EiB");
        assert_eq!(err.elements, Some(1 << 61));
    }
}
