//! scikit-learn's SGD (momentum, Nesterov) and Adam, and the two-layer net's plain descent.
//!
//! The state is one buffer per parameter, in scikit-learn's order: every
//! layer's coefficients, then every layer's intercepts.

use super::real::Real;
use super::Layout;
use crate::kernels::alloc::{zeroed, AllocError};
use crate::kernels::parallel::{self, CHUNK};
use crate::kernels::simd::{self, Level};

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
    update(params, grads, move |w, g| descended(w, g, learning_rate));
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
    update(grads, params, move |g, w| descended(w, g, learning_rate));
}

/// Updates shorter than this skip the choice of SIMD level: on the tiny
/// net's 8 to 24 parameters a layer it cost more than it saved (`neurust
/// compare --workloads fit --sizes fit=4x3x8x1:10000`).
const SIMD_UPDATE_MIN: usize = 256;

/// `values[i] = f(values[i], other[i])` for equal-length slices: in chunks
/// over the pool from `ELEMENTWISE_PARALLEL_MIN` elements, each compiled
/// for AVX where the CPU has it. Each element is computed alone, so neither
/// changes the bits. With the tutorial's 100,000 first-layer weights
/// updated by one thread in SSE2, the other idle, a 2-thread fit step took
/// 462 µs instead of 440 at AVX2 (`neurust compare --workloads fit --sizes
/// fit=128x1000x100x1:500 --threads 2`; figures in docs/performance.md).
#[inline(always)]
fn update<T: Real>(values: &mut [T], other: &[T], f: impl Fn(T, T) -> T + Copy + Sync) {
    let serial = move |values: &mut [T], other: &[T]| {
        simd::dispatch(
            Level::Avx,
            #[inline(always)]
            move |_| {
                for (v, &o) in values.iter_mut().zip(other) {
                    *v = f(*v, o);
                }
            },
        )
    };
    if values.len() < SIMD_UPDATE_MIN {
        for (v, &o) in values.iter_mut().zip(other) {
            *v = f(*v, o);
        }
        return;
    }
    if !parallel::worth_parallel(values.len()) {
        return serial(values, other);
    }
    parallel::for_each_chunk(
        values.chunks_mut(CHUNK).zip(other.chunks(CHUNK)),
        |(values, other)| serial(values, other),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gemm::tests::filled;

    /// Plain descent, short or long enough to run over the pool in chunks
    /// at the widest level, against `w - lr * g` element by element.
    #[test]
    fn descent_has_the_bits_of_one_element_at_a_time() {
        let before = parallel::num_threads();
        for threads in [1, 3] {
            parallel::set_num_threads(threads);
            for len in [0, 1, 255, 256, 1001, 1 << 16, 200_003] {
                let (w, g) = (filled(len, 1), filled(len, 2));
                let lr = 0.37;
                let want: Vec<u64> = w
                    .iter()
                    .zip(&g)
                    .map(|(w, g)| (w - lr * g).to_bits())
                    .collect();
                let mut params = w.clone();
                descend(&mut params, &g, lr);
                let mut grads = g.clone();
                descend_over(&mut grads, &w, lr);
                let as_bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(as_bits(&params), want, "descend, {len}, {threads} threads");
                assert_eq!(
                    as_bits(&grads),
                    want,
                    "descend_over, {len}, {threads} threads"
                );
            }
        }
        parallel::set_num_threads(before);
    }
}
