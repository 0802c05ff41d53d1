"""The tutorial's worked examples, written once: the demo, the comparison and the tests read them.

"The tutorial" is the few introductory texts neurust's domain comes from: one neuron, a
weighted sum of several inputs, ReLU, the perceptron, the sigmoid neuron and a two-layer
network trained by gradient descent. Each number here but the logic gates (neurust's own
perceptron examples) is one they compute by hand. (Not to be confused with ``seed=``, the
random seed every constructor takes.)
"""

from __future__ import annotations

import numpy as np

# One neuron: prediction = toes × weight.
ONE_NEURON_WEIGHT = 0.1
ONE_NEURON_TOES = (8.5, 9.0, 9.5, 10.0)
ONE_NEURON_PREDICTIONS = (0.85, 0.90, 0.95, 1.00)

# Three inputs per game (toes, win/loss record, fans), four games, three weights.
GAMES = {
    "toes": (8.5, 9.5, 9.9, 9.0),
    "record": (0.65, 0.8, 0.8, 0.9),
    "fans": (1.2, 1.3, 0.5, 1.0),
}
GAME_WEIGHTS = (0.1, 0.2, 0.0)
GAME_PREDICTIONS = (0.98, 1.11, 1.15, 1.08)
"""The tutorial rounds its first prediction: 0.98 holds to 1e-5, the others to 1e-2."""

# A ReLU neuron: a = x · w, y = relu(a).
RELU_INPUTS = (2.0, 3.0, 4.0)
RELU_WEIGHTS = (1.0, -1.0, 5.0)
RELU_OUTPUT = 19.0

# The two-layer network: 128 rows, 1000 → 100 → 1, ReLU, no biases, 500 steps at lr 1e-6.
NET_BATCH, NET_INPUTS, NET_HIDDEN, NET_OUTPUTS = 128, 1000, 100, 1
NET_STEPS = 500
NET_LR = 1e-6
NET_LOSSES = {0: 9105954.33, 50: 11819.75, 100: 732.03, 200: 65.96, 300: 61.52, 400: 61.51}
"""The losses the tutorial printed for its own random draw; a different draw gives other values."""

# Logic gates for the perceptron: inputs (0,0), (0,1), (1,0), (1,1).
GATE_INPUTS = ((0, 0), (0, 1), (1, 0), (1, 1))
GATES = {"AND": (0, 0, 0, 1), "OR": (0, 1, 1, 1), "XOR": (0, 1, 1, 0)}


def games(dtype: np.dtype | type | str = np.float64) -> np.ndarray:
    """The games as a 4×3 matrix: one row per game, columns toes, record, fans."""
    return np.column_stack([GAMES["toes"], GAMES["record"], GAMES["fans"]]).astype(dtype)


def net_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The network's standard-normal inputs (128×1000) and targets (128×1), drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((NET_BATCH, NET_INPUTS))
    y = rng.standard_normal((NET_BATCH, NET_OUTPUTS))
    return x, y
