//! The two-layer net on the N-layer core gives the bits of its own former passes.
//!
//! `reference` holds the passes as they were before the core served the net;
//! these tests run both over many shapes, both dtypes, every activation, both
//! reductions, with and without biases, and compare every value bit for bit:
//! predictions, losses, gradients, and the fused fit's history and parameters
//! against a loop of the reference gradients and `step`.

use super::reference;
use super::*;
use crate::kernels::parallel;
use crate::kernels::Element;

/// Deterministic values in about [-2, 2], with exact zeros now and then (the
/// ReLU's kink) and some repeated magnitudes.
fn values<T: Element>(len: usize, seed: u64) -> Vec<T> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let bits = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
            let u = bits as f64 / (1u64 << 53) as f64;
            if bits.is_multiple_of(17) {
                0.0
            } else {
                4.0 * u - 2.0
            }
        })
        .map(T::from_f64)
        .collect()
}

fn bits<T: Element>(values: &[T]) -> Vec<u64> {
    values.iter().map(|v| v.to_f64().to_bits()).collect()
}

struct Case<T> {
    net: TwoLayer,
    rows: usize,
    x: Vec<T>,
    y: Vec<T>,
    w1: Vec<T>,
    b1: Option<Vec<T>>,
    w2: Vec<T>,
    b2: Option<Vec<T>>,
}

impl<T: Element> Case<T> {
    fn new(net: TwoLayer, rows: usize, seed: u64) -> Self {
        let scale = |v: Vec<T>, by: f64| v.into_iter().map(|x| x * T::from_f64(by)).collect();
        Case {
            net,
            rows,
            x: values(rows * net.input_dim, seed),
            y: values(rows * net.output_dim, seed + 1),
            w1: scale(values(net.w1_len(), seed + 2), 0.5),
            b1: net.bias.then(|| values(net.hidden_dim, seed + 3)),
            w2: scale(values(net.w2_len(), seed + 4), 0.5),
            b2: net.bias.then(|| values(net.output_dim, seed + 5)),
        }
    }

    fn params(&self) -> Params<'_, T> {
        Params {
            w1: &self.w1,
            b1: self.b1.as_deref(),
            w2: &self.w2,
            b2: self.b2.as_deref(),
        }
    }
}

fn gradient_bits<T: Element>(g: &Gradients<T>) -> [Vec<u64>; 4] {
    [bits(&g.w1), bits(&g.b1), bits(&g.w2), bits(&g.b2)]
}

/// Every pass of `case` on the core against the reference.
fn check_passes<T: Element>(case: &Case<T>, reduction: Reduction) {
    let (net, rows, params) = (&case.net, case.rows, case.params());
    let (x, y) = (&case.x[..], &case.y[..]);
    let what = format!("{net:?}, {rows} rows, {reduction:?}, {}", T::NAME);
    let mut ws = Workspace::new(*net, rows).expect("a small workspace");
    let mut old = reference::Workspace::new(net, rows);

    let predictions = bits(forward(net, &params, x, rows, &mut ws));
    reference::forward(net, &params, x, rows, &mut old);
    assert_eq!(predictions, bits(&old.predictions), "forward: {what}");
    assert_eq!(
        bits(ws.activations(rows)),
        bits(&old.activations),
        "activations: {what}"
    );

    let loss_new = loss(net, &params, x, y, rows, reduction, &mut ws);
    let loss_old = reference::loss(net, &params, x, y, rows, reduction, &mut old);
    assert_eq!(bits(&[loss_new]), bits(&[loss_old]), "loss: {what}");

    let (loss_old, grads_old) = reference::gradients(net, &params, x, y, rows, reduction);
    let loss_new = gradients(net, &params, x, y, rows, reduction, &mut ws);
    assert_eq!(
        bits(&[loss_new]),
        bits(&[loss_old]),
        "gradients' loss: {what}"
    );
    assert_eq!(
        gradient_bits(ws.gradients()),
        gradient_bits(&grads_old),
        "gradients: {what}"
    );

    // Into caller buffers holding garbage, as the binding's fresh arrays may.
    let mut into = grads_old.clone();
    for buffer in [&mut into.w1, &mut into.b1, &mut into.w2, &mut into.b2] {
        buffer.iter_mut().for_each(|v| *v = T::from_f64(f64::NAN));
    }
    let loss_into = gradients_into(
        net,
        &params,
        x,
        y,
        rows,
        reduction,
        &mut ws,
        &mut into.as_mut(),
    );
    assert_eq!(
        bits(&[loss_into]),
        bits(&[loss_old]),
        "gradients_into's loss: {what}"
    );
    assert_eq!(
        gradient_bits(&into),
        gradient_bits(&grads_old),
        "gradients_into: {what}"
    );
}

const ACTIVATIONS: [Activation; 3] = [Activation::Relu, Activation::Sigmoid, Activation::Step];

fn check_many_shapes<T: Element>() {
    let mut seed = 1;
    for &(input_dim, hidden_dim, output_dim) in &[
        (1, 1, 1),
        (4, 3, 1),
        (3, 8, 1),
        (16, 32, 1),
        (5, 7, 2),
        (40, 9, 3),
        (33, 20, 15),
        (100, 64, 10),
        (2, 70, 17),
        (200, 100, 1),
    ] {
        for rows in [1, 3, 16, 37] {
            for activation in ACTIVATIONS {
                for bias in [false, true] {
                    for reduction in [Reduction::Sum, Reduction::Mean] {
                        let net = TwoLayer {
                            input_dim,
                            hidden_dim,
                            output_dim,
                            activation,
                            bias,
                        };
                        seed += 7;
                        check_passes(&Case::<T>::new(net, rows, seed), reduction);
                    }
                }
            }
        }
    }
}

#[test]
fn passes_match_the_former_two_layer_passes_in_float64() {
    check_many_shapes::<f64>();
}

#[test]
fn passes_match_the_former_two_layer_passes_in_float32() {
    check_many_shapes::<f32>();
}

#[test]
fn large_passes_match_on_one_and_two_threads() {
    // The tutorial's size: products large enough for the parallel paths, and
    // activations large enough to be split over threads.
    let before = parallel::num_threads();
    for threads in [1, 2] {
        parallel::set_num_threads(threads);
        for activation in ACTIVATIONS {
            let net = TwoLayer {
                input_dim: 1000,
                hidden_dim: 100,
                output_dim: 1,
                activation,
                bias: false,
            };
            check_passes(&Case::<f64>::new(net, 128, 11), Reduction::Sum);
            let net = TwoLayer {
                input_dim: 300,
                hidden_dim: 500,
                output_dim: 4,
                activation,
                bias: true,
            };
            check_passes(&Case::<f32>::new(net, 300, 12), Reduction::Mean);
        }
    }
    parallel::set_num_threads(before);
}

/// The fused fit against a loop of the reference gradients and `step`:
/// the same history, the same final parameters, the same error.
fn check_fit<T: Element>(case: &Case<T>, config: &FitConfig) {
    let (net, rows) = (&case.net, case.rows);
    let what = format!("{net:?}, {rows} rows, {config:?}, {}", T::NAME);

    let mut w1 = case.w1.clone();
    let mut b1 = case.b1.clone();
    let mut w2 = case.w2.clone();
    let mut b2 = case.b2.clone();
    let batch = config.batch_size.unwrap_or(rows).min(rows);
    let blocks = rows.div_ceil(batch);
    let lr = T::from_f64(config.learning_rate);
    let mut history_old = Vec::new();
    // The parameters before the last update: a non-finite loss drops it.
    let mut before = (w1.clone(), b1.clone(), w2.clone(), b2.clone());
    for step_index in 0..config.steps {
        let start = step_index % blocks * batch;
        let end = (start + batch).min(rows);
        let params = Params {
            w1: &w1,
            b1: b1.as_deref(),
            w2: &w2,
            b2: b2.as_deref(),
        };
        let (loss, grads) = reference::gradients(
            net,
            &params,
            &case.x[start * net.input_dim..end * net.input_dim],
            &case.y[start * net.output_dim..end * net.output_dim],
            end - start,
            config.reduction,
        );
        history_old.push(loss);
        if !loss.is_finite() {
            if step_index > 0 {
                (w1, b1, w2, b2) = before;
            }
            break;
        }
        before = (w1.clone(), b1.clone(), w2.clone(), b2.clone());
        let mut params = ParamsMut {
            w1: &mut w1,
            b1: b1.as_deref_mut(),
            w2: &mut w2,
            b2: b2.as_deref_mut(),
        };
        step(&mut params, &grads, lr);
    }

    let mut new = Case {
        net: *net,
        rows,
        x: Vec::new(),
        y: Vec::new(),
        w1: case.w1.clone(),
        b1: case.b1.clone(),
        w2: case.w2.clone(),
        b2: case.b2.clone(),
    };
    let mut ws = Workspace::for_fit(*net, batch).expect("a small workspace");
    let mut history = vec![T::from_f64(f64::NAN); config.steps];
    let mut params = ParamsMut {
        w1: &mut new.w1,
        b1: new.b1.as_deref_mut(),
        w2: &mut new.w2,
        b2: new.b2.as_deref_mut(),
    };
    let result = fit(
        net,
        &mut params,
        &case.x,
        &case.y,
        rows,
        config,
        &mut ws,
        &mut history,
        |_, _| true,
    );
    let recorded = match result {
        Ok(outcome) => outcome.steps_done,
        Err(FitError::NonFiniteLoss { step, .. }) => step + 1,
    };
    assert_eq!(recorded, history_old.len(), "steps: {what}");
    assert_eq!(
        bits(&history[..recorded]),
        bits(&history_old),
        "history: {what}"
    );
    assert_eq!(bits(&new.w1), bits(&w1), "w1: {what}");
    assert_eq!(bits(&new.w2), bits(&w2), "w2: {what}");
    assert_eq!(new.b1.map(|b| bits(&b)), b1.map(|b| bits(&b)), "b1: {what}");
    assert_eq!(new.b2.map(|b| bits(&b)), b2.map(|b| bits(&b)), "b2: {what}");
}

fn check_fits<T: Element>() {
    let mut seed = 100;
    for &(rows, input_dim, hidden_dim, output_dim) in &[
        (4, 4, 3, 1),
        (64, 16, 32, 1),
        (50, 12, 9, 3),
        (128, 100, 20, 1),
    ] {
        for activation in ACTIVATIONS {
            for bias in [false, true] {
                for (reduction, lr) in [(Reduction::Sum, 1e-3), (Reduction::Mean, 0.05)] {
                    for batch_size in [None, Some(16), Some(rows)] {
                        let net = TwoLayer {
                            input_dim,
                            hidden_dim,
                            output_dim,
                            activation,
                            bias,
                        };
                        seed += 3;
                        let config = FitConfig {
                            reduction,
                            batch_size,
                            ..FitConfig::new(12, lr)
                        };
                        check_fit(&Case::<T>::new(net, rows, seed), &config);
                    }
                }
            }
        }
    }
}

#[test]
fn fit_matches_the_former_passes_and_step_in_float64() {
    check_fits::<f64>();
}

#[test]
fn fit_matches_the_former_passes_and_step_in_float32() {
    check_fits::<f32>();
}

#[test]
fn a_diverging_fit_stops_where_the_former_passes_do() {
    let net = TwoLayer {
        input_dim: 20,
        hidden_dim: 30,
        output_dim: 2,
        activation: Activation::Relu,
        bias: true,
    };
    for lr in [10.0, 1e3] {
        check_fit(&Case::<f64>::new(net, 40, 5), &FitConfig::new(40, lr));
        check_fit(&Case::<f32>::new(net, 40, 6), &FitConfig::new(40, lr));
    }
}
