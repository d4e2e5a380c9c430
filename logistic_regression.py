"""Logistic regression for two classes (Task 2): the model, its loss and its gradient.

The maths is in report.ipynb, Task 1a; the gradient check in gradient_check.py.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from dataloaders import IMAGE_PIXELS
from trainer import accuracy


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + e^-z), elementwise.

    Written as exp(-ln(1 + e^-z)), the same number: np.logaddexp(0, -z) computes ln(e^0 + e^-z)
    without forming e^-z, which overflows to infinity (with a RuntimeWarning) for z below about
    -88 in float32 (-709 in float64).
    """
    return np.exp(-np.logaddexp(0.0, -z))


def safe_log(p: np.ndarray) -> np.ndarray:
    """ln(p), with p raised to the smallest normal float first: ln(0) would give -inf and NaN."""
    return np.log(np.maximum(p, np.finfo(p.dtype).tiny))


def cross_entropy_loss(targets: np.ndarray, outputs: np.ndarray) -> float:
    """Mean binary cross-entropy C = -1/N sum_n [y^n ln(yhat^n) + (1 - y^n) ln(1 - yhat^n)].

    targets: [N, 1] in {0, 1}; outputs: [N, 1] probabilities yhat = P(target 1).
    """
    if targets.shape != outputs.shape:
        raise ValueError(f"targets {targets.shape} and outputs {outputs.shape} differ in shape")
    log_likelihood = targets * safe_log(outputs) + (1 - targets) * safe_log(1 - outputs)
    return float(-np.mean(log_likelihood))


class BinaryModel:
    """yhat = sigmoid(X w) for inputs X [N, 785] (pixels and a bias column), w [785, 1]."""

    def __init__(self, dtype: DTypeLike = np.float64) -> None:
        self.num_inputs = IMAGE_PIXELS + 1  # the course calls it I: 784 pixels and the bias input
        self.w = np.zeros((self.num_inputs, 1), dtype=dtype)  # the trainer updates it in place
        self.grad = np.zeros_like(self.w)  # dC/dw of the last batch, written in place by backward

    @property
    def ws(self) -> list[np.ndarray]:
        """The parameters, as the trainer reads them: [w]."""
        return [self.w]

    @property
    def grads(self) -> list[np.ndarray]:
        """Their gradients, as the trainer reads them: [grad]."""
        return [self.grad]

    def forward(self, X: np.ndarray) -> np.ndarray:
        """X [N, 785] -> yhat [N, 1], the probability of target 1."""
        return sigmoid(X @ self.w)

    def backward(self, X: np.ndarray, outputs: np.ndarray, targets: np.ndarray) -> None:
        """Write dC/dw = -1/N sum_n (y^n - yhat^n) x^n, shape [785, 1], into self.grad.

        The derivation: report.ipynb, Task 1a, equation (eq-logistic-batch-gradient).
        """
        if targets.shape != outputs.shape:
            raise ValueError(f"targets {targets.shape} and outputs {outputs.shape} differ in shape")
        self.grad[:] = -(X.T @ (targets - outputs)) / X.shape[0]

    def loss(self, targets: np.ndarray, outputs: np.ndarray) -> float:
        """The mean binary cross-entropy of the batch."""
        return cross_entropy_loss(targets, outputs)


def calculate_accuracy(X: np.ndarray, targets: np.ndarray, model: BinaryModel) -> float:
    """Fraction of X classified right (yhat >= 0.5 means target 1); targets [N, 1].

    The course's function, with its argument order. Training uses `trainer.accuracy(targets,
    outputs)` itself, on the outputs of the forward pass that gave the loss; this is it on
    model.forward(X).
    """
    return accuracy(targets, model.forward(X))
