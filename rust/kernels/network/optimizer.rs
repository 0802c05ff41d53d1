//! scikit-learn's SGD (momentum, Nesterov) and Adam, and the two-layer net's plain descent.
//!
//! The state is one buffer per parameter, in scikit-learn's order: every
//! layer's coefficients, then every layer's intercepts.

use super::real::Real;
use super::Layout;
use crate::kernels::alloc::{zeroed, AllocError};

/// Stochastic gradient descent with momentum (scikit-learn's `SGDOptimizer`;
/// its schedules change `learning_rate` between epochs).
#[derive(Clone, Debug, PartialEq)]
pub struct Sgd<T> {
    pub learning_rate: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub velocities: Vec<Vec<T>>,
}

/// Adam (scikit-learn's `AdamOptimizer`).
#[derive(Clone, Debug, PartialEq)]
pub struct Adam<T> {
    pub learning_rate_init: f64,
    /// The bias-corrected rate of the last update (`learning_rate_init`
    /// before the first).
    pub learning_rate: f64,
    pub beta_1: f64,
    pub beta_2: f64,
    pub epsilon: f64,
    /// Updates so far.
    pub t: u64,
    pub ms: Vec<Vec<T>>,
    pub vs: Vec<Vec<T>>,
}

/// The optimizer and its state.
#[derive(Clone, Debug, PartialEq)]
pub enum Optimizer<T> {
    Sgd(Sgd<T>),
    Adam(Adam<T>),
}

/// One zeroed buffer per parameter of `layout`, coefficients first.
fn zeros_like_params<T: Real>(layout: &Layout) -> Result<Vec<Vec<T>>, AllocError> {
    let mut buffers = Vec::with_capacity(2 * layout.layers());
    for layer in 0..layout.layers() {
        let (rows, cols) = layout.coef_shape(layer);
        buffers.push(zeroed(rows.checked_mul(cols))?);
    }
    for layer in 0..layout.layers() {
        buffers.push(zeroed(Some(layout.intercept_len(layer)))?);
    }
    Ok(buffers)
}

impl<T: Real> Optimizer<T> {
    /// SGD with zero velocities.
    pub fn sgd(
        layout: &Layout,
        learning_rate: f64,
        momentum: f64,
        nesterov: bool,
    ) -> Result<Self, AllocError> {
        Ok(Optimizer::Sgd(Sgd {
            learning_rate,
            momentum,
            nesterov,
            velocities: zeros_like_params(layout)?,
        }))
    }

    /// Adam at `t = 0` with zero moments.
    pub fn adam(
        layout: &Layout,
        learning_rate_init: f64,
        beta_1: f64,
        beta_2: f64,
        epsilon: f64,
    ) -> Result<Self, AllocError> {
        Ok(Optimizer::Adam(Adam {
            learning_rate_init,
            learning_rate: learning_rate_init,
            beta_1,
            beta_2,
            epsilon,
            t: 0,
            ms: zeros_like_params(layout)?,
            vs: zeros_like_params(layout)?,
        }))
    }

    /// The state buffers, for checks of their shapes.
    pub fn buffers(&self) -> Vec<&[T]> {
        match self {
            Optimizer::Sgd(sgd) => sgd.velocities.iter().map(Vec::as_slice).collect(),
            Optimizer::Adam(adam) => adam.ms.iter().chain(&adam.vs).map(Vec::as_slice).collect(),
        }
    }

    /// Starts an update: Adam counts it and computes its bias-corrected rate
    /// (in float64, with `pow` as Python's `**` calls it).
    pub fn begin_update(&mut self) {
        if let Optimizer::Adam(adam) = self {
            adam.t += 1;
            let t = adam.t as f64;
            adam.learning_rate = adam.learning_rate_init * (1.0 - adam.beta_2.powf(t)).sqrt()
                / (1.0 - adam.beta_1.powf(t));
        }
    }

    /// Updates parameter `index` (scikit-learn's order) from its gradient.
    ///
    /// Inlined so that the caller's `simd::dispatch` compiles the loops for
    /// wide vectors (out of line, Adam's square roots and divisions ran in
    /// SSE2: `benches/network_per_batch.py`; figures in docs/performance.md).
    #[inline(always)]
    pub fn update(&mut self, index: usize, param: &mut [T], grad: &[T]) {
        assert_eq!(param.len(), grad.len(), "optimizer: gradient shape");
        match self {
            Optimizer::Sgd(sgd) => {
                let velocity = &mut sgd.velocities[index];
                assert_eq!(velocity.len(), param.len(), "optimizer: state shape");
                let momentum = T::from_f64(sgd.momentum);
                let rate = T::from_f64(sgd.learning_rate);
                for ((p, v), &g) in param.iter_mut().zip(velocity.iter_mut()).zip(grad) {
                    *v = momentum * *v - rate * g;
                    let step = if sgd.nesterov {
                        momentum * *v - rate * g
                    } else {
                        *v
                    };
                    *p += step;
                }
            }
            Optimizer::Adam(adam) => {
                let (m, v) = (&mut adam.ms[index], &mut adam.vs[index]);
                assert_eq!(m.len(), param.len(), "optimizer: state shape");
                assert_eq!(v.len(), param.len(), "optimizer: state shape");
                let (beta_1, beta_2) = (T::from_f64(adam.beta_1), T::from_f64(adam.beta_2));
                let (keep_1, keep_2) = (
                    T::from_f64(1.0 - adam.beta_1),
                    T::from_f64(1.0 - adam.beta_2),
                );
                let epsilon = T::from_f64(adam.epsilon);
                // numpy multiplies a float32 moment by the float64 rate in
                // float64 and adds the float64 step to the float32 parameter.
                let rate = -adam.learning_rate;
                for (((p, m), v), &g) in param
                    .iter_mut()
                    .zip(m.iter_mut())
                    .zip(v.iter_mut())
                    .zip(grad)
                {
                    *m = beta_1 * *m + keep_1 * g;
                    *v = beta_2 * *v + keep_2 * (g * g);
                    let step = rate * m.to_f64() / (v.sqrt() + epsilon).to_f64();
                    *p = T::from_f64(p.to_f64() + step);
                }
            }
        }
    }
}

/// `w - learning_rate * g`, rounded as numpy's `w - lr * g` rounds it (a
/// product then a difference, no fused multiply-add): the two-layer net's
/// update, wherever its result is written.
#[inline(always)]
fn descended<T: Real>(w: T, g: T, learning_rate: T) -> T {
    w - learning_rate * g
}

/// Plain gradient descent in place: `params -= learning_rate * grads`.
///
/// # Panics
/// If the slices differ in length.
#[inline]
pub fn descend<T: Real>(params: &mut [T], grads: &[T], learning_rate: T) {
    assert_eq!(params.len(), grads.len(), "descent: gradient shape");
    for (w, &g) in params.iter_mut().zip(grads) {
        *w = descended(*w, g, learning_rate);
    }
}

/// Plain gradient descent written apart: `out = params - learning_rate * grads`.
///
/// # Panics
/// If the three slices differ in length.
#[inline]
pub fn descend_into<T: Real>(out: &mut [T], params: &[T], grads: &[T], learning_rate: T) {
    assert_eq!(params.len(), grads.len(), "descent: gradient shape");
    assert_eq!(out.len(), params.len(), "descent: output shape");
    for ((o, &w), &g) in out.iter_mut().zip(params).zip(grads) {
        *o = descended(w, g, learning_rate);
    }
}

/// Plain gradient descent over the gradients: `grads = params -
/// learning_rate * grads` (the next parameters where the backward pass has
/// just written, so the update moves no more memory than one in place).
///
/// # Panics
/// If the slices differ in length.
#[inline]
pub fn descend_over<T: Real>(grads: &mut [T], params: &[T], learning_rate: T) {
    assert_eq!(grads.len(), params.len(), "descent: gradient shape");
    for (g, &w) in grads.iter_mut().zip(params) {
        *g = descended(w, *g, learning_rate);
    }
}
