//! The fused training loop: steps, mini-batches, reports and the non-finite-loss stop.

use std::time::{Duration, Instant};

use super::{gradients_into, Gradients, GradientsMut, ParamsMut, Reduction, TwoLayer, Workspace};
use crate::kernels::gemm::SMALL_GEMM;
use crate::kernels::Element;

/// Steps between two readings of the clock for time-based reports, for
/// networks whose step is below `SMALL_GEMM` multiply-adds (under a
/// microsecond).
pub(super) const CLOCK_EVERY: usize = 64;

/// What [`fit`] does besides the steps themselves.
#[derive(Clone, Copy, Debug)]
pub struct FitConfig {
    /// Steps of gradient descent to run.
    pub steps: usize,
    /// As the caller gave it (errors print it so); a float32 net rounds it
    /// to float32 once.
    pub learning_rate: f64,
    pub reduction: Reduction,
    /// Rows per step. `None` trains on all of `x` every step; `Some(n)` cuts
    /// `x` and `y` into consecutive blocks of `n` rows (the last one shorter
    /// when `n` does not divide the row count) and step `s` trains on block
    /// `s mod blocks`, so the blocks are visited in order, cyclically, with no
    /// shuffling.
    pub batch_size: Option<usize>,
    /// Call `on_chunk` after at most this many steps (0 counts as 1)...
    pub report_every: usize,
    /// ...or sooner, once this much time has passed since the last call, so
    /// that a binding can honour Ctrl-C promptly whatever one step costs.
    pub report_interval: Option<Duration>,
}

impl FitConfig {
    /// Full-batch training with the sum of squared errors, reporting every
    /// `steps` steps (that is, once at the end).
    pub fn new(steps: usize, learning_rate: f64) -> Self {
        FitConfig {
            steps,
            learning_rate,
            reduction: Reduction::Sum,
            batch_size: None,
            report_every: steps,
            report_interval: None,
        }
    }
}

/// How a [`fit`] that did not fail ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FitOutcome {
    /// Steps whose update was applied.
    pub steps_done: usize,
    /// Whether `on_chunk` asked to stop before all the steps ran.
    pub stopped_early: bool,
}

/// Why a [`fit`] failed. The bindings pass it on as `_core.FitStopped`;
/// the message users read is written in Python (`non_finite_message`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FitError<T> {
    /// The loss before step `step` (0-based) was NaN or infinite. The
    /// parameters that gave it are dropped: they are those of step
    /// `step - 1` (after `step - 1` updates), whose loss `history[step - 1]`
    /// was finite, or unchanged when `step` is 0.
    NonFiniteLoss {
        step: usize,
        loss: T,
        learning_rate: f64,
    },
}

/// Trains `params` in place by gradient descent on the `rows × input_dim`
/// inputs `x` and `rows × output_dim` targets `y`.
///
/// `history[s]` receives the loss before step `s`. A NaN or infinite loss
/// before step `k` stops the loop with [`FitError::NonFiniteLoss`], and the
/// parameters that gave it are dropped: `params` ends as it was after step
/// `k - 1`, whose loss `history[k - 1]` was finite (unchanged when `k` is 0),
/// so the caller can train again with a smaller learning rate.
/// `on_chunk(steps_done, last_loss)` runs after every chunk of steps (see
/// [`FitConfig::report_every`] and [`FitConfig::report_interval`]) and after
/// the last step; returning `false` stops the loop with the parameters valid
/// as of the last completed step. `params` holds the result only when `fit`
/// returns: three parameter-shaped buffers (the caller's, the workspace's
/// spare set and its gradients) take turns as the parameters, the previous
/// parameters and the gradients. Each step writes its gradients into the
/// free buffer and its update over them (`g ← w - lr·g`, in the buffer the
/// backward pass has just filled, so the update moves no more memory than
/// an update in place), so the previous parameters stay where they are
/// without a copy per step; at most one copy back happens at the end.
/// Nothing is allocated: the workspace, built by [`Workspace::for_fit`],
/// holds every buffer and must hold `batch_size` rows (or all `rows`). Its
/// gradients are left undefined.
///
/// # Panics
/// If a shape does not match `net`, `history` is shorter than `config.steps`,
/// `batch_size` is 0 (callers validate first), or the workspace was not built
/// by [`Workspace::for_fit`].
#[allow(clippy::too_many_arguments)]
pub fn fit<T: Element>(
    net: &TwoLayer,
    params: &mut ParamsMut<'_, T>,
    x: &[T],
    y: &[T],
    rows: usize,
    config: &FitConfig,
    workspace: &mut Workspace<T>,
    history: &mut [T],
    on_chunk: impl FnMut(usize, T) -> bool,
) -> Result<FitOutcome, FitError<T>> {
    net.check_params(&params.view());
    assert_eq!(x.len(), rows * net.input_dim, "mlp: x shape");
    assert_eq!(y.len(), rows * net.output_dim, "mlp: y shape");
    assert!(history.len() >= config.steps, "mlp: history too short");
    // Taken out (moving Vecs allocates nothing) so that they and the
    // workspace can be borrowed apart.
    let mut spare = std::mem::take(&mut workspace.spare);
    let mut grads = std::mem::take(&mut workspace.gradients);
    let result = {
        let mut buffers = [
            reborrow(params),
            spare_params(net, &mut spare),
            spare_params(net, &mut grads),
        ];
        let (result, current) = run(
            net,
            &mut buffers,
            x,
            y,
            rows,
            config,
            workspace,
            history,
            on_chunk,
        );
        if current != 0 {
            let [caller, rest @ ..] = &mut buffers;
            copy_params(caller, &rest[current - 1]);
        }
        result
    };
    workspace.spare = spare;
    workspace.gradients = grads;
    result
}

/// The loop of [`fit`] over `buffers` (`[0]` is the caller's parameters);
/// also says which buffer holds the result.
#[allow(clippy::too_many_arguments)]
fn run<T: Element>(
    net: &TwoLayer,
    buffers: &mut [ParamsMut<'_, T>; 3],
    x: &[T],
    y: &[T],
    rows: usize,
    config: &FitConfig,
    workspace: &mut Workspace<T>,
    history: &mut [T],
    mut on_chunk: impl FnMut(usize, T) -> bool,
) -> (Result<FitOutcome, FitError<T>>, usize) {
    let batch = config.batch_size.unwrap_or(rows).min(rows);
    assert!(batch > 0 || rows == 0, "mlp: batch_size must be positive");
    let blocks = if rows == 0 { 1 } else { rows.div_ceil(batch) };
    let learning_rate = T::from_f64(config.learning_rate);
    let mut reports = Reports::new(config, batch * net.input_dim * net.hidden_dim);
    // Which buffer holds the parameters, the previous step's, and neither.
    let (mut current, mut previous, mut free) = (0, 1, 2);

    for (step_index, recorded) in history[..config.steps].iter_mut().enumerate() {
        let start = step_index % blocks * batch;
        let end = (start + batch).min(rows);
        let block_x = &x[start * net.input_dim..end * net.input_dim];
        let block_y = &y[start * net.output_dim..end * net.output_dim];
        let (params, out) = two_of(buffers, current, free);
        let loss = gradients_into(
            net,
            &params.view(),
            block_x,
            block_y,
            end - start,
            config.reduction,
            workspace,
            &mut as_gradients(out),
        );
        *recorded = loss;
        if !loss.is_finite() {
            let kept = if step_index == 0 { current } else { previous };
            let error = FitError::NonFiniteLoss {
                step: step_index,
                loss,
                learning_rate: config.learning_rate,
            };
            return (Err(error), kept);
        }
        descend_over(out, params, learning_rate);
        (previous, current, free) = (current, free, previous);

        let steps_done = step_index + 1;
        if reports.due_after(steps_done == config.steps) {
            if !on_chunk(steps_done, loss) {
                let stopped_early = steps_done < config.steps;
                let outcome = FitOutcome {
                    steps_done,
                    stopped_early,
                };
                return (Ok(outcome), current);
            }
            reports.made();
        }
    }
    let outcome = FitOutcome {
        steps_done: config.steps,
        stopped_early: false,
    };
    (Ok(outcome), current)
}

/// The caller's parameters, reborrowed for as long as [`fit`] runs.
fn reborrow<'a, T>(params: &'a mut ParamsMut<'_, T>) -> ParamsMut<'a, T> {
    ParamsMut {
        w1: params.w1,
        b1: params.b1.as_deref_mut(),
        w2: params.w2,
        b2: params.b2.as_deref_mut(),
    }
}

/// A parameter-shaped set of the workspace as parameters of `net`.
fn spare_params<'a, T>(net: &TwoLayer, spare: &'a mut Gradients<T>) -> ParamsMut<'a, T> {
    let bias = |b: &'a mut Vec<T>| net.bias.then_some(b.as_mut_slice());
    let params = ParamsMut {
        w1: &mut spare.w1,
        b1: bias(&mut spare.b1),
        w2: &mut spare.w2,
        b2: bias(&mut spare.b2),
    };
    net.check_params(&params.view());
    params
}

/// `items[a]` and `items[b]` (`a != b`) at once.
fn two_of<T>(items: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    assert_ne!(a, b, "two distinct items");
    let (low, high) = (a.min(b), a.max(b));
    let (left, right) = items.split_at_mut(high);
    let (first, second) = (&mut left[low], &mut right[0]);
    if a < b {
        (first, second)
    } else {
        (second, first)
    }
}

/// The buffers of `params` as gradients to compute into.
fn as_gradients<'a, T>(params: &'a mut ParamsMut<'_, T>) -> GradientsMut<'a, T> {
    GradientsMut {
        w1: params.w1,
        b1: params.b1.as_deref_mut(),
        w2: params.w2,
        b2: params.b2.as_deref_mut(),
    }
}

/// `gradients = params - learning_rate * gradients`: the next parameters,
/// over the gradients, rounded as `step`'s `w -= learning_rate * g` rounds
/// them, so the path does not depend on which buffer a step writes.
fn descend_over<T: Element>(
    gradients: &mut ParamsMut<'_, T>,
    params: &ParamsMut<'_, T>,
    learning_rate: T,
) {
    use crate::kernels::network::descend_over as descend;
    descend(gradients.w1, params.w1, learning_rate);
    descend(gradients.w2, params.w2, learning_rate);
    if let (Some(g), Some(w)) = (gradients.b1.as_deref_mut(), params.b1.as_deref()) {
        descend(g, w, learning_rate);
    }
    if let (Some(g), Some(w)) = (gradients.b2.as_deref_mut(), params.b2.as_deref()) {
        descend(g, w, learning_rate);
    }
}

/// Copies every parameter of `from` into `to`.
fn copy_params<T: Copy>(to: &mut ParamsMut<'_, T>, from: &ParamsMut<'_, T>) {
    to.w1.copy_from_slice(from.w1);
    to.w2.copy_from_slice(from.w2);
    if let (Some(to), Some(from)) = (to.b1.as_deref_mut(), from.b1.as_deref()) {
        to.copy_from_slice(from);
    }
    if let (Some(to), Some(from)) = (to.b2.as_deref_mut(), from.b2.as_deref()) {
        to.copy_from_slice(from);
    }
}

/// When [`fit`] calls back: after `report_every` steps, after the last step,
/// or once `report_interval` has passed since the last call.
struct Reports {
    every: usize,
    /// Steps between two readings of the clock.
    clock_every: usize,
    interval: Option<Duration>,
    since: usize,
    last: Instant,
}

impl Reports {
    fn new(config: &FitConfig, step_work: usize) -> Self {
        // Reading the clock costs about as much as a whole step of a tiny
        // network, so tiny networks read it only every CLOCK_EVERY steps.
        let clock_every = if step_work < SMALL_GEMM {
            CLOCK_EVERY
        } else {
            1
        };
        Reports {
            every: config.report_every.max(1),
            clock_every,
            interval: config.report_interval,
            since: 0,
            last: Instant::now(),
        }
    }

    /// Counts one more step and says whether a report is due after it.
    fn due_after(&mut self, last_step: bool) -> bool {
        self.since += 1;
        let due = self.since >= self.every
            || last_step
            || (self.since.is_multiple_of(self.clock_every)
                && self
                    .interval
                    .is_some_and(|interval| self.last.elapsed() >= interval));
        if due {
            self.since = 0;
        }
        due
    }

    /// Restarts the interval after a report.
    fn made(&mut self) {
        self.last = Instant::now();
    }
}
