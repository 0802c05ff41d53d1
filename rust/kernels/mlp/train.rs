//! The fused training loop: steps, mini-batches, reports and the non-finite-loss stop.

use core::fmt;
use std::time::{Duration, Instant};

use super::{gradients, step, ParamsMut, Reduction, TwoLayer, Workspace};
use crate::kernels::gemm::SMALL_GEMM;
use crate::kernels::Element;

/// Steps between two readings of the clock for time-based reports, for
/// networks whose step is below `SMALL_GEMM` multiply-adds (under a
/// microsecond).
pub(super) const CLOCK_EVERY: usize = 64;

/// What [`fit`] does besides the steps themselves.
#[derive(Clone, Copy, Debug)]
pub struct FitConfig<T> {
    /// Steps of gradient descent to run.
    pub steps: usize,
    pub learning_rate: T,
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

impl<T: Element> FitConfig<T> {
    /// Full-batch training with the sum of squared errors, reporting every
    /// `steps` steps (that is, once at the end).
    pub fn new(steps: usize, learning_rate: T) -> Self {
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

/// Why a [`fit`] failed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FitError<T> {
    /// The loss before step `step` (0-based) was NaN or infinite; that step's
    /// update was not applied, so the parameters are those after `step` steps.
    NonFiniteLoss {
        step: usize,
        loss: T,
        learning_rate: T,
    },
}

impl<T: Element> fmt::Display for FitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FitError::NonFiniteLoss {
                step,
                loss,
                learning_rate,
            } => write!(
                f,
                "the loss became {loss} at step {step} (lr={learning_rate}); the parameters \
                 are kept as they were before that step; try a smaller learning rate"
            ),
        }
    }
}

impl<T: Element> std::error::Error for FitError<T> {}

/// Trains `params` in place by gradient descent on the `rows × input_dim`
/// inputs `x` and `rows × output_dim` targets `y`.
///
/// `history[s]` receives the loss before step `s`. Each step checks its loss
/// before updating anything: a NaN or infinite loss stops the loop with
/// [`FitError::NonFiniteLoss`], the parameters as they were before that step.
/// `on_chunk(steps_done, last_loss)` runs after every chunk of steps (see
/// [`FitConfig::report_every`] and [`FitConfig::report_interval`]) and after
/// the last step; returning `false` stops the loop with the parameters valid
/// as of the last completed step. Nothing is allocated: the workspace holds
/// every buffer, and must hold `batch_size` rows (or all `rows` without one).
///
/// # Panics
/// If a shape does not match `net`, `history` is shorter than `config.steps`,
/// or `batch_size` is 0 (callers validate first).
#[allow(clippy::too_many_arguments)]
pub fn fit<T: Element>(
    net: &TwoLayer,
    params: &mut ParamsMut<'_, T>,
    x: &[T],
    y: &[T],
    rows: usize,
    config: &FitConfig<T>,
    workspace: &mut Workspace<T>,
    history: &mut [T],
    mut on_chunk: impl FnMut(usize, T) -> bool,
) -> Result<FitOutcome, FitError<T>> {
    net.check_params(&params.view());
    assert_eq!(x.len(), rows * net.input_dim, "mlp: x shape");
    assert_eq!(y.len(), rows * net.output_dim, "mlp: y shape");
    assert!(history.len() >= config.steps, "mlp: history too short");
    let batch = config.batch_size.unwrap_or(rows).min(rows);
    assert!(batch > 0 || rows == 0, "mlp: batch_size must be positive");
    let blocks = if rows == 0 { 1 } else { rows.div_ceil(batch) };
    let mut reports = Reports::new(config, batch * net.input_dim * net.hidden_dim);

    for (step_index, recorded) in history[..config.steps].iter_mut().enumerate() {
        let start = step_index % blocks * batch;
        let end = (start + batch).min(rows);
        let block_x = &x[start * net.input_dim..end * net.input_dim];
        let block_y = &y[start * net.output_dim..end * net.output_dim];
        let view = params.view();
        let loss = gradients(
            net,
            &view,
            block_x,
            block_y,
            end - start,
            config.reduction,
            workspace,
        );
        *recorded = loss;
        if !loss.is_finite() {
            return Err(FitError::NonFiniteLoss {
                step: step_index,
                loss,
                learning_rate: config.learning_rate,
            });
        }
        step(params, &workspace.gradients, config.learning_rate);

        let steps_done = step_index + 1;
        if reports.due_after(steps_done == config.steps) {
            if !on_chunk(steps_done, loss) {
                let stopped_early = steps_done < config.steps;
                return Ok(FitOutcome {
                    steps_done,
                    stopped_early,
                });
            }
            reports.made();
        }
    }
    Ok(FitOutcome {
        steps_done: config.steps,
        stopped_early: false,
    })
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
    fn new<T>(config: &FitConfig<T>, step_work: usize) -> Self {
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
            || (self.since % self.clock_every == 0
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
