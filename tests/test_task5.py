"""Task 5: the two-layer network's gradients and stability, deskewing, search and script runs."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import random_inputs, random_one_hot

import task5
import utils
from dataloaders import Splits
from experiment import Settings
from gradient_check import GRADIENT_CHECK_TOLERANCE, gradient_check
from two_layer_network import TwoLayerModel

HIDDEN = 8  # small enough for central differences over every weight


def checkable_model(l2_lambda: float) -> tuple[TwoLayerModel, np.ndarray, np.ndarray]:
    """A float64 model with non-zero biases, and a batch on which the gradient check is sound.

    The ReLU has a kink at 0: central differences across it are wrong. Every hidden
    pre-activation is kept at least 1e-3 away from 0, a hundred times more than a perturbation
    of w1 by epsilon = 1e-5 can move it (|x| <= 1), and both sides of the kink are present.
    """
    rng = np.random.default_rng(3)
    model = TwoLayerModel(HIDDEN, l2_lambda, seed=5)
    model.ws[0][-1] = rng.normal(0, 0.1, HIDDEN)
    model.ws[1][-1] = rng.normal(0, 0.1, 10)
    X, targets = random_inputs(rng), random_one_hot(rng)
    pre_activations = X @ model.ws[0]
    assert np.min(np.abs(pre_activations)) > 1e-3
    assert 0.2 < np.mean(pre_activations > 0) < 0.8
    assert np.all(np.any(pre_activations > 0, axis=0))  # no hidden unit dead on the whole batch
    return model, X, targets


@pytest.mark.parametrize("l2_lambda", [0.0, 0.5])
def test_gradients_match_central_differences(l2_lambda: float) -> None:
    model, X, targets = checkable_model(l2_lambda)
    errors = gradient_check(model, X, targets)
    assert len(errors) == 2  # w1 and w2
    assert max(errors) < GRADIENT_CHECK_TOLERANCE


def test_gradient_check_catches_a_wrong_hidden_layer_gradient() -> None:
    """Forgetting the ReLU derivative in delta1 is caught in w1; w2's gradient still passes."""

    class NoReluDerivative(TwoLayerModel):
        def backward(self, X, outputs, targets) -> None:
            super().backward(X, outputs, targets)
            delta2 = (outputs - targets) / X.shape[0]
            self.grads[0] = X.T @ (delta2 @ self.ws[1][:-1].T)

    model, X, targets = checkable_model(0.0)
    broken = NoReluDerivative(HIDDEN, 0.0, seed=5)
    broken.ws = [w.copy() for w in model.ws]
    w1_error, w2_error = gradient_check(broken, X, targets)
    assert w1_error > 0.1
    assert w2_error < GRADIENT_CHECK_TOLERANCE


def test_l2_adds_lambda_w_to_every_gradient_and_penalty_is_half_lambda_sum_of_squares() -> None:
    model, X, targets = checkable_model(0.0)
    regularised = TwoLayerModel(HIDDEN, 0.3, seed=5)
    regularised.ws = [w.copy() for w in model.ws]
    for m in (model, regularised):
        m.backward(X, m.forward(X), targets)
    for w, plain, decayed in zip(model.ws, model.grads, regularised.grads, strict=True):
        np.testing.assert_allclose(decayed - plain, 0.3 * w, atol=1e-12)
    expected = 0.15 * sum(np.sum(w**2) for w in model.ws)
    assert regularised.penalty() == pytest.approx(expected)
    assert model.penalty() == 0.0


def test_forward_gives_probabilities() -> None:
    rng = np.random.default_rng(0)
    outputs = TwoLayerModel(32, seed=1).forward(random_inputs(rng, 50))
    assert outputs.shape == (50, 10)
    assert np.all((outputs >= 0) & (outputs <= 1))
    np.testing.assert_allclose(outputs.sum(axis=1), 1.0, rtol=1e-12)
    assert len(np.unique(outputs.argmax(axis=1))) > 1  # not one constant answer


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_inputs_stay_finite(dtype: type) -> None:
    """Inputs of +-10^4 give logits around 10^5: finite probabilities, loss and gradients."""
    rng = np.random.default_rng(1)
    X = np.hstack([rng.choice([-1e4, 1e4], (6, 784)), np.ones((6, 1))]).astype(dtype)
    model = TwoLayerModel(16, 0.01, seed=2, dtype=dtype)
    outputs = model.forward(X)
    targets = np.eye(10, dtype=dtype)[outputs.argmin(axis=1)]  # the least likely class each time
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        outputs = model.forward(X)
        assert outputs.dtype == dtype
        assert np.all(np.isfinite(outputs))
        assert outputs.max() == pytest.approx(1.0)  # the logits are far apart
        np.testing.assert_allclose(outputs.sum(axis=1), 1, rtol=1e-5)
        assert np.isfinite(model.loss(targets, outputs))
        model.backward(X, outputs, targets)
    for grad, w in zip(model.grads, model.ws, strict=True):
        assert grad.dtype == dtype and grad.shape == w.shape
        assert np.all(np.isfinite(grad))


def test_initialisation_is_he_and_follows_the_seed() -> None:
    first, same = TwoLayerModel(128, seed=7), TwoLayerModel(128, seed=7)
    other = TwoLayerModel(128, seed=8)
    assert [w.shape for w in first.ws] == [(785, 128), (129, 10)]
    for w, w_same, w_other in zip(first.ws, same.ws, other.ws, strict=True):
        np.testing.assert_array_equal(w, w_same)
        assert not np.array_equal(w, w_other)
        np.testing.assert_array_equal(w[-1], 0.0)  # biases start at zero
    assert np.std(first.ws[0][:-1]) == pytest.approx(np.sqrt(2 / 784), rel=0.05)
    assert np.std(first.ws[1][:-1]) == pytest.approx(np.sqrt(2 / 128), rel=0.1)
    assert first.num_parameters == 785 * 128 + 129 * 10
    assert TwoLayerModel(4, dtype=np.float32).ws[0].dtype == np.float32


def test_backward_needs_the_forward_of_the_same_batch() -> None:
    rng = np.random.default_rng(0)
    model = TwoLayerModel(4)
    X, targets = random_inputs(rng, 6), random_one_hot(rng, 6)
    with pytest.raises(ValueError, match="forward pass of the same batch"):
        model.backward(X, np.full((6, 10), 0.1), targets)
    model.forward(X[:3])
    with pytest.raises(ValueError, match="forward pass of the same batch"):
        model.backward(X, np.full((6, 10), 0.1), targets)


def test_prepare_inputs_centres_on_the_training_mean_only() -> None:
    rng = np.random.default_rng(4)
    X_train, X_val, X_test = (random_inputs(rng, n) for n in (40, 10, 10))
    X_val[:, :784] += 0.5
    data = Splits(X_train, None, X_val, None, X_test, None)
    inputs = task5.prepare_inputs(data)
    np.testing.assert_allclose(inputs.X_train[:, :784].mean(axis=0), 0.0, atol=1e-12)
    assert inputs.X_val[:, :784].mean() > 0.3  # shifted by the training mean, not its own
    for X in (inputs.X_train, inputs.X_val, inputs.X_test):
        np.testing.assert_array_equal(X[:, -1], 1.0)


def test_confusion_matrix_counts_true_rows_and_predicted_columns() -> None:
    targets = np.eye(3)[[0, 0, 1, 2, 2]]
    outputs = np.eye(3)[[0, 1, 1, 2, 0]] * 0.8 + 0.05
    np.testing.assert_array_equal(
        task5.confusion_matrix(targets, outputs), [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    )


def test_search_never_reads_the_test_split_and_picks_the_best_validation_accuracy() -> None:
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 10, 300)
    X = random_inputs(rng, 300)
    X[np.arange(300), labels] = 3.0  # a learnable signal
    Y = np.eye(10)[labels]
    data = Splits(X[:200], Y[:200], X[200:], Y[200:], None, None)
    grid = {"hidden_units": (2, 16), "learning_rate": (0.05,), "l2_lambda": (0.0, 0.001)}
    runs, settings, network = task5.search(
        data, Settings(0.1, 20, 2, 0), task5.NetworkSettings(8, 0.5, 0.1), grid
    )
    assert len(runs) == 4
    assert all(run.record["role"] == "search" for run in runs)
    assert all(run.record["test_accuracy"] is None for run in runs)
    best = max(runs, key=lambda run: (run.record["val_accuracy"], -run.record["val_loss"]))
    assert settings == Settings(0.05, 20, 2, 0)
    assert network.momentum == 0.5
    assert (network.hidden_units, network.l2_lambda) == (
        best.record["hidden_units"],
        best.record["l2_lambda"],
    )


# ---------------------------------------------------------------- the script

FINAL_KEYS = {
    "name",
    "role",
    "learning_rate",
    "batch_size",
    "epochs",
    "seed",
    "hidden_units",
    "momentum",
    "l2_lambda",
    "parameters",
    "early_stopping_patience",
    "steps",
    "best_step",
    "val_accuracy",
    "test_accuracy",
    "test_loss",
    "history",
}
FIGURES = ["task5_curves", "task5_confusion", "task5_misclassified"]


def run_quick(mnist_dir: Path, *extra: str, results: str = "task5") -> list[dict]:
    task5.main(["--quick", "--data-dir", str(mnist_dir), *extra])
    path = Path(os.environ["RESULTS_DIR"]) / "quick" / f"{results}.json"
    return json.loads(path.read_text())["runs"]


def test_quick_run_writes_figures_and_one_final_run(mnist_dir: Path, output_dirs) -> None:
    figures, _ = output_dirs
    (final,) = run_quick(mnist_dir)
    assert final.keys() >= FINAL_KEYS
    assert (final["name"], final["role"]) == ("final", "final")
    assert final["hidden_units"] == task5.HIDDEN_UNITS
    assert (final["momentum"], final["l2_lambda"]) == (task5.MOMENTUM, task5.L2_LAMBDA)
    assert final["parameters"] == 785 * task5.HIDDEN_UNITS + (task5.HIDDEN_UNITS + 1) * 10
    assert final["epochs"] == utils.QUICK_EPOCHS and final["steps"] > 0
    assert 0.5 < final["test_accuracy"] <= 1 and final["test_loss"] > 0
    confusion = np.array(final["test_confusion"])
    assert confusion.shape == (10, 10)
    assert np.trace(confusion) / confusion.sum() == pytest.approx(final["test_accuracy"])
    for name in FIGURES:
        assert (figures / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quick_search_records_search_runs_without_test_numbers(
    mnist_dir: Path, output_dirs
) -> None:
    (final,) = run_quick(mnist_dir, "--search", "--momentum", "0.8")
    search_path = Path(os.environ["RESULTS_DIR"]) / "quick" / "task5_search.json"
    runs = json.loads(search_path.read_text())["runs"]
    *search, ablation = runs
    assert [run["role"] for run in runs] == ["search"] * len(search) + ["ablation"]
    assert len(search) == math.prod(map(len, task5.QUICK_SEARCH_GRID.values())) >= 2
    for run in runs:
        assert run["test_accuracy"] is None and run["test_loss"] is None
        assert run["val_accuracy"] is not None and run["momentum"] == 0.8
    best = max(search, key=lambda run: (run["val_accuracy"], -run["val_loss"]))
    assert final["hidden_units"] == ablation["hidden_units"] == best["hidden_units"]
    assert final["learning_rate"] == ablation["learning_rate"] == best["learning_rate"]
    assert final["val_accuracy"] == best["val_accuracy"]  # same setting and seed, same run
    assert ablation["val_accuracy"] != best["val_accuracy"]  # other inputs, other run
    assert 0 <= final["test_accuracy"] <= 1


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--momentum", "1"], "argument --momentum: must be at least 0 and below 1"),
        (["--l2", "-0.1"], "argument --l2: must be a finite number >= 0"),
        (["--l2", "nan"], "argument --l2: must be a finite number >= 0"),
        (["--hidden-units", "0"], "argument --hidden-units: must be at least 1"),
    ],
)
def test_invalid_values_are_refused(flags: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        task5.make_parser().parse_args(flags)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
