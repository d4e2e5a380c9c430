"""A network with one hidden layer of ReLU units (Task 5): the model, its loss and its gradients.

The maths of the backward pass is in docs/task5.md.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import DTypeLike

from dataloaders import IMAGE_PIXELS
from softmax_regression import NUM_CLASSES, accuracy, cross_entropy_loss, softmax


class TwoLayerModel:
    """yhat = softmax(relu(X w1) w2[:-1] + w2[-1]): 785 inputs -> H ReLU units -> 10 classes.

    X [N, 785] carries the bias column, so w1 [785, H] holds the hidden biases in its last row;
    w2 [H + 1, 10] holds the output biases in its last row. He initialisation: weights drawn
    from N(0, 2 / fan_in), biases 0. The cost minimised is J = C + lambda/2 sum(w^2), the sum
    running over every entry of w1 and w2.
    """

    def __init__(
        self,
        hidden_units: int,
        l2_reg_lambda: float = 0.0,
        seed: int = 0,
        dtype: DTypeLike = np.float64,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.num_inputs = IMAGE_PIXELS + 1  # the course calls it I: 784 pixels and the bias input
        self.hidden_units = hidden_units
        self.num_outputs = NUM_CLASSES
        self.l2_reg_lambda = l2_reg_lambda
        self.ws: list[np.ndarray] = []  # [w1, w2]; Task5Trainer changes them in place
        for rows, columns in ((self.num_inputs, hidden_units), (hidden_units + 1, NUM_CLASSES)):
            fan_in = rows - 1  # the bias row is not an input
            w = np.zeros((rows, columns), dtype=dtype)
            w[:-1] = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, columns))
            self.ws.append(w)
        self.grads = [np.zeros_like(w) for w in self.ws]  # dJ/dw1, dJ/dw2, set by backward
        self.hidden: np.ndarray | None = None  # relu(X w1) of the last forward, for backward

    @property
    def num_parameters(self) -> int:
        """Number of trainable weights, biases included."""
        return sum(w.size for w in self.ws)

    def forward(self, X: np.ndarray) -> np.ndarray:
        """X [N, 785] -> class probabilities yhat [N, 10]; keeps the hidden activations [N, H]."""
        w1, w2 = self.ws
        self.hidden = np.maximum(X @ w1, 0)
        return softmax(self.hidden @ w2[:-1] + w2[-1])

    def backward(self, X: np.ndarray, outputs: np.ndarray, targets: np.ndarray) -> None:
        """Set self.grads to [dJ/dw1, dJ/dw2] for the batch of the last `forward`.

        With z1 = X w1, a = relu(z1) [N, H] and delta2 = dC/dz2 = (yhat - y) / N [N, 10]:
        dC/dw2 = [a^T delta2; sum_n delta2] [H + 1, 10],
        delta1 = dC/dz1 = (delta2 w2[:-1]^T) * (z1 > 0) [N, H], dC/dw1 = X^T delta1 [785, H].
        The penalty adds lambda w to each. The derivation: docs/task5.md, equations (1) to (4).
        """
        if targets.shape != outputs.shape:
            raise ValueError(f"targets {targets.shape} and outputs {outputs.shape} differ in shape")
        if self.hidden is None or len(self.hidden) != len(X):
            raise ValueError("backward needs the forward pass of the same batch first")
        w1, w2 = self.ws
        delta2 = (outputs - targets) / X.shape[0]
        grad_w2 = np.vstack([self.hidden.T @ delta2, delta2.sum(axis=0)])
        delta1 = (delta2 @ w2[:-1].T) * (self.hidden > 0)
        grad_w1 = X.T @ delta1
        self.grads = [grad_w1 + self.l2_reg_lambda * w1, grad_w2 + self.l2_reg_lambda * w2]

    def loss(self, targets: np.ndarray, outputs: np.ndarray) -> float:
        """The cross-entropy C; the penalty is left out so that runs with any lambda compare."""
        return cross_entropy_loss(targets, outputs)

    def accuracy(self, targets: np.ndarray, outputs: np.ndarray) -> float:
        """The fraction of `outputs` that is right: softmax_regression.accuracy."""
        return accuracy(targets, outputs)

    def penalty(self) -> float:
        """lambda/2 sum(w^2) over w1 and w2, the regularisation term of J."""
        squares = sum(float(np.sum(w.astype(np.float64) ** 2)) for w in self.ws)
        return 0.5 * self.l2_reg_lambda * squares
