//! Finite-difference gradients per loss and activation, optimizer steps by hand, CSR against dense.

// Index loops read best where a parameter and its gradient are indexed together.
#![allow(clippy::needless_range_loop)]

use super::*;

/// A deterministic value in [-1, 1).
fn value(seed: usize) -> f64 {
    let x = (seed as u64)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

fn filled(len: usize, seed: usize) -> Vec<f64> {
    (0..len).map(|i| value(seed * 7919 + i)).collect()
}

struct Net {
    layout: Layout,
    coefs: Vec<Vec<f64>>,
    intercepts: Vec<Vec<f64>>,
}

fn net(sizes: &[usize], hidden: Hidden, output: Output, loss: Loss) -> Net {
    let layout = Layout::new(sizes.to_vec(), hidden, output, loss).expect("sizes");
    let coefs = (0..layout.layers())
        .map(|l| filled(sizes[l] * sizes[l + 1], 10 + l))
        .collect();
    let intercepts = (0..layout.layers())
        .map(|l| filled(sizes[l + 1], 20 + l))
        .collect();
    Net {
        layout,
        coefs,
        intercepts,
    }
}

/// Targets each loss accepts: one-hot rows for log loss, 0/1 for binary,
/// positive counts for Poisson.
fn targets(loss: Loss, rows: usize, outputs: usize) -> Vec<f64> {
    (0..rows * outputs)
        .map(|k| {
            let (i, j) = (k / outputs, k % outputs);
            match loss {
                Loss::SquaredError | Loss::SumOfSquares(_) => value(k + 500),
                Loss::Poisson => (value(k + 500) + 1.0) * 2.0,
                Loss::LogLoss if outputs > 1 => f64::from(i % outputs == j),
                Loss::LogLoss | Loss::BinaryLogLoss => f64::from(value(k + 500) > 0.0),
            }
        })
        .collect()
}

fn loss_and_grads(
    net: &Net,
    input: &Input<'_, f64>,
    y: &[f64],
    weights: Option<&[f64]>,
    alpha: f64,
) -> (f64, Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let mut coef_grads: Vec<Vec<f64>> = net.coefs.iter().map(|c| vec![0.0; c.len()]).collect();
    let mut intercept_grads: Vec<Vec<f64>> =
        net.intercepts.iter().map(|c| vec![0.0; c.len()]).collect();
    let mut workspace = Workspace::new();
    let loss = loss_gradient(
        &net.layout,
        &net.coefs,
        &net.intercepts,
        input,
        y,
        weights,
        alpha,
        Gradients {
            coefs: &mut coef_grads,
            intercepts: &mut intercept_grads,
        },
        &mut workspace,
    )
    .expect("memory");
    (loss, coef_grads, intercept_grads)
}

#[test]
fn gradients_match_finite_differences_for_every_loss_and_activation() {
    let pairs = [
        // One output: with several, scikit-learn's squared-error gradient is
        // that of the sum over outputs, not of the mean its loss reports.
        (Output::Identity, Loss::SquaredError, 1),
        (Output::Exp, Loss::Poisson, 2),
        (Output::Softmax, Loss::LogLoss, 3),
        (Output::Logistic, Loss::LogLoss, 1),
        (Output::Logistic, Loss::BinaryLogLoss, 2),
    ];
    let hidden = [
        Hidden::Identity,
        Hidden::Logistic,
        Hidden::Tanh,
        Hidden::Relu,
    ];
    let rows = 7;
    for (output, loss, outputs) in pairs {
        for activation in hidden {
            for weighted in [false, true] {
                let mut n = net(&[4, 5, 3, outputs], activation, output, loss);
                let x = filled(rows * 4, 1);
                let y = targets(loss, rows, outputs);
                let w: Vec<f64> = (0..rows).map(|i| 0.5 + i as f64 / 4.0).collect();
                let weights = weighted.then_some(w.as_slice());
                let input = Input::Dense {
                    data: &x,
                    rows,
                    cols: 4,
                };
                let alpha = 0.3;
                let (_, coef_grads, intercept_grads) =
                    loss_and_grads(&n, &input, &y, weights, alpha);
                let h = 1e-6;
                for layer in 0..3 {
                    for k in 0..n.coefs[layer].len() {
                        let original = n.coefs[layer][k];
                        n.coefs[layer][k] = original + h;
                        let up = loss_and_grads(&n, &input, &y, weights, alpha).0;
                        n.coefs[layer][k] = original - h;
                        let down = loss_and_grads(&n, &input, &y, weights, alpha).0;
                        n.coefs[layer][k] = original;
                        let numeric = (up - down) / (2.0 * h);
                        let analytic = coef_grads[layer][k];
                        assert!(
                            (numeric - analytic).abs() < 1e-6 * (1.0 + numeric.abs()),
                            "{loss:?} {activation:?} layer {layer} coef {k}: {numeric} vs {analytic}"
                        );
                    }
                    for k in 0..n.intercepts[layer].len() {
                        let original = n.intercepts[layer][k];
                        n.intercepts[layer][k] = original + h;
                        let up = loss_and_grads(&n, &input, &y, weights, alpha).0;
                        n.intercepts[layer][k] = original - h;
                        let down = loss_and_grads(&n, &input, &y, weights, alpha).0;
                        n.intercepts[layer][k] = original;
                        let numeric = (up - down) / (2.0 * h);
                        let analytic = intercept_grads[layer][k];
                        assert!(
                            (numeric - analytic).abs() < 1e-6 * (1.0 + numeric.abs()),
                            "{loss:?} {activation:?} layer {layer} intercept {k}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn squared_error_is_half_the_mean_plus_the_l2_term() {
    // One layer, identity: prediction x·w + b.
    let layout = Layout::new(
        vec![1, 1],
        Hidden::Relu,
        Output::Identity,
        Loss::SquaredError,
    )
    .unwrap();
    let (coefs, intercepts) = (vec![vec![2.0]], vec![vec![1.0]]);
    let x = [1.0, 2.0];
    let y = [0.0, 0.0];
    let input = Input::Dense {
        data: &x,
        rows: 2,
        cols: 1,
    };
    let mut grads = (vec![vec![0.0]], vec![vec![0.0]]);
    let loss = loss_gradient(
        &layout,
        &coefs,
        &intercepts,
        &input,
        &y,
        None,
        0.5,
        Gradients {
            coefs: &mut grads.0,
            intercepts: &mut grads.1,
        },
        &mut Workspace::new(),
    )
    .unwrap();
    // predictions 3 and 5: 0.5 · (9 + 25) / 2 + 0.5 · 0.5 · 4 / 2
    assert_eq!(loss, 8.5 + 0.5);
    // (1·3 + 2·5 + 0.5·2) / 2 and (3 + 5) / 2
    assert_eq!(grads.0[0], vec![7.0]);
    assert_eq!(grads.1[0], vec![4.0]);
}

#[test]
fn csr_input_gives_the_dense_results() {
    let (rows, cols) = (9, 6);
    let mut dense = filled(rows * cols, 3);
    let (mut data, mut indices, mut indptr) = (vec![], vec![], vec![0_i64]);
    for (k, v) in dense.iter_mut().enumerate() {
        if value(k + 900) < 0.2 {
            *v = 0.0;
        } else {
            data.push(*v);
            indices.push((k % cols) as i64);
        }
        if k % cols == cols - 1 {
            indptr.push(data.len() as i64);
        }
    }
    let csr = Csr::new(
        &data,
        Indices::I64 {
            indices: &indices,
            indptr: &indptr,
        },
        cols,
    )
    .expect("valid");
    let n = net(
        &[cols, 5, 2],
        Hidden::Tanh,
        Output::Identity,
        Loss::SquaredError,
    );
    let y = targets(Loss::SquaredError, rows, 2);
    let dense_input = Input::Dense {
        data: &dense,
        rows,
        cols,
    };
    let a = loss_and_grads(&n, &dense_input, &y, None, 0.1);
    let b = loss_and_grads(&n, &Input::Csr(csr), &y, None, 0.1);
    assert!((a.0 - b.0).abs() < 1e-14);
    for (ga, gb) in a.1.iter().chain(&a.2).zip(b.1.iter().chain(&b.2)) {
        for (u, v) in ga.iter().zip(gb) {
            assert!((u - v).abs() < 1e-14);
        }
    }
}

#[test]
fn csr_checks_refuse_out_of_range_indices() {
    let data = [1.0_f64, 2.0];
    let bad_column = Indices::I32 {
        indices: &[0, 3],
        indptr: &[0, 1, 2],
    };
    assert_eq!(
        Csr::new(&data, bad_column, 3).unwrap_err(),
        CsrError::Column {
            position: 1,
            cols: 3
        }
    );
    let bad_pointer = Indices::I32 {
        indices: &[0, 1],
        indptr: &[0, 2, 1],
    };
    assert!(matches!(
        Csr::new(&data, bad_pointer, 3),
        Err(CsrError::Indptr { position: 2 })
    ));
}

#[test]
fn sgd_steps_with_momentum_and_nesterov_as_by_hand() {
    let layout = Layout::new(
        vec![1, 1],
        Hidden::Relu,
        Output::Identity,
        Loss::SquaredError,
    )
    .unwrap();
    for nesterov in [false, true] {
        let mut sgd = Optimizer::<f64>::sgd(&layout, 0.1, 0.5, nesterov).unwrap();
        let mut p = [1.0];
        sgd.begin_update();
        sgd.update(0, &mut p, &[2.0]);
        // v = -0.2; nesterov adds 0.5·(-0.2) - 0.2 instead of v.
        let first = if nesterov {
            1.0 - 0.30000000000000004
        } else {
            0.8
        };
        assert_eq!(p[0], first);
        sgd.update(0, &mut p, &[2.0]);
        // v = 0.5·(-0.2) - 0.2 = -0.3
        let second = if nesterov {
            first + (0.5 * -0.30000000000000004 - 0.2)
        } else {
            first + -0.30000000000000004
        };
        assert_eq!(p[0], second);
    }
}

#[test]
fn adam_step_is_bias_corrected() {
    let layout = Layout::new(
        vec![1, 1],
        Hidden::Relu,
        Output::Identity,
        Loss::SquaredError,
    )
    .unwrap();
    let mut adam = Optimizer::<f64>::adam(&layout, 0.01, 0.9, 0.999, 1e-8).unwrap();
    let mut p = [1.0];
    adam.begin_update();
    adam.update(0, &mut p, &[2.0]);
    let m = (1.0 - 0.9) * 2.0;
    let v = (1.0 - 0.999) * 4.0;
    let rate = 0.01 * (1.0_f64 - 0.999).sqrt() / (1.0 - 0.9);
    assert_eq!(p[0], 1.0 + -rate * m / (f64::sqrt(v) + 1e-8));
    let Optimizer::Adam(state) = &adam else {
        unreachable!()
    };
    assert_eq!(state.t, 1);
    assert_eq!(state.ms[0], vec![m]);
}

#[test]
fn epoch_equals_batches_of_loss_gradient_and_updates() {
    let rows = 11;
    let mut n = net(
        &[3, 4, 2],
        Hidden::Relu,
        Output::Identity,
        Loss::SquaredError,
    );
    let x = filled(rows * 3, 5);
    let y = targets(Loss::SquaredError, rows, 2);
    let order: Vec<usize> = (0..rows).rev().collect();
    let input = Input::Dense {
        data: &x,
        rows,
        cols: 3,
    };
    // By hand: each batch's rows copied out, gradients, then SGD.
    let mut expected = Net {
        layout: n.layout.clone(),
        coefs: n.coefs.clone(),
        intercepts: n.intercepts.clone(),
    };
    let mut sgd = Optimizer::<f64>::sgd(&n.layout, 0.05, 0.9, true).unwrap();
    let mut total = 0.0;
    for batch in order.chunks(4) {
        let bx: Vec<f64> = batch
            .iter()
            .flat_map(|&r| x[r * 3..r * 3 + 3].to_vec())
            .collect();
        let by: Vec<f64> = batch
            .iter()
            .flat_map(|&r| y[r * 2..r * 2 + 2].to_vec())
            .collect();
        let input = Input::Dense {
            data: &bx,
            rows: batch.len(),
            cols: 3,
        };
        let (loss, cg, ig) = loss_and_grads(&expected, &input, &by, None, 1e-3);
        total += loss * batch.len() as f64;
        sgd.begin_update();
        for l in 0..2 {
            sgd.update(l, &mut expected.coefs[l], &cg[l]);
        }
        for l in 0..2 {
            sgd.update(2 + l, &mut expected.intercepts[l], &ig[l]);
        }
    }
    let mut optimizer = Optimizer::<f64>::sgd(&n.layout, 0.05, 0.9, true).unwrap();
    let got = epoch(
        &n.layout,
        &mut n.coefs,
        &mut n.intercepts,
        &input,
        &y,
        None,
        &order,
        4,
        1e-3,
        &mut optimizer,
        &mut Workspace::new(),
        || true,
    )
    .unwrap()
    .unwrap();
    assert_eq!(got, total);
    assert_eq!(n.coefs, expected.coefs);
    assert_eq!(n.intercepts, expected.intercepts);
    assert_eq!(optimizer, sgd);
}

#[test]
fn epoch_stops_between_batches_when_asked() {
    let rows = 10;
    let mut n = net(
        &[2, 3, 1],
        Hidden::Relu,
        Output::Identity,
        Loss::SquaredError,
    );
    let x = filled(rows * 2, 6);
    let y = targets(Loss::SquaredError, rows, 1);
    let order: Vec<usize> = (0..rows).collect();
    let mut optimizer = Optimizer::<f32>::sgd(&n.layout, 0.1, 0.0, false).unwrap();
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let y32: Vec<f32> = y.iter().map(|&v| v as f32).collect();
    let mut coefs: Vec<Vec<f32>> = n
        .coefs
        .iter_mut()
        .map(|c| c.iter().map(|&v| v as f32).collect())
        .collect();
    let mut intercepts: Vec<Vec<f32>> = n
        .intercepts
        .iter()
        .map(|c| c.iter().map(|&v| v as f32).collect())
        .collect();
    let mut calls = 0;
    let result = epoch(
        &n.layout,
        &mut coefs,
        &mut intercepts,
        &Input::Dense {
            data: &x32,
            rows,
            cols: 2,
        },
        &y32,
        None,
        &order,
        3,
        0.0,
        &mut optimizer,
        &mut Workspace::new(),
        || {
            calls += 1;
            calls < 2
        },
    )
    .unwrap();
    assert_eq!(result, Err(Interrupted { batches: 2 }));
}

#[test]
fn pairwise_sum_follows_numpy_blocks() {
    use super::real::pairwise_sum;
    let values: Vec<f64> = (0..300).map(|i| value(i) * 1e3).collect();
    // Eight running sums up to 128, halves beyond: compare with the
    // definition written out.
    fn reference(v: &[f64]) -> f64 {
        if v.len() < 8 {
            return v.iter().fold(0.0, |s, &x| s + x);
        }
        if v.len() <= 128 {
            let mut r = [0.0; 8];
            r.copy_from_slice(&v[..8]);
            let whole = v.len() - v.len() % 8;
            let mut i = 8;
            while i < whole {
                for j in 0..8 {
                    r[j] += v[i + j];
                }
                i += 8;
            }
            let mut s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for &x in &v[whole..] {
                s += x;
            }
            return s;
        }
        let half = v.len() / 2 - (v.len() / 2) % 8;
        reference(&v[..half]) + reference(&v[half..])
    }
    for n in [0, 1, 7, 8, 9, 16, 127, 128, 129, 300] {
        assert_eq!(
            pairwise_sum(&values[..n]),
            reference(&values[..n]),
            "n = {n}"
        );
    }
}

#[test]
fn the_two_layer_pass_gives_the_layer_loops_bits() {
    use super::dense::{layer_loops, TwoLayerPass};
    use crate::kernels::activation::Activation;
    type Grads = (Vec<Vec<f64>>, Vec<Vec<f64>>);
    let empty_grads = |layout: &Layout| -> Grads {
        let coefs = (0..2)
            .map(|l| vec![f64::NAN; layout.sizes[l] * layout.sizes[l + 1]])
            .collect();
        let intercepts = (0..2)
            .map(|l| vec![f64::NAN; layout.intercept_len(l)])
            .collect();
        (coefs, intercepts)
    };
    for activation in [Activation::Relu, Activation::Sigmoid, Activation::Step] {
        for reduction in [Reduction::Sum, Reduction::Mean] {
            for intercepts in [false, true] {
                for (sizes, rows) in [([3, 8, 1], 4), ([5, 4, 3], 1), ([2, 17, 2], 9)] {
                    let layout = Layout {
                        sizes: sizes.to_vec(),
                        hidden: Hidden::Neuron(activation),
                        output: Output::Identity,
                        loss: Loss::SumOfSquares(reduction),
                        intercepts,
                        order: Order::Direct,
                    };
                    assert!(TwoLayerPass::of(&layout).is_some());
                    let coefs: Vec<Vec<f64>> = (0..2)
                        .map(|l| filled(sizes[l] * sizes[l + 1], 30 + l))
                        .collect();
                    let biases: Vec<Vec<f64>> = (0..2)
                        .map(|l| filled(layout.intercept_len(l), 40 + l))
                        .collect();
                    let x = filled(rows * sizes[0], 50);
                    let y = filled(rows * sizes[2], 60);
                    let mut workspace = Workspace::new();
                    workspace.reserve(&layout, rows).expect("a small workspace");
                    let (mut fast_coefs, mut fast_intercepts) = empty_grads(&layout);
                    let fast = backprop_dense(
                        &layout,
                        &coefs,
                        &biases,
                        &x,
                        &y,
                        rows,
                        &mut workspace,
                        Gradients {
                            coefs: &mut fast_coefs,
                            intercepts: &mut fast_intercepts,
                        },
                    );
                    let (mut loop_coefs, mut loop_intercepts) = empty_grads(&layout);
                    let looped = layer_loops(
                        &layout,
                        &coefs,
                        &biases,
                        &x,
                        &y,
                        rows,
                        &mut workspace.buffers,
                        Gradients {
                            coefs: &mut loop_coefs,
                            intercepts: &mut loop_intercepts,
                        },
                    );
                    let bits = |v: &[Vec<f64>]| -> Vec<Vec<u64>> {
                        v.iter()
                            .map(|g| g.iter().map(|x| x.to_bits()).collect())
                            .collect()
                    };
                    let case = format!("{activation:?} {reduction:?} {intercepts} {sizes:?}");
                    assert_eq!(fast.to_bits(), looped.to_bits(), "loss, {case}");
                    assert_eq!(bits(&fast_coefs), bits(&loop_coefs), "coefs, {case}");
                    assert_eq!(
                        bits(&fast_intercepts),
                        bits(&loop_intercepts),
                        "intercepts, {case}"
                    );
                }
            }
        }
    }
}
