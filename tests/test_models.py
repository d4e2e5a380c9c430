"""Logistic and softmax regression: losses, gradients against central differences, stability."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import random_inputs as random_inputs_of
from conftest import random_one_hot as random_one_hot_of

import gradient_check as gradient_check_module
import softmax_regression
from gradient_check import GRADIENT_CHECK_TOLERANCE, gradient_check
from logistic_regression import BinaryModel, calculate_accuracy, sigmoid
from logistic_regression import cross_entropy_loss as binary_cross_entropy
from softmax_regression import SoftmaxModel, softmax
from softmax_regression import cross_entropy_loss as softmax_cross_entropy
from support.outputs import REPO

RNG = np.random.default_rng(42)


def random_inputs(n: int = 20) -> np.ndarray:
    return random_inputs_of(RNG, n)


def random_one_hot(n: int = 20) -> np.ndarray:
    return random_one_hot_of(RNG, n)


def test_binary_forward_at_zero_weights_is_one_half() -> None:
    np.testing.assert_array_equal(BinaryModel().forward(random_inputs()), 0.5)


def test_softmax_forward_at_zero_weights_is_one_tenth() -> None:
    np.testing.assert_allclose(SoftmaxModel().forward(random_inputs()), 0.1)


@pytest.mark.parametrize("make_model", [BinaryModel, SoftmaxModel], ids=["binary", "softmax"])
def test_ws_and_grads_are_the_models_own_w_and_grad(make_model) -> None:
    """Task 5's trainer and the gradient check reach a model's weights through `ws`: [w], the
    array itself as the model holds it now (also after w is set anew), and `grads`: [grad]."""
    model = make_model()
    X = random_inputs()
    targets = random_one_hot() if model.w.shape[1] == 10 else np.ones((20, 1))
    model.backward(X, model.forward(X), targets)
    assert model.ws[0] is model.w and model.grads[0] is model.grad
    assert np.any(model.grad != 0)
    model.w = RNG.normal(0, 0.05, model.w.shape)
    assert model.ws[0] is model.w


def test_binary_cross_entropy_value() -> None:
    targets, outputs = np.array([[1.0], [0.0]]), np.array([[0.8], [0.4]])
    expected = -(np.log(0.8) + np.log(0.6)) / 2
    assert binary_cross_entropy(targets, outputs) == pytest.approx(expected)


def test_softmax_cross_entropy_value() -> None:
    targets = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    outputs = np.array([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]])
    expected = -(np.log(0.7) + np.log(0.5)) / 2
    assert softmax_cross_entropy(targets, outputs) == pytest.approx(expected)


def test_losses_refuse_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        softmax_cross_entropy(np.zeros((4, 10)), np.zeros((4, 9)))
    with pytest.raises(ValueError, match="differ in shape"):
        BinaryModel().backward(random_inputs(4), np.zeros((4, 1)), np.zeros(4))


def test_binary_gradient_matches_central_differences() -> None:
    model = BinaryModel()
    model.w = RNG.normal(0, 0.05, model.w.shape)
    targets = RNG.integers(0, 2, (20, 1)).astype(float)
    errors = gradient_check(model, random_inputs(), targets)
    assert max(errors) < GRADIENT_CHECK_TOLERANCE


@pytest.mark.parametrize("l2_lambda", [0.0, 0.5])
def test_softmax_gradient_matches_central_differences(l2_lambda: float) -> None:
    model = SoftmaxModel(l2_reg_lambda=l2_lambda)
    model.w = RNG.normal(0, 0.05, model.w.shape)
    errors = gradient_check(model, random_inputs(), random_one_hot())
    assert max(errors) < GRADIENT_CHECK_TOLERANCE


def test_gradient_check_catches_a_wrong_gradient() -> None:
    """The checker itself can fail: a softmax gradient without its 1/N is caught."""

    class Unnormalised(SoftmaxModel):
        def backward(self, X, outputs, targets) -> None:
            super().backward(X, outputs, targets)
            self.grad = self.grad * X.shape[0]

    model = Unnormalised()
    model.w = RNG.normal(0, 0.05, model.w.shape)
    assert max(gradient_check(model, random_inputs(), random_one_hot())) > 0.5


def test_python_gradient_check_prints_every_model_and_fails_on_a_wrong_gradient(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as finished:
        gradient_check_module.main()
    assert finished.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(gradient_check_module.MODELS_CHECKED)
    assert all(line.endswith("passes") and "relative error" in line for line in lines)

    class Unnormalised(SoftmaxModel):
        def backward(self, X, outputs, targets) -> None:
            super().backward(X, outputs, targets)
            self.grad = self.grad * X.shape[0]

    monkeypatch.setattr(gradient_check_module, "SoftmaxModel", Unnormalised)
    with pytest.raises(SystemExit) as finished:
        gradient_check_module.main()
    assert finished.value.code == 1
    failing = [line for line in capsys.readouterr().out.splitlines() if line.endswith("FAILS")]
    assert len(failing) == 2 and all("softmax regression" in line for line in failing)


def test_l2_penalty_adds_lambda_w() -> None:
    X, targets = random_inputs(), random_one_hot()
    plain, regularised = SoftmaxModel(0.0), SoftmaxModel(0.3)
    plain.w = regularised.w = RNG.normal(0, 0.05, plain.w.shape)
    for model in (plain, regularised):
        model.backward(X, model.forward(X), targets)
    np.testing.assert_allclose(regularised.grad - plain.grad, 0.3 * plain.w)
    assert regularised.penalty() == pytest.approx(0.15 * np.sum(plain.w**2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits_stay_finite(dtype: type) -> None:
    """Logits of +-1000: finite probabilities, losses and gradients; no overflow, no NaN."""
    X = np.ones((4, 785), dtype=dtype)
    sign = np.array([[1], [-1], [1], [-1]], dtype=dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        binary = BinaryModel(dtype=dtype)
        binary.w[:] = 1000 / 785
        outputs = binary.forward(X * sign)
        wrong = 1 - (sign > 0).astype(dtype)  # every prediction confidently wrong
        assert np.all((outputs >= 0) & (outputs <= 1))
        assert np.isfinite(binary.loss(wrong, outputs))
        binary.backward(X * sign, outputs, wrong)
        assert np.all(np.isfinite(binary.grad))

        model = SoftmaxModel(dtype=dtype)
        model.w[:, 0], model.w[:, 1] = 1000 / 785, -1000 / 785
        outputs = model.forward(X * sign)
        targets = np.eye(10, dtype=dtype)[[1, 0, 1, 0]]  # the least likely class each time
        np.testing.assert_allclose(outputs.sum(axis=1), 1, rtol=1e-6)
        assert np.isfinite(model.loss(targets, outputs))
        model.backward(X * sign, outputs, targets)
        assert np.all(np.isfinite(model.grad))


def test_sigmoid_and_softmax_match_their_definitions() -> None:
    z = np.linspace(-20, 20, 41).reshape(-1, 1)
    np.testing.assert_allclose(sigmoid(z), 1 / (1 + np.exp(-z)), rtol=1e-12)
    logits = RNG.normal(0, 3, (5, 10))
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax(logits), expected, rtol=1e-12)


def test_calculate_accuracy() -> None:
    model = BinaryModel()
    model.w[0] = 1.0  # predicts 1 exactly when the first input is >= 0
    X = np.zeros((4, 785))
    X[:, 0] = [1, -1, 1, -1]
    assert calculate_accuracy(X, np.array([[1], [0], [0], [0]]), model) == 0.75


def test_softmax_calculate_accuracy() -> None:
    model = SoftmaxModel()
    model.w[0, 3] = 1.0  # predicts class 3 when the first input is > 0, else class 0
    X = np.zeros((4, 785))
    X[:, 0] = [1, -1, 1, -1]
    targets = np.eye(10)[[3, 0, 0, 3]]
    assert softmax_regression.calculate_accuracy(X, targets, model) == 0.5


def test_python_gradient_check_needs_numpy_alone() -> None:
    """`python gradient_check.py` runs in any Python with NumPy, without the project's other
    packages (the trainer's progress bars, the figures, the download)."""
    others = "{'tqdm', 'matplotlib', 'pooch'}"
    code = f"import sys, gradient_check; print(sorted({others} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    )
    assert result.stdout.strip() == "[]"


def test_importing_the_models_and_the_trainer_leaves_matplotlib_alone() -> None:
    """The teaching path (models, trainer, gradient check, data) imports no plotting library."""
    code = (
        "import sys, dataloaders, gradient_check, logistic_regression, softmax_regression, "
        "trainer, two_layer_network; print('matplotlib' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    )
    assert result.stdout.strip() == "False"
