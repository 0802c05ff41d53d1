"""``neurust._core.Network`` against scikit-learn's own MLP arithmetic.

scikit-learn is the reference: each test copies one set of parameters into an
sklearn estimator, runs its private ``_backprop`` (and its optimizers'
``update_params`` batch by batch, as ``_fit_stochastic`` does) and compares the
losses, gradients, parameters and optimizer state with the core's.
"""

from __future__ import annotations

import itertools
import pickle
from typing import Any

import numpy as np
import pytest

try:
    from scipy import sparse
    from sklearn.neural_network import MLPRegressor
    from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer
    from sklearn.utils import gen_batches
    from sklearn.utils._indexing import _safe_indexing
except ImportError:  # the comparisons need the sklearn extra; the rest runs without it
    HAVE_SKLEARN = False
else:
    HAVE_SKLEARN = True

from neurust._core import Network
from support.children import Child

needs_sklearn = pytest.mark.skipif(
    not HAVE_SKLEARN, reason="scikit-learn and scipy are not installed"
)

RTOL = {np.float64: 1e-12, np.float32: 1e-5}
DTYPES = [np.float64, np.float32]

# (output activation, loss, outputs, target kind)
OUTPUTS = [
    ("identity", "squared_error", 1, "real"),
    ("identity", "squared_error", 3, "real"),
    ("exp", "poisson", 2, "counts"),
    ("softmax", "log_loss", 4, "onehot"),
    ("logistic", "log_loss", 1, "binary"),
    ("logistic", "log_loss", 3, "binary"),
]
HIDDEN = ["identity", "logistic", "tanh", "relu"]


def close(actual: Any, expected: Any, dtype: type) -> None:
    """Relative agreement, with an absolute floor at the array's own scale."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    rtol = RTOL[dtype]
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def make_data(rows: int, features: int, outputs: int, kind: str, dtype: type, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features))
    X[rng.random((rows, features)) < 0.3] = 0.0
    if kind == "real":
        y = rng.standard_normal((rows, outputs))
    elif kind == "counts":
        y = rng.poisson(2.0, (rows, outputs)).astype(float)
    elif kind == "onehot":
        y = np.eye(outputs)[rng.integers(0, outputs, rows)]
    else:
        y = (rng.random((rows, outputs)) < 0.5).astype(float)
    weights = rng.uniform(0.2, 2.0, rows)
    return X.astype(dtype), y.astype(dtype), weights.astype(dtype)


def make_params(sizes: list[int], dtype: type, seed: int = 1):
    rng = np.random.default_rng(seed)
    coefs = [rng.uniform(-0.5, 0.5, (a, b)).astype(dtype) for a, b in itertools.pairwise(sizes)]
    intercepts = [rng.uniform(-0.5, 0.5, b).astype(dtype) for b in sizes[1:]]
    return coefs, intercepts


def sklearn_net(sizes, hidden, output, loss, alpha, coefs, intercepts) -> MLPRegressor:
    """An estimator whose private state is exactly these parameters."""
    est = MLPRegressor(activation=hidden, alpha=alpha)
    est.loss = loss
    est.coefs_ = coefs
    est.intercepts_ = intercepts
    est.n_layers_ = len(sizes)
    est.out_activation_ = output
    return est


def sklearn_backprop(est, X, y, sample_weight):
    layers = est.n_layers_
    activations = [X] + [None] * (layers - 1)
    deltas = [None] * (layers - 1)
    coef_grads = [np.empty_like(c) for c in est.coefs_]
    intercept_grads = [np.empty_like(b) for b in est.intercepts_]
    return est._backprop(X, y, sample_weight, activations, deltas, coef_grads, intercept_grads)


def csr_tuple(X, index_dtype=np.int32):
    """scipy's CSR arrays of ``X`` (its non-zeros row by row), built with numpy alone."""
    rows, cols = np.nonzero(X)
    counts = np.bincount(rows, minlength=X.shape[0])
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(index_dtype)
    return (X[rows, cols].copy(), cols.astype(index_dtype), indptr, X.shape[1])


@needs_sklearn
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize(("output", "loss", "outputs", "kind"), OUTPUTS)
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_gradient_matches_sklearn_backprop(
    dtype, hidden, output, loss, outputs, kind, weighted
):
    sizes = [6, 5, 4, outputs]
    X, y, w = make_data(40, 6, outputs, kind, dtype)
    coefs, intercepts = make_params(sizes, dtype)
    sample_weight = w if weighted else None
    est = sklearn_net(sizes, hidden, output, loss, 0.01, [c.copy() for c in coefs], intercepts)
    want_loss, want_cg, want_ig = sklearn_backprop(est, X, y, sample_weight)

    net = Network(sizes, hidden, output, loss, np.dtype(dtype).name)
    coef_grads = [np.full_like(c, np.nan) for c in coefs]
    intercept_grads = [np.full_like(b, np.nan) for b in intercepts]
    got = net.loss_gradient(
        X, y, sample_weight, coefs, intercepts, 0.01, coef_grads, intercept_grads
    )
    close(got, want_loss, dtype)
    for g, want in zip(coef_grads + intercept_grads, want_cg + want_ig, strict=True):
        close(g, want, dtype)


@needs_sklearn
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_csr_input_matches_sklearn_backprop_on_the_sparse_matrix(dtype, index_dtype):
    sizes = [7, 6, 2]
    X, y, w = make_data(30, 7, 2, "real", dtype)
    coefs, intercepts = make_params(sizes, dtype)
    est = sklearn_net(sizes, "relu", "identity", "squared_error", 0.1, coefs, intercepts)
    want_loss, want_cg, want_ig = sklearn_backprop(est, sparse.csr_matrix(X), y, w)
    net = Network(sizes, "relu", "identity", "squared_error", np.dtype(dtype).name)
    cg = [np.empty_like(c) for c in coefs]
    ig = [np.empty_like(b) for b in intercepts]
    got = net.loss_gradient(csr_tuple(X, index_dtype), y, w, coefs, intercepts, 0.1, cg, ig)
    close(got, want_loss, dtype)
    for g, want in zip(cg + ig, want_cg + want_ig, strict=True):
        close(g, want, dtype)
    close(
        net.forward(csr_tuple(X, index_dtype), coefs, intercepts), est._forward_pass_fast(X), dtype
    )


@needs_sklearn
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("output", "loss", "outputs", "kind"), OUTPUTS)
def test_forward_matches_sklearn_predictions(dtype, output, loss, outputs, kind):
    sizes = [5, 8, outputs]
    X, _, _ = make_data(50, 5, outputs, kind, dtype)
    coefs, intercepts = make_params(sizes, dtype)
    est = sklearn_net(sizes, "tanh", output, loss, 0.0, coefs, intercepts)
    net = Network(sizes, "tanh", output, loss, np.dtype(dtype).name)
    got = net.forward(X, coefs, intercepts)
    assert got.dtype == dtype and got.shape == (50, outputs)
    close(got, est._forward_pass_fast(X, check_input=False), dtype)


def sklearn_epochs(est, optimizer, X, y, sample_weight, orders, batch_size, rates=None):
    """``_fit_stochastic``'s inner loop, epoch by epoch: the summed batch losses."""
    params = est.coefs_ + est.intercepts_
    totals = []
    for epoch, order in enumerate(orders):
        if rates is not None:
            optimizer.learning_rate = rates[epoch]
        total = 0.0
        for batch in gen_batches(len(order), batch_size):
            index = order[batch]
            Xb = _safe_indexing(X, index)
            yb = y[index]
            wb = None if sample_weight is None else sample_weight[index]
            loss, cg, ig = sklearn_backprop(est, Xb, yb, wb)
            total += loss * (batch.stop - batch.start)
            optimizer.update_params(params, cg + ig)
        totals.append(total)
    return totals


SOLVERS = [
    ("sgd", {"momentum": 0.0, "nesterov": False}),
    ("sgd", {"momentum": 0.9, "nesterov": False}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("adam", {}),
]


@needs_sklearn
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("solver", "options"), SOLVERS)
@pytest.mark.parametrize("sparse_input", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_epochs_match_sklearn_optimizers(dtype, solver, options, sparse_input, weighted):
    sizes = [6, 7, 5, 3]
    X, y, w = make_data(53, 6, 3, "onehot", dtype, seed=4)
    sample_weight = w if weighted else None
    coefs, intercepts = make_params(sizes, dtype, seed=5)
    ours_c, ours_i = [c.copy() for c in coefs], [b.copy() for b in intercepts]
    est = sklearn_net(sizes, "relu", "softmax", "log_loss", 1e-3, coefs, intercepts)
    params = est.coefs_ + est.intercepts_
    rng = np.random.default_rng(9)
    orders = [rng.permutation(53).astype(np.intp) for _ in range(3)]
    rates = [0.05, 0.05, 0.01]
    net = Network(sizes, "relu", "softmax", "log_loss", np.dtype(dtype).name)
    if solver == "sgd":
        optimizer = SGDOptimizer(params, 0.05, "constant", options["momentum"], options["nesterov"])
        net.set_sgd(0.05, options["momentum"], options["nesterov"])
        want = sklearn_epochs(est, optimizer, X, y, sample_weight, orders, 16, rates)
    else:
        optimizer = AdamOptimizer(params, 0.01, 0.9, 0.999, 1e-8)
        net.set_adam(0.01, 0.9, 0.999, 1e-8)
        want = sklearn_epochs(est, optimizer, X, y, sample_weight, orders, 16)
    Xin = csr_tuple(X) if sparse_input else X
    for epoch, order in enumerate(orders):
        if solver == "sgd":
            net.learning_rate = rates[epoch]
        got = net.epoch(Xin, y, sample_weight, ours_c, ours_i, order, 16, 1e-3)
        close(got, want[epoch], dtype)
    for mine, theirs in zip(ours_c + ours_i, params, strict=True):
        close(mine, theirs, dtype)
    state = net.optimizer_state()
    assert state is not None
    if solver == "sgd":
        for mine, theirs in zip(state["velocities"], optimizer.velocities, strict=True):
            close(mine, theirs, dtype)
    else:
        assert state["t"] == optimizer.t == 12
        close(state["learning_rate"], optimizer.learning_rate, np.float64)
        for mine, theirs in zip(
            state["ms"] + state["vs"], optimizer.ms + optimizer.vs, strict=True
        ):
            close(mine, theirs, dtype)


@needs_sklearn
def test_epoch_matches_partial_fit_without_shuffle():
    X, y, _ = make_data(300, 10, 1, "real", np.float64, seed=2)
    est = MLPRegressor(hidden_layer_sizes=(16,), batch_size=64, shuffle=False, random_state=0)
    est.partial_fit(X, y[:, 0])  # initialises and trains one epoch
    rng = np.random.RandomState(0)  # sklearn's draw: coef then intercept per layer
    coefs, intercepts = [], []
    for a, b in [(10, 16), (16, 1)]:
        bound = np.sqrt(6.0 / (a + b))
        coefs.append(rng.uniform(-bound, bound, (a, b)))
        intercepts.append(rng.uniform(-bound, bound, b))
    net = Network([10, 16, 1], "relu", "identity", "squared_error", "float64")
    net.set_adam(0.001, 0.9, 0.999, 1e-8)
    total = net.epoch(X, y, None, coefs, intercepts, np.arange(300), 64, 1e-4)
    close(total / 300, est.loss_, np.float64)
    for mine, theirs in zip(coefs + intercepts, est.coefs_ + est.intercepts_, strict=True):
        close(mine, theirs, np.float64)


def test_pickle_keeps_the_optimizer_state_and_the_next_epoch():
    X, y, _ = make_data(64, 4, 2, "real", np.float64)
    coefs, intercepts = make_params([4, 3, 2], np.float64)
    net = Network([4, 3, 2], "tanh", "identity", "squared_error", "float64")
    net.set_adam(0.01, 0.9, 0.999, 1e-8)
    order = np.arange(64)
    net.epoch(X, y, None, coefs, intercepts, order, 10, 0.0)
    copy = pickle.loads(pickle.dumps(net))
    assert copy.layer_sizes == [4, 3, 2] and copy.dtype == "float64"
    a_c, a_i = [c.copy() for c in coefs], [b.copy() for b in intercepts]
    first = net.epoch(X, y, None, coefs, intercepts, order, 10, 0.0)
    second = copy.epoch(X, y, None, a_c, a_i, order, 10, 0.0)
    assert first == second
    for p, q in zip(coefs + intercepts, a_c + a_i, strict=True):
        np.testing.assert_array_equal(p, q)


def test_set_optimizer_state_round_trips_sgd():
    net = Network([3, 2, 1], "relu", "identity", "squared_error", "float32")
    assert net.optimizer_state() is None
    net.set_sgd(0.1, 0.9, True)
    state = net.optimizer_state()
    assert state is not None
    state["velocities"][0][:] = 1.5
    state["learning_rate"] = 0.02
    net.set_optimizer_state(state)
    again = net.optimizer_state()
    assert again is not None and again["learning_rate"] == 0.02 and net.learning_rate == 0.02
    assert again["velocities"][0].dtype == np.float32
    np.testing.assert_array_equal(again["velocities"][0], np.full((3, 2), 1.5, np.float32))


# ---- bad input ------------------------------------------------------------------------


def good_args(dtype=np.float64):
    X, y, _ = make_data(10, 3, 1, "real", dtype)
    coefs, intercepts = make_params([3, 4, 1], dtype)
    net = Network([3, 4, 1], "relu", "identity", "squared_error", np.dtype(dtype).name)
    net.set_sgd(0.1, 0.0, False)
    return net, X, y, coefs, intercepts


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([3], "relu", "identity", "squared_error", "float64"), "layer_sizes"),
        (([3, 0, 1], "relu", "identity", "squared_error", "float64"), "layer_sizes"),
        (([3, -1, 1], "relu", "identity", "squared_error", "float64"), "layer_sizes"),
        (([3, 1], "sigmoid", "identity", "squared_error", "float64"), "hidden_activation"),
        (([3, 1], "relu", "tanh", "squared_error", "float64"), "out_activation"),
        (([3, 1], "relu", "identity", "hinge", "float64"), "loss"),
        (([3, 1], "relu", "identity", "squared_error", "int64"), "dtype"),
    ],
)
def test_bad_constructor_arguments_raise_value_error(args, message):
    with pytest.raises(ValueError, match=message):
        Network(*args)


def test_wrong_dtype_is_a_type_error_naming_the_argument():
    net, X, y, coefs, intercepts = good_args()
    with pytest.raises(TypeError, match="X has dtype float32"):
        net.forward(X.astype(np.float32), coefs, intercepts)
    with pytest.raises(TypeError, match=r"coefs\[1\]"):
        net.forward(X, [coefs[0], coefs[1].astype(np.float32)], intercepts)
    with pytest.raises(TypeError, match="y"):
        net.epoch(X, y.astype(np.float32), None, coefs, intercepts, np.arange(10), 4, 0.0)
    with pytest.raises(TypeError, match="order"):
        net.epoch(X, y, None, coefs, intercepts, np.arange(10, dtype=np.int32), 4, 0.0)
    with pytest.raises(TypeError, match="X"):
        net.forward(X.tolist(), coefs, intercepts)


def test_bad_shapes_and_layouts_are_value_errors_naming_the_argument():
    net, X, y, coefs, intercepts = good_args()
    order = np.arange(10)
    with pytest.raises(ValueError, match="X has 2 features"):
        net.forward(X[:, :2].copy(), coefs, intercepts)
    with pytest.raises(ValueError, match="C-contiguous"):
        net.forward(np.asfortranarray(X), coefs, intercepts)
    with pytest.raises(ValueError, match=r"coefs\[0\] has shape"):
        net.forward(X, [coefs[0].T.copy(), coefs[1]], intercepts)
    with pytest.raises(ValueError, match="intercepts has 1 arrays"):
        net.forward(X, coefs, intercepts[:1])
    with pytest.raises(ValueError, match="y has shape"):
        net.epoch(X, y[:5], None, coefs, intercepts, order, 4, 0.0)
    with pytest.raises(ValueError, match="sample_weight has 3"):
        net.epoch(X, y, np.ones(3), coefs, intercepts, order, 4, 0.0)
    with pytest.raises(ValueError, match="batch_size"):
        net.epoch(X, y, None, coefs, intercepts, order, 0, 0.0)
    with pytest.raises(ValueError, match=r"order\[2\] is 10"):
        net.epoch(X, y, None, coefs, intercepts, np.array([0, 1, 10]), 4, 0.0)
    with pytest.raises(ValueError, match=r"order\[0\] is -1"):
        net.epoch(X, y, None, coefs, intercepts, np.array([-1]), 4, 0.0)
    frozen = coefs[0].copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        net.epoch(X, y, None, [frozen, coefs[1]], intercepts, order, 4, 0.0)


def test_aliasing_between_updated_arrays_is_refused():
    net, X, y, coefs, intercepts = good_args()
    order = np.arange(10)
    with pytest.raises(ValueError, match="share memory"):
        net.epoch(X, y, None, coefs, [intercepts[0], coefs[1][0]], order, 4, 0.0)
    grads = [np.empty_like(c) for c in coefs]
    with pytest.raises(ValueError, match="share memory"):
        net.loss_gradient(X, y, None, coefs, intercepts, 0.0, coefs, [np.empty(4), np.empty(1)])
    with pytest.raises(ValueError, match="share memory"):
        net.loss_gradient(
            X,
            y,
            None,
            coefs,
            intercepts,
            0.0,
            [grads[0], grads[0].reshape(-1)[:4].reshape(4, 1)],
            intercepts,
        )


def test_bad_csr_arrays_are_value_errors():
    net, X, _y, coefs, intercepts = good_args()
    data, indices, indptr, cols = csr_tuple(X)
    bad = indices.copy()
    bad[0] = 7
    with pytest.raises(ValueError, match="indices"):
        net.forward((data, bad, indptr, cols), coefs, intercepts)
    with pytest.raises(ValueError, match="indptr"):
        net.forward((data, indices, indptr[::-1].copy(), cols), coefs, intercepts)
    with pytest.raises(TypeError, match="int32 or int64"):
        net.forward((data, indices.astype(np.float64), indptr, cols), coefs, intercepts)


def test_epoch_before_an_optimizer_is_a_runtime_error():
    _, X, y, coefs, intercepts = good_args()
    net = Network([3, 4, 1], "relu", "identity", "squared_error", "float64")
    with pytest.raises(RuntimeError, match="set_sgd or set_adam"):
        net.epoch(X, y, None, coefs, intercepts, np.arange(10), 4, 0.0)
    with pytest.raises(RuntimeError):
        _ = net.learning_rate


_LONG_EPOCH = """
import sys, time
import numpy as np
from neurust._core import Network
rng = np.random.default_rng(0)
X = rng.standard_normal((100_000, 100), dtype=np.float32)
y = rng.standard_normal((100_000, 1), dtype=np.float32)
sizes = [100, 512, 512, 1]
coefs = [rng.uniform(-0.05, 0.05, (a, b)).astype(np.float32) for a, b in zip(sizes, sizes[1:])]
intercepts = [np.zeros(b, np.float32) for b in sizes[1:]]
net = Network(sizes, "relu", "identity", "squared_error", "float32")
net.set_sgd(1e-4, 0.9, True)
# Twenty passes over the rows in one call: an epoch of many seconds.
order = np.tile(np.arange(100_000), 20)
print("ready", flush=True)
start = time.perf_counter()
try:
    net.epoch(X, y, None, coefs, intercepts, order, 200, 0.0)
    print("finished", flush=True)
except KeyboardInterrupt:
    print(f"interrupted {time.perf_counter() - start:.3f}", flush=True)
"""


def test_ctrl_c_interrupts_a_long_epoch():
    import time

    with Child(_LONG_EPOCH, interruptible=True, env={"NEURUST_NUM_THREADS": "1"}) as child:
        assert child.read_line(timeout=120, waiting_for="ready") == "ready"
        time.sleep(0.5)
        child.interrupt()
        line = child.read_line(timeout=3, waiting_for="KeyboardInterrupt")
        assert line.startswith("interrupted"), line
        assert child.wait(timeout=30) == 0


@needs_sklearn
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "sizes",
    [[64, 100, 10], [20, 40, 3, 12], [16, 512, 256, 2]],
    ids=["narrow-output", "narrow-hidden", "large-products"],
)
def test_layer_shapes_that_change_the_product_forms_match_sklearn(dtype, sizes):
    rows = 24
    X, y, w = make_data(rows, sizes[0], sizes[-1], "onehot", dtype, seed=7)
    coefs, intercepts = make_params(sizes, dtype, seed=8)
    est = sklearn_net(sizes, "logistic", "softmax", "log_loss", 0.01, coefs, intercepts)
    want_loss, want_cg, want_ig = sklearn_backprop(est, X, y, w)
    net = Network(sizes, "logistic", "softmax", "log_loss", np.dtype(dtype).name)
    cg = [np.empty_like(c) for c in coefs]
    ig = [np.empty_like(b) for b in intercepts]
    close(net.loss_gradient(X, y, w, coefs, intercepts, 0.01, cg, ig), want_loss, dtype)
    for g, want in zip(cg + ig, want_cg + want_ig, strict=True):
        close(g, want, dtype)
    close(net.forward(X, coefs, intercepts), est._forward_pass_fast(X, check_input=False), dtype)
