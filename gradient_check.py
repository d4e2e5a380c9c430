"""Gradient checking: `backward`'s analytic gradients against central differences.

The maths is in report.ipynb, Task 2a: central differences and the relative error that the check
compares with its tolerance, equation (eq-central-difference).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from trainer import Model

# Central differences: (J(w + eps) - J(w - eps)) / (2 eps) has error O(eps^2) from the Taylor
# series and O(machine_eps / eps) from rounding; in float64, eps = 1e-5 balances the two.
GRADIENT_CHECK_EPSILON = 1e-5
GRADIENT_CHECK_TOLERANCE = 1e-6  # largest relative error accepted (see relative_error)


def numerical_gradient(
    cost: Callable[[], float], w: np.ndarray, epsilon: float = GRADIENT_CHECK_EPSILON
) -> np.ndarray:
    """Central-difference estimate of d(cost)/dw, perturbing one entry of `w` at a time in place."""
    gradient = np.zeros_like(w, dtype=np.float64)
    for index in np.ndindex(w.shape):
        original = w[index]
        w[index] = original + epsilon
        cost_plus = cost()
        w[index] = original - epsilon
        cost_minus = cost()
        w[index] = original
        gradient[index] = (cost_plus - cost_minus) / (2 * epsilon)
    return gradient


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """max |a - n| / max(max |a|, max |n|): the worst error relative to the gradient's scale.

    Scaling by the largest entry, not entry by entry, keeps entries that are nearly zero (whose
    own relative error is all rounding noise) from failing a correct gradient.
    """
    scale = max(np.max(np.abs(analytic)), np.max(np.abs(numeric)), np.finfo(float).tiny)
    return float(np.max(np.abs(analytic - numeric)) / scale)


def gradient_check(model: Model, X: np.ndarray, targets: np.ndarray) -> list[float]:
    """Largest relative error between `backward`'s gradients and central differences.

    One value per parameter array. The cost differentiated is the model's loss plus its
    regularisation penalty, if it has one (`model.penalty()`), as `backward` computes. Use
    float64 weights and inputs: in float32, rounding swamps the differences.
    """

    def cost() -> float:
        penalty = model.penalty() if hasattr(model, "penalty") else 0.0
        return model.loss(targets, model.forward(X)) + penalty

    model.backward(X, model.forward(X), targets)
    analytic = [grad.copy() for grad in model.grads]
    return [
        relative_error(grad, numerical_gradient(cost, w))
        for w, grad in zip(model.ws, analytic, strict=True)
    ]
