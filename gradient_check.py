"""Gradient checking: `backward`'s analytic gradients against central differences.

    python gradient_check.py    # the models of Tasks 2 to 4, each relative error printed;
                                # exit 1 on a failure (Task 5's network: tests/test_task5.py)

The maths is in report.ipynb, Task 2a: central differences and the relative error that the check
compares with its tolerance, equation (eq-central-difference).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from dataloaders import IMAGE_PIXELS
from logistic_regression import BinaryModel
from softmax_regression import NUM_CLASSES, SoftmaxModel

# Central differences: (J(w + eps) - J(w - eps)) / (2 eps) has error O(eps^2) from the Taylor
# series and O(machine_eps / eps) from rounding; in float64, eps = 1e-5 balances the two.
GRADIENT_CHECK_EPSILON = 1e-5
GRADIENT_CHECK_TOLERANCE = 1e-6  # largest relative error accepted (see relative_error)


def numerical_gradient(
    cost: Callable[[], float], w: np.ndarray, epsilon: float = GRADIENT_CHECK_EPSILON
) -> np.ndarray:
    """Central-difference estimate of d(cost)/dw, perturbing one entry of `w` at a time in place.

    `w` is one of the model's own weight arrays (an item of model.ws), so `cost` sees each change.
    """
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


def gradient_check(model: Any, X: np.ndarray, targets: np.ndarray) -> list[float]:
    """Largest relative error between `backward`'s gradients and central differences, for any
    model with forward, loss, backward, ws and grads (BinaryModel, SoftmaxModel, TwoLayerModel).

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


CHECK_EXAMPLES = 20  # random examples each model is checked on
CHECK_LAMBDA = 0.5  # L2 strength of the penalised checks, large enough to matter
MODELS_CHECKED = {
    "logistic": "logistic regression (Task 2a)",
    "softmax": "softmax regression, no penalty (Task 3a)",
    "softmax_l2": f"softmax regression, L2 lambda = {CHECK_LAMBDA:g} (Task 4a)",
}


def check_models(seed: int = 0) -> dict[str, float]:
    """Largest relative error of `gradient_check` for each model of MODELS_CHECKED, in float64,
    on random inputs in [-1, 1] (with the bias input 1), random targets and random weights."""
    rng = np.random.default_rng(seed)

    def inputs() -> np.ndarray:
        pixels = rng.uniform(-1, 1, (CHECK_EXAMPLES, IMAGE_PIXELS))
        return np.hstack([pixels, np.ones((CHECK_EXAMPLES, 1))])

    def one_hot() -> np.ndarray:
        return np.eye(NUM_CLASSES)[rng.integers(0, NUM_CLASSES, CHECK_EXAMPLES)]

    binary = BinaryModel()
    binary.w = rng.normal(0, 0.05, binary.w.shape)
    binary_targets = rng.integers(0, 2, (CHECK_EXAMPLES, 1)).astype(float)
    penalised = SoftmaxModel(l2_reg_lambda=CHECK_LAMBDA)
    penalised.w = rng.normal(0, 0.05, penalised.w.shape)
    errors = {
        "logistic": max(gradient_check(binary, inputs(), binary_targets)),
        "softmax_l2": max(gradient_check(penalised, inputs(), one_hot())),
    }
    plain = SoftmaxModel(l2_reg_lambda=0.0)
    plain.w = rng.normal(0, 0.05, plain.w.shape)
    errors["softmax"] = max(gradient_check(plain, inputs(), one_hot()))
    return {name: errors[name] for name in MODELS_CHECKED}


def check_for_task(*names: str) -> dict[str, float]:
    """The relative errors of `check_models` for the models a task trains, for its results."""
    errors = check_models()
    return {name: errors[name] for name in names}


def main() -> None:
    errors = check_models()
    for name, error in errors.items():
        verdict = "passes" if error < GRADIENT_CHECK_TOLERANCE else "FAILS"
        print(
            f"{MODELS_CHECKED[name]:<48} relative error {error:.1e} "
            f"(tolerance {GRADIENT_CHECK_TOLERANCE:.0e}): {verdict}"
        )
    sys.exit(0 if all(error < GRADIENT_CHECK_TOLERANCE for error in errors.values()) else 1)


if __name__ == "__main__":
    main()
