//! Tests of the two-layer network: worked examples, finite differences and the training loop.

use std::time::Duration;

use super::train::CLOCK_EVERY;
use super::*;
use crate::kernels::parallel;
use crate::kernels::Element;

/// A small deterministic generator of standard-normal draws (xorshift64*
/// then Box–Muller), so the tests need no random-number crate.
struct Normal(u64);

impl Normal {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        (bits as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn draw(&mut self, len: usize) -> Vec<f64> {
        (0..len)
            .map(|_| {
                let (u, v) = (self.uniform(), self.uniform());
                (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
            })
            .collect()
    }
}

#[derive(Clone)]
struct Owned {
    w1: Vec<f64>,
    b1: Option<Vec<f64>>,
    w2: Vec<f64>,
    b2: Option<Vec<f64>>,
}

impl Owned {
    fn new(net: &TwoLayer, rng: &mut Normal) -> Self {
        Owned {
            w1: rng.draw(net.w1_len()),
            b1: net.bias.then(|| rng.draw(net.hidden_dim)),
            w2: rng.draw(net.w2_len()),
            b2: net.bias.then(|| rng.draw(net.output_dim)),
        }
    }

    fn view(&self) -> Params<'_, f64> {
        Params {
            w1: &self.w1,
            b1: self.b1.as_deref(),
            w2: &self.w2,
            b2: self.b2.as_deref(),
        }
    }

    fn view_mut(&mut self) -> ParamsMut<'_, f64> {
        ParamsMut {
            w1: &mut self.w1,
            b1: self.b1.as_deref_mut(),
            w2: &mut self.w2,
            b2: self.b2.as_deref_mut(),
        }
    }
}

fn net(input_dim: usize, hidden_dim: usize, output_dim: usize) -> TwoLayer {
    TwoLayer {
        input_dim,
        hidden_dim,
        output_dim,
        activation: Activation::Relu,
        bias: false,
    }
}

#[test]
fn forward_matches_the_definition_on_a_worked_example() {
    // x = (2, 3, 4); hidden units (1, -1, 5) → relu(19) = 19 and
    // (-1, 0, 0) → relu(-2) = 0; output weights (2, 7), bias 0.5.
    let net = TwoLayer {
        bias: true,
        ..net(3, 2, 1)
    };
    let params = Params {
        w1: &[1.0, -1.0, -1.0, 0.0, 5.0, 0.0],
        b1: Some(&[0.0, 0.0]),
        w2: &[2.0, 7.0],
        b2: Some(&[0.5]),
    };
    let mut ws = Workspace::new(net, 1).expect("a small workspace");
    let p = forward(&net, &params, &[2.0, 3.0, 4.0], 1, &mut ws);
    assert_eq!(p, &[38.5]);
    let l = loss(
        &net,
        &params,
        &[2.0, 3.0, 4.0],
        &[40.5],
        1,
        Reduction::Sum,
        &mut ws,
    );
    assert_eq!(l, 4.0);
}

fn check_gradients_against_finite_differences(activation: Activation, reduction: Reduction) {
    let net = TwoLayer {
        activation,
        bias: true,
        ..net(3, 4, 2)
    };
    let rows = 5;
    let mut rng = Normal(7);
    let x = rng.draw(rows * net.input_dim);
    let y = rng.draw(rows * net.output_dim);
    let mut owned = Owned::new(&net, &mut rng);
    let mut ws = Workspace::new(net, rows).expect("a small workspace");
    gradients(&net, &owned.view(), &x, &y, rows, reduction, &mut ws);
    let analytic = ws.gradients().clone();
    // ReLU has a kink at 0: finite differences are meaningful only away from it.
    let mut old = reference::Workspace::new(&net, rows);
    reference::forward(&net, &owned.view(), &x, rows, &mut old);
    assert!(old.hidden[..rows * net.hidden_dim]
        .iter()
        .all(|h| h.abs() > 1e-3));

    let h = 1e-6;
    let mut numeric = |which: usize, index: usize| {
        let mut eval = |delta: f64| {
            let mut o = Owned {
                w1: owned.w1.clone(),
                b1: owned.b1.clone(),
                w2: owned.w2.clone(),
                b2: owned.b2.clone(),
            };
            let slot = match which {
                0 => &mut o.w1[index],
                1 => &mut o.b1.as_mut().expect("the net has biases")[index],
                2 => &mut o.w2[index],
                _ => &mut o.b2.as_mut().expect("the net has biases")[index],
            };
            *slot += delta;
            loss(&net, &o.view(), &x, &y, rows, reduction, &mut ws)
        };
        (eval(h) - eval(-h)) / (2.0 * h)
    };
    let groups = [&analytic.w1, &analytic.b1, &analytic.w2, &analytic.b2];
    for (which, group) in groups.into_iter().enumerate() {
        for (index, &want) in group.iter().enumerate() {
            let got = numeric(which, index);
            assert!(
                (got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "{activation:?} {reduction:?} group {which}[{index}]: {got} vs {want}"
            );
        }
    }
    // The step must not change what `gradients` reported.
    let lr = 0.01;
    let before = owned.w1.clone();
    step(&mut owned.view_mut(), &analytic, lr);
    for ((a, b), g) in owned.w1.iter().zip(&before).zip(&analytic.w1) {
        assert_eq!(*a, b - lr * g);
    }
}

#[test]
fn relu_gradients_match_finite_differences() {
    check_gradients_against_finite_differences(Activation::Relu, Reduction::Sum);
    check_gradients_against_finite_differences(Activation::Relu, Reduction::Mean);
}

#[test]
fn sigmoid_gradients_match_finite_differences() {
    check_gradients_against_finite_differences(Activation::Sigmoid, Reduction::Sum);
    check_gradients_against_finite_differences(Activation::Sigmoid, Reduction::Mean);
}

#[test]
fn gradients_into_caller_buffers_match_the_workspace_gradients() {
    let net = TwoLayer {
        bias: true,
        ..net(5, 4, 3)
    };
    let mut rng = Normal(5);
    let (x, y) = (rng.draw(7 * 5), rng.draw(7 * 3));
    let owned = Owned::new(&net, &mut rng);
    let mut ws = Workspace::new(net, 7).expect("a small workspace");
    let l1 = gradients(&net, &owned.view(), &x, &y, 7, Reduction::Sum, &mut ws);
    let mut mine = Gradients {
        w1: vec![f64::NAN; 20],
        b1: vec![f64::NAN; 4],
        w2: vec![f64::NAN; 12],
        b2: vec![f64::NAN; 3],
    };
    let l2 = gradients_into(
        &net,
        &owned.view(),
        &x,
        &y,
        7,
        Reduction::Sum,
        &mut ws,
        &mut mine.as_mut(),
    );
    assert_eq!(l1, l2);
    assert_eq!(&mine, ws.gradients());
}

#[test]
fn impossible_workspace_is_an_error_not_an_abort() {
    let overflowing = net(1, 1 << 40, 1);
    let err = Workspace::<f64>::new(overflowing, 1 << 30).expect_err("2^70 elements");
    assert_eq!(err.elements, None);
    // 2^61 elements fit in usize but their bytes do not fit in isize.
    let huge = net(1, 1 << 31, 1);
    let err = Workspace::<f64>::new(huge, 1 << 30).expect_err("16 EiB");
    assert_eq!(err.elements, Some(1 << 61));
}

#[test]
fn mean_loss_divides_the_sum_by_the_element_count() {
    let net = net(4, 3, 2);
    let mut rng = Normal(3);
    let (x, y) = (rng.draw(6 * 4), rng.draw(6 * 2));
    let owned = Owned::new(&net, &mut rng);
    let mut ws = Workspace::new(net, 6).expect("a small workspace");
    let sum = loss(&net, &owned.view(), &x, &y, 6, Reduction::Sum, &mut ws);
    let mean = loss(&net, &owned.view(), &x, &y, 6, Reduction::Mean, &mut ws);
    assert!((mean - sum / 12.0).abs() <= 1e-15 * sum);
}

/// Training data for one net.
struct Data<T> {
    net: TwoLayer,
    x: Vec<T>,
    y: Vec<T>,
    rows: usize,
}

/// Runs [`fit`] over all of `data` with a fresh workspace (sized for the
/// config's batches) and a NaN-filled history, which it returns.
fn train<T: Element>(
    data: &Data<T>,
    params: &mut ParamsMut<'_, T>,
    config: &FitConfig,
    on_chunk: impl FnMut(usize, T) -> bool,
) -> (Result<FitOutcome, FitError<T>>, Vec<T>) {
    let max_rows = config.batch_size.unwrap_or(data.rows).min(data.rows);
    let mut ws = Workspace::for_fit(data.net, max_rows).expect("a small workspace");
    let mut history = vec![T::from_f64(f64::NAN); config.steps];
    let (net, x, y) = (&data.net, &data.x, &data.y);
    let result = fit(
        net,
        params,
        x,
        y,
        data.rows,
        config,
        &mut ws,
        &mut history,
        on_chunk,
    );
    (result, history)
}

/// A scaled-down version of the tutorial's run: standard-normal data and
/// weights, ReLU, no biases, sum of squared errors.
fn tutorial_like(rows: usize, input_dim: usize, hidden_dim: usize) -> (Data<f64>, Owned) {
    let net = net(input_dim, hidden_dim, 1);
    let mut rng = Normal(2024);
    let x = rng.draw(rows * input_dim);
    let y = rng.draw(rows);
    let owned = Owned::new(&net, &mut rng);
    (Data { net, x, y, rows }, owned)
}

#[test]
fn fit_drives_the_tutorial_like_loss_down_by_orders_of_magnitude() {
    let steps = 300;
    let (data, mut owned) = tutorial_like(32, 200, 40);
    let config = FitConfig {
        report_every: 50,
        ..FitConfig::new(steps, 2e-5)
    };
    let mut reports = Vec::new();
    let (outcome, history) = train(&data, &mut owned.view_mut(), &config, |done, last| {
        reports.push((done, last));
        true
    });
    assert_eq!(
        outcome.expect("the loss stays finite"),
        FitOutcome {
            steps_done: steps,
            stopped_early: false
        }
    );
    assert!(history[0] > 1e4, "start {}", history[0]);
    assert!(
        history[steps - 1] < history[0] * 1e-4,
        "{} -> {}",
        history[0],
        history[steps - 1]
    );
    let done: Vec<usize> = reports.iter().map(|r| r.0).collect();
    assert_eq!(done, vec![50, 100, 150, 200, 250, 300]);
    assert_eq!(reports[5].1, history[steps - 1]);
}

#[test]
fn fit_follows_the_same_path_as_gradients_then_step() {
    let (data, mut fused) = tutorial_like(16, 30, 8);
    let mut manual = fused.clone();
    let (steps, lr) = (20, 1e-4);
    let (outcome, history) = train(
        &data,
        &mut fused.view_mut(),
        &FitConfig::new(steps, lr),
        |_, _| true,
    );
    outcome.expect("finite");
    let mut ws = Workspace::new(data.net, data.rows).expect("a small workspace");
    for &recorded in &history {
        let (net, x, y) = (&data.net, &data.x, &data.y);
        let l = gradients(
            net,
            &manual.view(),
            x,
            y,
            data.rows,
            Reduction::Sum,
            &mut ws,
        );
        assert_eq!(l, recorded);
        let g = ws.gradients().clone();
        step(&mut manual.view_mut(), &g, lr);
    }
    assert_eq!(manual.w1, fused.w1);
    assert_eq!(manual.w2, fused.w2);
}

#[test]
fn non_finite_loss_keeps_the_last_parameters_whose_loss_was_finite() {
    // These learning rates make the loss overflow at steps 7, 6, 5, 4 and 3:
    // every residue modulo 3, so the kept parameters are found in each of
    // the buffers fit rotates.
    let mut residues = [false; 3];
    for lr in [0.02, 0.05, 1.0, 5.0, 1e5] {
        let (data, mut owned) = tutorial_like(8, 20, 6);
        let steps = 200;
        let config = FitConfig {
            report_every: 1,
            ..FitConfig::new(steps, lr)
        };
        let (outcome, history) = train(&data, &mut owned.view_mut(), &config, |_, _| true);
        let err = outcome.expect_err("the loss must blow up");
        let FitError::NonFiniteLoss {
            step: bad, loss, ..
        } = err;
        assert!(!loss.is_finite());
        assert!(bad > 0 && bad < steps);
        residues[bad % 3] = true;
        assert!(history[..bad].iter().all(|l| l.is_finite()));

        // The parameters kept are those after `bad - 1` steps, and their
        // loss is the last finite one recorded.
        let (_, mut replay) = tutorial_like(8, 20, 6);
        let (outcome, _) = train(
            &data,
            &mut replay.view_mut(),
            &FitConfig::new(bad - 1, lr),
            |_, _| true,
        );
        outcome.expect("the first steps are finite");
        assert_eq!(replay.w1, owned.w1, "lr {lr}");
        assert_eq!(replay.w2, owned.w2, "lr {lr}");
        let mut ws = Workspace::new(data.net, data.rows).expect("a small workspace");
        let (net, x, y) = (&data.net, &data.x, &data.y);
        let kept = super::loss(net, &owned.view(), x, y, data.rows, Reduction::Sum, &mut ws);
        assert_eq!(kept, history[bad - 1], "lr {lr}");
    }
    assert_eq!(residues, [true; 3], "failing steps modulo 3");
}

#[test]
fn non_finite_loss_at_step_0_changes_nothing() {
    let (mut data, mut owned) = tutorial_like(4, 5, 3);
    data.x[0] = f64::INFINITY;
    let before = owned.clone();
    let (outcome, _) = train(
        &data,
        &mut owned.view_mut(),
        &FitConfig::new(5, 1e-3),
        |_, _| true,
    );
    let err = outcome.expect_err("an infinite input");
    assert!(matches!(err, FitError::NonFiniteLoss { step: 0, .. }));
    assert_eq!(owned.w1, before.w1);
    assert_eq!(owned.w2, before.w2);
}

#[test]
fn the_result_is_in_the_caller_s_buffers_after_odd_and_even_step_counts() {
    for steps in 1..=6 {
        let (data, mut fused) = tutorial_like(6, 7, 3);
        let mut manual = fused.clone();
        let (outcome, _) = train(
            &data,
            &mut fused.view_mut(),
            &FitConfig::new(steps, 1e-4),
            |_, _| true,
        );
        outcome.expect("finite");
        let mut ws = Workspace::new(data.net, data.rows).expect("a small workspace");
        for _ in 0..steps {
            let (net, x, y) = (&data.net, &data.x, &data.y);
            gradients(
                net,
                &manual.view(),
                x,
                y,
                data.rows,
                Reduction::Sum,
                &mut ws,
            );
            let g = ws.gradients().clone();
            step(&mut manual.view_mut(), &g, 1e-4);
        }
        assert_eq!(manual.w1, fused.w1, "{steps} steps");
        assert_eq!(manual.w2, fused.w2, "{steps} steps");
    }
}

#[test]
fn callback_returning_false_stops_with_the_steps_done() {
    let (data, mut owned) = tutorial_like(8, 10, 4);
    let config = FitConfig {
        report_every: 7,
        ..FitConfig::new(100, 1e-4)
    };
    let (outcome, history) = train(&data, &mut owned.view_mut(), &config, |done, _| done < 14);
    assert_eq!(
        outcome.expect("finite"),
        FitOutcome {
            steps_done: 14,
            stopped_early: true
        }
    );
    assert!(history[..14].iter().all(|l| l.is_finite()));
    assert!(history[14].is_nan());
}

#[test]
fn report_interval_calls_back_before_report_every() {
    let (data, mut owned) = tutorial_like(4, 5, 3);
    let config = FitConfig {
        report_every: 1000,
        report_interval: Some(Duration::ZERO),
        ..FitConfig::new(2 * CLOCK_EVERY + 5, 1e-4)
    };
    let mut calls = 0;
    let (outcome, _) = train(&data, &mut owned.view_mut(), &config, |_, _| {
        calls += 1;
        true
    });
    outcome.expect("finite");
    // The clock is read every CLOCK_EVERY steps; the last step always reports.
    assert_eq!(calls, 3);
}

#[test]
fn mini_batches_cycle_through_consecutive_row_blocks() {
    // 10 rows in blocks of 4: rows 0..4, 4..8, 8..10, then 0..4 again.
    let (data, mut batched) = tutorial_like(10, 6, 5);
    let mut manual = batched.clone();
    let (steps, lr) = (7, 1e-3);
    let config = FitConfig {
        batch_size: Some(4),
        ..FitConfig::new(steps, lr)
    };
    let (outcome, history) = train(&data, &mut batched.view_mut(), &config, |_, _| true);
    outcome.expect("finite");
    let mut ws = Workspace::new(data.net, 4).expect("a small workspace");
    let blocks = [(0, 4), (4, 8), (8, 10)];
    for (s, &recorded) in history.iter().enumerate() {
        let (start, end) = blocks[s % 3];
        let (x, y) = (&data.x[start * 6..end * 6], &data.y[start..end]);
        let l = gradients(
            &data.net,
            &manual.view(),
            x,
            y,
            end - start,
            Reduction::Sum,
            &mut ws,
        );
        assert_eq!(l, recorded, "step {s}");
        let g = ws.gradients().clone();
        step(&mut manual.view_mut(), &g, lr);
    }
    assert_eq!(manual.w1, batched.w1);
}

#[test]
fn training_is_independent_of_thread_count() {
    // Large enough that every product runs on the parallel faer path.
    let (data, start) = tutorial_like(96, 300, 64);
    let run = |threads: usize| {
        parallel::set_num_threads(threads);
        let mut owned = start.clone();
        let (outcome, history) = train(
            &data,
            &mut owned.view_mut(),
            &FitConfig::new(5, 1e-6),
            |_, _| true,
        );
        outcome.expect("finite");
        (history, owned.w1, owned.w2)
    };
    let before = parallel::num_threads();
    let one = run(1);
    let three = run(3);
    parallel::set_num_threads(before);
    assert_eq!(one, three);
}

#[test]
fn float32_trains_natively() {
    let net = net(8, 4, 1);
    let mut rng = Normal(11);
    let to32 = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
    let (x, y) = (to32(rng.draw(16 * 8)), to32(rng.draw(16)));
    let data = Data {
        net,
        x,
        y,
        rows: 16,
    };
    let (mut w1, mut w2) = (to32(rng.draw(32)), to32(rng.draw(4)));
    let mut params = ParamsMut {
        w1: &mut w1,
        b1: None,
        w2: &mut w2,
        b2: None,
    };
    let (outcome, history) = train(&data, &mut params, &FitConfig::new(200, 1e-3), |_, _| true);
    outcome.expect("finite");
    assert!(
        history[199] < history[0] * 0.1,
        "{} -> {}",
        history[0],
        history[199]
    );
}

#[test]
fn stepping_into_other_buffers_matches_stepping_in_place() {
    let mut rng = Normal(11);
    let net = TwoLayer {
        bias: true,
        ..net(5, 4, 3)
    };
    let params = Owned::new(&net, &mut rng);
    let grads = Owned::new(&net, &mut rng);
    let grads = Gradients {
        w1: grads.w1,
        b1: grads.b1.expect("a net with biases"),
        w2: grads.w2,
        b2: grads.b2.expect("a net with biases"),
    };
    let mut in_place = params.clone();
    step(&mut in_place.view_mut(), &grads, 0.3);
    let mut apart = Gradients {
        w1: vec![0.0; net.w1_len()],
        b1: vec![0.0; net.hidden_dim],
        w2: vec![0.0; net.w2_len()],
        b2: vec![0.0; net.output_dim],
    };
    step_params_into(apart.as_mut(), &params.view(), &grads, 0.3);
    assert_eq!(apart.w1, in_place.w1);
    assert_eq!(Some(apart.b1), in_place.b1);
    assert_eq!(apart.w2, in_place.w2);
    assert_eq!(Some(apart.b2), in_place.b2);
}
