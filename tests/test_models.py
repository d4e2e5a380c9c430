"""Logistic and softmax regression: losses, gradients against central differences, stability."""

from __future__ import annotations

import numpy as np
import pytest

import trainer
import utils
from task2 import BinaryModel, calculate_accuracy, sigmoid
from task2 import cross_entropy_loss as binary_cross_entropy
from task3 import SoftmaxModel, cross_entropy_and_accuracy, softmax
from task3 import cross_entropy_loss as softmax_cross_entropy

RNG = np.random.default_rng(42)


def random_inputs(n: int = 20) -> np.ndarray:
    """Pre-processed-like inputs: values in [-1, 1] and a bias column of ones."""
    return np.hstack([RNG.uniform(-1, 1, (n, 784)), np.ones((n, 1))])


def random_one_hot(n: int = 20) -> np.ndarray:
    return np.eye(10)[RNG.integers(0, 10, n)]


def test_binary_forward_at_zero_weights_is_one_half() -> None:
    np.testing.assert_array_equal(BinaryModel().forward(random_inputs()), 0.5)


def test_softmax_forward_at_zero_weights_is_one_tenth() -> None:
    np.testing.assert_allclose(SoftmaxModel().forward(random_inputs()), 0.1)


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
    errors = utils.gradient_check(model, random_inputs(), targets)
    assert max(errors) < utils.GRADIENT_CHECK_TOLERANCE


@pytest.mark.parametrize("l2_lambda", [0.0, 0.5])
def test_softmax_gradient_matches_central_differences(l2_lambda: float) -> None:
    model = SoftmaxModel(l2_reg_lambda=l2_lambda)
    model.w = RNG.normal(0, 0.05, model.w.shape)
    errors = utils.gradient_check(model, random_inputs(), random_one_hot())
    assert max(errors) < utils.GRADIENT_CHECK_TOLERANCE


def test_gradient_check_catches_a_wrong_gradient() -> None:
    """The checker itself can fail: a softmax gradient without its 1/N is caught."""

    class Unnormalised(SoftmaxModel):
        def backward(self, X, outputs, targets) -> None:
            super().backward(X, outputs, targets)
            self.grad = self.grad * X.shape[0]

    model = Unnormalised()
    model.w = RNG.normal(0, 0.05, model.w.shape)
    assert max(utils.gradient_check(model, random_inputs(), random_one_hot())) > 0.5


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


@pytest.mark.parametrize("model_class", [BinaryModel, SoftmaxModel])
def test_evaluate_snapshots_matches_forward_loss_and_accuracy(model_class: type) -> None:
    """Each snapshot's (loss, accuracy) is the model's loss and the accuracy of forward(X)."""
    model = model_class()
    X = random_inputs(200)
    targets = RNG.integers(0, 2, (200, 1)).astype(float) if model_class is BinaryModel else None
    targets = random_one_hot(200) if targets is None else targets
    snapshots = [[RNG.normal(0, 0.1, model.w.shape)] for _ in range(4)]
    results = model.evaluate_snapshots(X, targets, snapshots)
    assert len(results) == 4
    for (w,), (loss, accuracy) in zip(snapshots, results, strict=True):
        model.w = w
        outputs = model.forward(X)
        assert loss == pytest.approx(model.loss(targets, outputs), rel=1e-10)
        assert accuracy == trainer.accuracy(targets, outputs)
    assert len({accuracy for _, accuracy in results}) > 1  # the snapshots were not mixed up


def test_cross_entropy_and_accuracy_breaks_ties_like_argmax() -> None:
    """Equal logits predict the first class, as argmax does; the loss is then ln K."""
    labels = np.array([0, 3, 0, 9, 0])
    loss, accuracy = cross_entropy_and_accuracy(np.zeros((10, 5)), labels)
    assert loss == pytest.approx(np.log(10))
    assert accuracy == 0.6
    logits = np.array([[2.0, 1.0], [2.0, 3.0], [0.0, 3.0]])  # sample 0: classes 0, 1 tie
    assert cross_entropy_and_accuracy(logits, np.array([1, 1]))[1] == 0.5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_from_extreme_logits_is_exact(dtype: type) -> None:
    """Logits 10^4 apart: the confidently wrong sample costs 10^4, not an overflow or a NaN."""
    logits = np.array([[1e4, 0.0], [0.0, 0.0]], dtype=dtype)  # [K = 2, N = 2]
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss, accuracy = cross_entropy_and_accuracy(logits, np.array([1, 0]))
    assert loss == pytest.approx((1e4 + np.log(2)) / 2)
    assert accuracy == 0.5
