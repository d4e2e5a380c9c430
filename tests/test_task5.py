"""Task 5: the two-layer network's gradients and stability, its inputs (deskewing, centring,
shifts), the search, and the script's runs."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
from conftest import random_inputs, random_one_hot

import task5
import task5_figures
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
    inputs, mean_image = task5.prepare_inputs(data)
    np.testing.assert_allclose(inputs.X_train[:, :784].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(inputs.X_train + mean_image, task5.deskew(X_train), atol=1e-12)
    assert inputs.X_val[:, :784].mean() > 0.3  # shifted by the training mean, not its own
    for X in (inputs.X_train, inputs.X_val, inputs.X_test):
        np.testing.assert_array_equal(X[:, -1], 1.0)
    plain, _ = task5.prepare_inputs(data, deskew_images=False)
    np.testing.assert_allclose(plain.X_train[:, :784].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(plain.X_val - plain.X_train[0], X_val - X_train[0], atol=1e-12)


def test_shifts_of_centred_batches_fill_the_border_with_centred_background() -> None:
    """Shifting centred images = shifting the images before centring, then centring again."""
    rng = np.random.default_rng(2)
    images = random_inputs(rng, 30)
    images[:, :784].reshape(30, 28, 28)[:, :3] = -1.0  # background in the top rows
    mean_image = np.append(rng.uniform(-1, 0, 784), 0.0)
    augment = task5.shifts(mean_image, 2)
    shifted = augment(images - mean_image, np.random.default_rng(9))
    expected = task5.random_shift(images, 2, np.random.default_rng(9)) - mean_image
    np.testing.assert_allclose(shifted, expected, atol=1e-12)
    np.testing.assert_array_equal(shifted[:, -1], 1.0)
    assert task5.shifts(mean_image, 0) is None


def test_confusion_matrix_counts_true_rows_and_predicted_columns() -> None:
    targets = np.eye(3)[[0, 0, 1, 2, 2]]
    outputs = np.eye(3)[[0, 1, 1, 2, 0]] * 0.8 + 0.05
    np.testing.assert_array_equal(
        task5_figures.confusion_matrix(targets, outputs), [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    )


def test_search_never_reads_the_test_split_and_picks_the_best_validation_accuracy() -> None:
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 10, 300)
    X = random_inputs(rng, 300)
    X[np.arange(300), labels] = 3.0  # a learnable signal
    Y = np.eye(10)[labels]
    data = Splits(X[:200], Y[:200], X[200:], Y[200:], None, None)  # reading test would fail

    def inputs(deskewed: bool) -> tuple[Splits, np.ndarray]:
        return data, np.zeros(785)

    grid = {"learning_rate": (0.01, 0.05), "max_shift": (0, 1)}
    recipe = task5.Recipe(8, 0.5, 0.001)
    runs, settings, picked = task5.search(inputs, Settings(0.1, 20, 2, 0), recipe, grid)
    assert len(runs) == 4
    assert all(run.record["role"] == "search" for run in runs)
    assert all(run.record["test_accuracy"] is None for run in runs)
    assert {(r.record["learning_rate"], r.record["max_shift"]) for r in runs} == {
        (0.01, 0), (0.01, 1), (0.05, 0), (0.05, 1)
    }  # fmt: skip
    best = max(runs, key=lambda run: (run.record["val_accuracy"], -run.record["val_loss"]))
    assert settings == Settings(best.record["learning_rate"], 20, 2, 0)
    assert picked == replace(recipe, max_shift=best.record["max_shift"])


def test_runs_keep_the_final_weights_and_record_their_recipe() -> None:
    rng = np.random.default_rng(6)
    X, Y = random_inputs(rng, 100), random_one_hot(rng, 100)
    data = Splits(X, Y, X[:20], Y[:20], X[:10], Y[:10])
    recipe = task5.Recipe(8, 0.9, 0.001, max_shift=1, cosine_decay=False, model="softmax")
    run = task5.train("r", lambda deskewed: (data, np.zeros(785)), Settings(0.05, 10, 3, 0),
                      recipe, "comparison")  # fmt: skip
    assert run.record["early_stopping_patience"] is None and run.record["steps"] == 30
    assert {key: run.record[key] for key in asdict(recipe)} == {
        **asdict(recipe),
        "hidden_units": None,
    }
    assert run.record["parameters"] == 785 * 10 and run.record["test_accuracy"] is not None
    assert len(run.record["history"]["step"]) == 3  # one validation per epoch


# ---------------------------------------------------------------- the script

FINAL_KEYS = {
    "name",
    "role",
    "model",
    "learning_rate",
    "batch_size",
    "epochs",
    "seed",
    "hidden_units",
    "momentum",
    "l2_lambda",
    "max_shift",
    "deskew",
    "cosine_decay",
    "parameters",
    "early_stopping_patience",
    "steps",
    "best_step",
    "val_accuracy",
    "test_accuracy",
    "test_loss",
    "history",
}
FIGURES = ["task5_curves", "task5_confusion", "task5_misclassified", "task5_augmented"]


def run_quick(mnist_dir: Path, *extra: str, results: str = "task5") -> list[dict]:
    task5.main(["--quick", "--data-dir", str(mnist_dir), *extra])
    path = Path(os.environ["RESULTS_DIR"]) / "quick" / f"{results}.json"
    return json.loads(path.read_text(encoding="utf-8"))["runs"]


def test_quick_run_writes_figures_and_three_seeds_of_each_model(
    quick_runs: tuple[Path, Path],
) -> None:
    figures, results = quick_runs
    runs = json.loads((results / "task5.json").read_text(encoding="utf-8"))["runs"]
    assert [run["name"] for run in runs] == [
        "final", "final_seed1", "final_seed2", "softmax", "softmax_seed1", "softmax_seed2"
    ]  # fmt: skip
    assert [run["seed"] for run in runs] == [0, 1, 2] * 2
    final, *_ = runs
    for run in runs:
        assert run.keys() >= FINAL_KEYS
        assert run["epochs"] == utils.QUICK_EPOCHS and run["steps"] > 0
        assert 0.5 < run["test_accuracy"] <= 1 and run["test_loss"] > 0
        assert (run["early_stopping_patience"], run["stopped_at_step"]) == (None, None)
        assert (run["max_shift"], run["deskew"], run["cosine_decay"]) == (
            task5.MAX_SHIFT,
            True,
            True,
        )
        assert (run["momentum"], run["l2_lambda"]) == (task5.MOMENTUM, task5.L2_LAMBDA)
    assert {run["model"] for run in runs[:3]} == {"network"}
    assert {run["model"] for run in runs[3:]} == {"softmax"}
    assert {run["role"] for run in runs} == {"final", "comparison"}
    assert final["hidden_units"] == task5.HIDDEN_UNITS
    assert final["learning_rate"] == task5.LEARNING_RATE
    assert runs[3]["learning_rate"] == task5.SOFTMAX_LEARNING_RATE
    assert final["parameters"] == 785 * task5.HIDDEN_UNITS + (task5.HIDDEN_UNITS + 1) * 10
    assert runs[3]["parameters"] == 785 * 10
    assert len({run["val_accuracy"] for run in runs[:3]}) > 1  # the seeds differ
    confusion = np.array(final["test_confusion"])
    assert confusion.shape == (10, 10)
    assert np.trace(confusion) / confusion.sum() == pytest.approx(final["test_accuracy"])
    for name in FIGURES:
        assert (figures / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_flags_for_the_levers(mnist_dir: Path, output_dirs) -> None:
    runs = run_quick(
        mnist_dir, "--max-shift", "0", "--no-deskew", "--constant-lr", "--seeds", "1", "--seed", "4"
    )
    assert [(run["name"], run["seed"]) for run in runs] == [("final", 4), ("softmax", 4)]
    for run in runs:
        assert (run["max_shift"], run["deskew"], run["cosine_decay"]) == (0, False, False)


def test_quick_search_writes_its_runs_alone_and_names_the_flags_of_its_picks(
    mnist_dir: Path, output_dirs, capsys
) -> None:
    figures, results = output_dirs
    runs = run_quick(mnist_dir, "--search", "--momentum", "0.8", results="task5_search")
    # Only its own results: the default run's set (task5.json, its figures) is left alone.
    assert [path.name for path in results.iterdir()] == ["task5_search.json"]
    assert not list(figures.iterdir())
    flags = task5.pick_flags(runs)
    assert flags[::2] == ["--lr", "--max-shift", "--softmax-lr"]
    printed = capsys.readouterr().out
    assert f"the picks are not the defaults; `python task5.py {' '.join(flags)}`" in printed
    final, *_, softmax_final, _, _ = run_quick(mnist_dir, *flags, "--momentum", "0.8")
    network_grid = math.prod(map(len, task5.QUICK_SEARCH_GRID.values()))
    softmax_grid = math.prod(map(len, task5.SOFTMAX_SEARCH_GRID.values()))
    ablations = [*task5.ABLATIONS, *task5.SOFTMAX_ABLATIONS]
    assert network_grid >= 2 and softmax_grid >= 2
    assert [run["role"] for run in runs] == ["search"] * (network_grid + softmax_grid) + [
        "ablation"
    ] * len(ablations)
    assert [run["name"] for run in runs[-len(ablations) :]] == ablations
    for run in runs:
        assert run["test_accuracy"] is None and run["test_loss"] is None
        assert run["val_accuracy"] is not None and run["momentum"] == 0.8
        assert run["seed"] == 0
    network_search, softmax_search = runs[:network_grid], runs[network_grid : -len(ablations)]
    assert {run["model"] for run in network_search} == {"network"}
    assert {run["model"] for run in softmax_search} == {"softmax"}
    best, softmax_best = (
        max(search, key=lambda run: (run["val_accuracy"], -run["val_loss"]))
        for search in (network_search, softmax_search)
    )
    assert (final["learning_rate"], final["max_shift"]) == (
        best["learning_rate"],
        best["max_shift"],
    )
    assert final["val_accuracy"] == best["val_accuracy"]  # same setting and seed, same run
    # Softmax regression's grid trains on the shift given (the default), its final run on the
    # network's pick: only the learning rate carries over.
    assert {run["max_shift"] for run in softmax_search} == {task5.MAX_SHIFT}
    assert softmax_final["learning_rate"] == softmax_best["learning_rate"]
    assert 0 <= final["test_accuracy"] <= 1 and 0 <= softmax_final["test_accuracy"] <= 1
    by_name = {run["name"]: run for run in runs}
    assert by_name["no_deskew"]["deskew"] is False
    assert by_name["no_shift"]["max_shift"] == 0
    assert by_name["constant_lr"]["cosine_decay"] is False
    # The ablations leave an ingredient out of the settings given (here the defaults), which the
    # default run trains, not out of the grid's best.
    for name in task5.ABLATIONS:
        assert by_name[name]["learning_rate"] == task5.LEARNING_RATE
    assert (
        by_name["no_deskew"]["max_shift"] == by_name["constant_lr"]["max_shift"] == task5.MAX_SHIFT
    )
    for name in task5.SOFTMAX_ABLATIONS:
        assert by_name[name]["learning_rate"] == task5.SOFTMAX_LEARNING_RATE


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--momentum", "1"], "argument --momentum: must be at least 0 and below 1"),
        (["--l2", "-0.1"], "argument --l2: must be a finite number >= 0"),
        (["--l2", "nan"], "argument --l2: must be a finite number >= 0"),
        (["--hidden-units", "0"], "argument --hidden-units: must be at least 1"),
        (["--max-shift", "-1"], "argument --max-shift: must be a whole number >= 0"),
        (["--seeds", "0"], "argument --seeds: must be at least 1"),
        (["--softmax-lr", "0"], "argument --softmax-lr: must be a finite number greater than 0"),
    ],
)
def test_invalid_values_are_refused(flags: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        task5.make_parser().parse_args(flags)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
