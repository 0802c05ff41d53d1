//! The rows a pass reads: dense ones sliced or gathered, CSR ones multiplied in place in scipy's order.

use super::input::{Csr, Index, Input};
use super::real::Real;

/// Which rows of the input a pass reads.
#[derive(Clone, Copy, Debug)]
pub(super) enum Rows<'a> {
    /// Rows `start..start + count`, in order.
    Range { start: usize, count: usize },
    /// These rows, in this order (each checked to be below the input's rows).
    Pick(&'a [usize]),
}

impl Rows<'_> {
    pub fn count(&self) -> usize {
        match self {
            Rows::Range { count, .. } => *count,
            Rows::Pick(rows) => rows.len(),
        }
    }

    #[inline(always)]
    fn get(&self, i: usize) -> usize {
        match self {
            Rows::Range { start, .. } => start + i,
            Rows::Pick(rows) => rows[i],
        }
    }
}

/// A batch's samples as the products read them.
#[derive(Clone, Copy)]
pub(super) enum Batch<'a, T> {
    /// Row-major `rows × inputs`: the input itself or a gathered copy.
    Dense(&'a [T]),
    Csr(Csr<'a, T>, Rows<'a>),
}

/// The batch's samples: a slice of a dense input where its rows are
/// consecutive, else gathered into `buffer`; a CSR input is read in place.
pub(super) fn batch<'a, T: Real>(
    input: &Input<'a, T>,
    rows: Rows<'a>,
    buffer: &'a mut [T],
) -> Batch<'a, T> {
    match *input {
        Input::Dense { data, cols, .. } => match rows {
            Rows::Range { start, count } => {
                Batch::Dense(&data[start * cols..(start + count) * cols])
            }
            Rows::Pick(picked) => {
                let buffer = &mut buffer[..picked.len() * cols];
                for (row, &source) in buffer.chunks_exact_mut(cols.max(1)).zip(picked) {
                    row.copy_from_slice(&data[source * cols..(source + 1) * cols]);
                }
                Batch::Dense(buffer)
            }
        },
        Input::Csr(csr) => Batch::Csr(csr, rows),
    }
}

/// `values`' rows (`cols` wide) for the batch: a slice when consecutive,
/// else gathered into `buffer`.
pub(super) fn gather<'a, T: Real>(
    values: &'a [T],
    cols: usize,
    rows: Rows<'_>,
    buffer: &'a mut [T],
) -> &'a [T] {
    match rows {
        Rows::Range { start, count } => &values[start * cols..(start + count) * cols],
        Rows::Pick(picked) => {
            let buffer = &mut buffer[..picked.len() * cols];
            for (row, &source) in buffer.chunks_exact_mut(cols).zip(picked) {
                row.copy_from_slice(&values[source * cols..(source + 1) * cols]);
            }
            buffer
        }
    }
}

/// `out = X[rows] @ coef` for a CSR `X`, in scipy's order (`csr_matvecs`).
pub(super) fn csr_times<T: Real, I: Index>(
    data: &[T],
    indices: &[I],
    indptr: &[I],
    rows: Rows<'_>,
    coef: &[T],
    cols: usize,
    out: &mut [T],
) {
    for (i, out_row) in out.chunks_exact_mut(cols).enumerate().take(rows.count()) {
        out_row.fill(T::ZERO);
        let source = rows.get(i);
        for k in indptr[source].at()..indptr[source + 1].at() {
            let (value, column) = (data[k], indices[k].at());
            for (o, &w) in out_row
                .iter_mut()
                .zip(&coef[column * cols..(column + 1) * cols])
            {
                *o += value * w;
            }
        }
    }
}

/// `out = X[rows]ᵀ @ delta` for a CSR `X`, in scipy's order for the CSC
/// transpose (`csc_matvecs`: each row's entries scattered in turn).
pub(super) fn csr_transpose_times<T: Real, I: Index>(
    data: &[T],
    indices: &[I],
    indptr: &[I],
    rows: Rows<'_>,
    delta: &[T],
    cols: usize,
    out: &mut [T],
) {
    out.fill(T::ZERO);
    for (i, delta_row) in delta.chunks_exact(cols).enumerate().take(rows.count()) {
        let source = rows.get(i);
        for k in indptr[source].at()..indptr[source + 1].at() {
            let (value, column) = (data[k], indices[k].at());
            for (o, &d) in out[column * cols..(column + 1) * cols]
                .iter_mut()
                .zip(delta_row)
            {
                *o += value * d;
            }
        }
    }
}
