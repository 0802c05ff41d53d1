//! The samples a network reads: a dense row-major matrix or a CSR matrix, read in place.

use core::fmt;

/// The column indices and row pointers of a CSR matrix, in the integer type
/// scipy gave them.
#[derive(Clone, Copy, Debug)]
pub enum Indices<'a> {
    I32 {
        indices: &'a [i32],
        indptr: &'a [i32],
    },
    I64 {
        indices: &'a [i64],
        indptr: &'a [i64],
    },
}

/// A CSR matrix checked once: every row range lies within `data` and every
/// column index within `0..cols`, so reading it cannot go out of bounds.
#[derive(Clone, Copy, Debug)]
pub struct Csr<'a, T> {
    data: &'a [T],
    indices: Indices<'a>,
    rows: usize,
    cols: usize,
}

/// What is wrong with a CSR matrix, named after scipy's arrays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CsrError {
    /// `indices` and `data` differ in length.
    Lengths { data: usize, indices: usize },
    /// `indptr` is empty, does not start at 0, decreases or passes the end of `data`.
    Indptr { position: usize },
    /// A column index outside `0..cols`.
    Column { position: usize, cols: usize },
}

impl fmt::Display for CsrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CsrError::Lengths { data, indices } => write!(
                f,
                "X's CSR indices have {indices} entries, but its data has {data}"
            ),
            CsrError::Indptr { position } => write!(
                f,
                "X's CSR indptr is not a valid row pointer at position {position} (it must start \
                 at 0, never decrease and end within data)"
            ),
            CsrError::Column { position, cols } => write!(
                f,
                "X's CSR indices[{position}] is not a column index in 0..{cols}"
            ),
        }
    }
}

impl std::error::Error for CsrError {}

/// An index scipy may store: `i32` or `i64`.
pub(super) trait Index: Copy {
    fn at(self) -> usize;
}

impl Index for i32 {
    #[inline(always)]
    fn at(self) -> usize {
        self as usize
    }
}

impl Index for i64 {
    #[inline(always)]
    fn at(self) -> usize {
        self as usize
    }
}

fn check<I: Index + Into<i64>>(
    data_len: usize,
    indices: &[I],
    indptr: &[I],
    cols: usize,
) -> Result<usize, CsrError> {
    if indices.len() != data_len {
        return Err(CsrError::Lengths {
            data: data_len,
            indices: indices.len(),
        });
    }
    if indptr.first().map(|&p| p.into()) != Some(0) {
        return Err(CsrError::Indptr { position: 0 });
    }
    let mut previous = 0_i64;
    for (position, &p) in indptr.iter().enumerate() {
        let p: i64 = p.into();
        if p < previous || p as u64 > data_len as u64 {
            return Err(CsrError::Indptr { position });
        }
        previous = p;
    }
    for (position, &column) in indices.iter().enumerate() {
        let column: i64 = column.into();
        if column < 0 || column as u64 >= cols as u64 {
            return Err(CsrError::Column { position, cols });
        }
    }
    Ok(indptr.len() - 1)
}

impl<'a, T> Csr<'a, T> {
    /// Checks scipy's three arrays and the column count.
    pub fn new(data: &'a [T], indices: Indices<'a>, cols: usize) -> Result<Self, CsrError> {
        let rows = match indices {
            Indices::I32 { indices, indptr } => check(data.len(), indices, indptr, cols)?,
            Indices::I64 { indices, indptr } => check(data.len(), indices, indptr, cols)?,
        };
        Ok(Csr {
            data,
            indices,
            rows,
            cols,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn data(&self) -> &'a [T] {
        self.data
    }

    pub fn indices(&self) -> Indices<'a> {
        self.indices
    }
}

/// The samples: `rows × cols`.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a, T> {
    Dense {
        data: &'a [T],
        rows: usize,
        cols: usize,
    },
    Csr(Csr<'a, T>),
}

impl<T> Input<'_, T> {
    pub fn rows(&self) -> usize {
        match self {
            Input::Dense { rows, .. } => *rows,
            Input::Csr(csr) => csr.rows,
        }
    }

    pub fn cols(&self) -> usize {
        match self {
            Input::Dense { cols, .. } => *cols,
            Input::Csr(csr) => csr.cols,
        }
    }
}
