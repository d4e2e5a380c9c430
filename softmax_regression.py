"""Softmax regression over the ten digits (Tasks 3 and 4): the model, its loss and its gradient.

The maths is in report.ipynb, Task 1b (the gradient) and Task 4a (the L2 penalty).
"""

import numpy as np
from numpy.typing import DTypeLike

from dataloaders import IMAGE_PIXELS
from logistic_regression import safe_log

NUM_CLASSES = 10


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise e^z_k / sum_j e^z_j for logits z [N, K] -> probabilities [N, K].

    Subtracting each row's maximum first changes nothing mathematically and keeps exp from
    overflowing.
    """
    exp = np.exp(z - z.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def cross_entropy_loss(targets: np.ndarray, outputs: np.ndarray) -> float:
    """Mean multi-class cross-entropy C = -1/N sum_n sum_k y_k^n ln(yhat_k^n).

    targets: one-hot [N, K]; outputs: class probabilities [N, K].
    """
    if targets.shape != outputs.shape:
        raise ValueError(f"targets {targets.shape} and outputs {outputs.shape} differ in shape")
    return float(-np.sum(targets * safe_log(outputs)) / targets.shape[0])


def accuracy(targets: np.ndarray, outputs: np.ndarray) -> float:
    """Fraction whose most probable class is the target's; one-hot targets and outputs [N, K]."""
    return float(np.mean(outputs.argmax(axis=1) == targets.argmax(axis=1)))


class SoftmaxModel:
    """yhat = softmax(X w) for inputs X [N, 785] (pixels and a bias column), w [785, 10].

    The cost minimised is J = C + l2_reg_lambda * 1/2 sum(w^2), over all of w.
    """

    def __init__(self, l2_reg_lambda: float = 0.0, dtype: DTypeLike = np.float64) -> None:
        self.num_inputs = IMAGE_PIXELS + 1  # the course calls it I: 784 pixels and the bias input
        self.num_outputs = NUM_CLASSES
        self.l2_reg_lambda = l2_reg_lambda
        self.w = np.zeros((self.num_inputs, self.num_outputs), dtype=dtype)  # training changes it
        self.grad = np.zeros_like(self.w)  # dJ/dw of the last batch, set by backward

    # For Task 5's trainer and gradient_check.py, as in BinaryModel: [model.w], the array itself.
    @property
    def ws(self) -> list[np.ndarray]:
        return [self.w]

    @property
    def grads(self) -> list[np.ndarray]:
        return [self.grad]

    def forward(self, X: np.ndarray) -> np.ndarray:
        """X [N, 785] -> class probabilities yhat [N, 10]."""
        return softmax(X @ self.w)

    def backward(self, X: np.ndarray, outputs: np.ndarray, targets: np.ndarray) -> None:
        """Set self.grad to dJ/dw = 1/N X^T (yhat - y) + lambda w, shape [785, 10].

        The derivation: report.ipynb, Task 1b, equation (eq-softmax-batch-gradient) (transposed,
        as w is stored [785, 10]), and Task 4a, equation (eq-regularised-gradient), for lambda w.
        """
        if targets.shape != outputs.shape:
            raise ValueError(f"targets {targets.shape} and outputs {outputs.shape} differ in shape")
        self.grad = X.T @ ((outputs - targets) / X.shape[0]) + self.l2_reg_lambda * self.w

    def loss(self, targets: np.ndarray, outputs: np.ndarray) -> float:
        """The cross-entropy C; the penalty is left out so that runs with any lambda compare."""
        return cross_entropy_loss(targets, outputs)

    def accuracy(self, targets: np.ndarray, outputs: np.ndarray) -> float:
        """The fraction of `outputs` that is right: `accuracy` of this module."""
        return accuracy(targets, outputs)

    def penalty(self) -> float:
        """lambda * 1/2 sum(w^2), the regularisation term of J."""
        return 0.5 * self.l2_reg_lambda * float(np.sum(self.w.astype(np.float64) ** 2))


def calculate_accuracy(X: np.ndarray, targets: np.ndarray, model: SoftmaxModel) -> float:
    """Fraction of X whose most probable class is the one-hot target's class.

    The course's function, with its argument order: `accuracy(targets, outputs)` (what training
    uses) on model.forward(X).
    """
    return accuracy(targets, model.forward(X))
