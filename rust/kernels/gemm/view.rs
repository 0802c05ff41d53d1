//! A read-only strided matrix view, so transposes and column ranges need no copy.

/// A read-only strided matrix view: element `(i, j)` is
/// `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct View<'a, T> {
    pub(super) data: &'a [T],
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) row_stride: usize,
    pub(super) col_stride: usize,
}

impl<'a, T> View<'a, T> {
    /// A row-major `rows × cols` matrix.
    ///
    /// # Panics
    /// If `data.len() != rows * cols`.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        assert_eq!(Some(data.len()), rows.checked_mul(cols), "View: shape");
        View {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// Columns `start..end`, without copying.
    ///
    /// # Panics
    /// If `start > end` or `end > cols`.
    pub fn column_range(self, start: usize, end: usize) -> Self {
        assert!(start <= end && end <= self.cols, "View: column range");
        // Every element of the narrower view is an element of this one, so
        // the bound checked in `row_major` still holds.
        let offset = (start * self.col_stride).min(self.data.len());
        View {
            data: &self.data[offset..],
            cols: end - start,
            ..self
        }
    }

    /// The transpose, without copying.
    pub fn t(self) -> Self {
        View {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    #[inline(always)]
    pub(super) fn at(&self, i: usize, j: usize) -> &T {
        &self.data[i * self.row_stride + j * self.col_stride]
    }
}
