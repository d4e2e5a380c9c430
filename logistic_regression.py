"""Logistic regression for two classes (Task 2): the model, its loss and its gradient.

The maths is in report.ipynb, Task 1a; the gradient check in gradient_check.py.
"""

import numpy as np
from numpy.typing import DTypeLike

from dataloaders import IMAGE_PIXELS


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


def accuracy(targets: np.ndarray, outputs: np.ndarray) -> float:
    """Fraction classified right, an output yhat >= 0.5 meaning target 1; both [N, 1]."""
    return float(np.mean((outputs >= 0.5) == (targets >= 0.5)))


class BinaryModel:
    """yhat = sigmoid(X w) for inputs X [N, 785] (pixels and a bias column), w [785, 1]."""

    def __init__(self, dtype: DTypeLike = np.float64) -> None:
        self.num_inputs = IMAGE_PIXELS + 1  # the course calls it I: 784 pixels and the bias input
        self.w = np.zeros((self.num_inputs, 1), dtype=dtype)  # the weights, which training changes
        self.grad = np.zeros_like(self.w)  # dC/dw of the last batch, set by backward

    # Task 5's trainer and gradient_check.py handle the weights of any model, one or several
    # arrays, as a list. A property is a method read like an attribute: model.ws is [model.w] as
    # it is now, the array itself, not a copy.
    @property
    def ws(self) -> list[np.ndarray]:
        return [self.w]

    @property
    def grads(self) -> list[np.ndarray]:
        return [self.grad]

    def forward(self, X: np.ndarray) -> np.ndarray:
        """X [N, 785] -> yhat [N, 1], the probability of target 1."""
        return sigmoid(X @ self.w)

    def backward(self, X: np.ndarray, outputs: np.ndarray, targets: np.ndarray) -> None:
        """Set self.grad to dC/dw = -1/N sum_n (y^n - yhat^n) x^n, shape [785, 1].

        The derivation: report.ipynb, Task 1a, equation (eq-logistic-batch-gradient).
        """
        if targets.shape != outputs.shape:
            raise ValueError(f"targets {targets.shape} and outputs {outputs.shape} differ in shape")
        self.grad = -(X.T @ (targets - outputs)) / X.shape[0]

    def loss(self, targets: np.ndarray, outputs: np.ndarray) -> float:
        """The mean binary cross-entropy of the batch."""
        return cross_entropy_loss(targets, outputs)

    def accuracy(self, targets: np.ndarray, outputs: np.ndarray) -> float:
        """The fraction of `outputs` that is right: `accuracy` of this module."""
        return accuracy(targets, outputs)


def calculate_accuracy(X: np.ndarray, targets: np.ndarray, model: BinaryModel) -> float:
    """Fraction of X classified right (yhat >= 0.5 means target 1); targets [N, 1].

    The course's function, with its argument order: `accuracy(targets, outputs)` (what training
    uses, on the outputs of the forward pass that gave the loss) on model.forward(X).
    """
    return accuracy(targets, model.forward(X))
