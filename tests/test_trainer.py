"""The training loop of Tasks 2 to 4 (history format and its step convention, early stopping,
restoring weights, the NaN guard, plain SGD), and Task 5's trainer (momentum, the cosine decay of
the learning rate, the augmentation hook, one validation per epoch, the weight-decay advice)."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import pytest

from dataloaders import Splits
from experiment import Settings, softmax_weights_after, train_softmax
from logistic_regression import BinaryModel
from softmax_regression import SoftmaxModel
from task5_trainer import Task5Trainer, learning_rate_at
from trainer import BaseTrainer, TrainingDivergedError


def separable_data(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Small noisy inputs with a bias column; the target is the sign of the first feature."""
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.uniform(-0.1, 0.1, (n, 784)), np.ones((n, 1))])
    X[:, 0] = rng.choice([-1.0, 1.0], n)
    return X, (X[:, :1] > 0).astype(float)


def make_trainer(cls: type[BaseTrainer] = BaseTrainer, **options) -> BaseTrainer:
    X, Y = separable_data()
    X_val, Y_val = separable_data(32, seed=1)
    options.setdefault("early_stopping_patience", None)
    return cls(BinaryModel(), 0.1, 8, False, X, Y, X_val, Y_val, **options)


class ScriptedTrainer(BaseTrainer):
    """Reports scripted validation losses and remembers the weights at each validation."""

    script: ClassVar[list[float]] = []

    def validation_step(self) -> dict[str, float]:
        self.snapshots = [*getattr(self, "snapshots", []), self.model.w.copy()]
        loss = self.script[len(self.snapshots) - 1]
        step, epoch = self.global_step, self.global_step / self.num_batches_per_epoch
        return {"step": step, "epoch": epoch, "train_loss": loss, "train_accuracy": 0.5,
                "val_loss": loss, "val_accuracy": 0.5}  # fmt: skip


VALIDATION_KEYS = ("step", "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy")


def test_history_has_every_step_and_every_validation() -> None:
    trainer = make_trainer()
    history = trainer.train(num_epochs=3)
    assert history is trainer.history
    assert trainer.num_batches_per_epoch == 8 and trainer.num_steps_per_val == 1
    assert len(history["batch_loss"]) == trainer.global_step == 24
    assert history["step"] == list(range(1, 25))  # after every update, from the first
    assert history["epoch"] == [step / 8 for step in history["step"]]
    assert all(len(history[key]) == 24 for key in VALIDATION_KEYS)
    assert history["val_accuracy"][-1] == 1.0


class UpdateCounter(BinaryModel):
    """A model whose loss is the number of updates made so far (backward calls)."""

    updates = 0

    def backward(self, X: np.ndarray, outputs: np.ndarray, targets: np.ndarray) -> None:
        super().backward(X, outputs, targets)
        self.updates += 1

    def loss(self, targets: np.ndarray, outputs: np.ndarray) -> float:
        return float(self.updates)


def test_a_value_at_step_s_is_measured_after_s_updates() -> None:
    """The convention: batch_loss[s] and every validation value at step s are measured with the
    weights after s updates."""
    X, Y = separable_data(200)
    trainer = BaseTrainer(UpdateCounter(), 0.1, 4, False, X, Y, X[:10], Y[:10])
    history = trainer.train(num_epochs=2)
    assert history["batch_loss"] == list(range(100))
    assert history["train_loss"] == history["val_loss"] == history["step"]


def test_validation_every_fifth_of_an_epoch() -> None:
    X, Y = separable_data(200)
    trainer = BaseTrainer(BinaryModel(), 0.1, 4, True, X, Y, X[:10], Y[:10])
    history = trainer.train(num_epochs=1)
    assert trainer.num_steps_per_val == 10
    assert history["step"] == [1, 11, 21, 31, 41]  # after the first update and every 10 after it


@pytest.mark.parametrize("patience, stop_validation", [(3, 5), (1, 3)])
def test_early_stopping_stops_at_the_right_validation_and_restores_best(
    patience: int, stop_validation: int, capsys: pytest.CaptureFixture
) -> None:
    ScriptedTrainer.script = [1.0, 0.9, 0.8, 0.85, 0.86, 0.87, 0.5, 0.4] + [0.3] * 20
    trainer = make_trainer(ScriptedTrainer, early_stopping_patience=patience)
    history = trainer.train(num_epochs=3)
    stop_step = 1 + stop_validation * trainer.num_steps_per_val  # validation 0 is at step 1
    assert len(history["step"]) == stop_validation + 1
    assert trainer.stopped_at_step == trainer.global_step == stop_step
    assert (trainer.best_step, trainer.best_val_loss) == (3, 0.8)
    np.testing.assert_array_equal(trainer.model.w, trainer.snapshots[2])
    assert len(history["batch_loss"]) == stop_step
    assert history["step"] == list(range(1, stop_step + 1))
    message = capsys.readouterr().out
    assert f"stopped early after {stop_step} steps; restored the weights after 3 steps" in message


def test_no_step_runs_after_an_early_stop() -> None:
    """The batch loss would turn NaN at step 6, but patience runs out at step 4: no error."""

    class ExplodingLate(BinaryModel):
        calls = 0

        def loss(self, targets: np.ndarray, outputs: np.ndarray) -> float:
            self.calls += 1
            return float("nan") if self.calls > 6 else super().loss(targets, outputs)

    ScriptedTrainer.script = [1.0, 0.5, 0.6, 0.7] + [0.9] * 20
    X, Y = separable_data()
    trainer = ScriptedTrainer(ExplodingLate(), 0.1, 8, False, X, Y, X, Y, early_stopping_patience=2)
    history = trainer.train(num_epochs=2)
    assert trainer.stopped_at_step == trainer.global_step == 4
    assert len(history["batch_loss"]) == 4


def test_validation_measures_the_current_weights_on_both_whole_splits() -> None:
    trainer = make_trainer()
    trainer.model.w[...] = np.random.default_rng(0).normal(0, 0.05, (785, 1))
    trainer.global_step = 12
    point = trainer.validation_step()
    model = trainer.model
    outputs_train, outputs_val = model.forward(trainer.X_train), model.forward(trainer.X_val)
    assert point["step"] == 12 and point["epoch"] == 1.5
    assert point["train_loss"] == model.loss(trainer.Y_train, outputs_train)
    assert point["val_loss"] == model.loss(trainer.Y_val, outputs_val)
    expected_accuracy = np.mean((outputs_val >= 0.5) == (trainer.Y_val >= 0.5))
    assert point["val_accuracy"] == expected_accuracy
    assert 0 < point["train_accuracy"] < 1


def test_without_early_stopping_the_final_weights_stay() -> None:
    ScriptedTrainer.script = [1.0, 0.5] + [0.9] * 30
    trainer = make_trainer(ScriptedTrainer, early_stopping_patience=None)
    trainer.train(num_epochs=3)
    assert trainer.stopped_at_step is None and trainer.global_step == 24
    assert not np.array_equal(trainer.model.w, trainer.snapshots[1])
    assert trainer.best_step == 2 and trainer.best_w is None  # noted, but no weights kept


def test_nan_loss_stops_with_a_hint() -> None:
    class Exploding(BinaryModel):
        def loss(self, targets: np.ndarray, outputs: np.ndarray) -> float:
            return float("nan")

    X, Y = separable_data()
    trainer = BaseTrainer(Exploding(), 3.0, 8, False, X, Y, X, Y)
    with pytest.raises(TrainingDivergedError, match=r"became nan at step 0.*--lr 0\.3"):
        trainer.train(num_epochs=1)


def test_a_step_is_plain_sgd_on_the_model_that_was_passed() -> None:
    X, Y = separable_data()
    trained = BinaryModel()
    trained.w = np.random.default_rng(2).normal(0, 0.05, (785, 1))
    model = BinaryModel()
    model.w = trained.w.copy()
    model.backward(X[:8], model.forward(X[:8]), Y[:8])
    trainer = BaseTrainer(trained, 0.1, 8, False, X, Y, X, Y)
    trainer.train_step(X[:8], Y[:8])
    assert trainer.model is trained
    np.testing.assert_array_equal(trained.w, model.w - 0.1 * model.grad)


def test_the_course_trainer_takes_none_of_task_5s_options() -> None:
    for option in ("momentum", "cosine_decay", "augment", "validations_per_epoch"):
        with pytest.raises(TypeError, match=option):
            make_trainer(**{option: None})


def test_shuffled_training_is_reproducible_by_seed() -> None:
    X, Y = separable_data()
    weights = []
    for seed in (0, 0, 1):
        trainer = BaseTrainer(BinaryModel(), 0.1, 8, True, X, Y, X, Y, seed=seed)
        trainer.train(num_epochs=2)
        weights.append(trainer.model.w)
    np.testing.assert_array_equal(weights[0], weights[1])
    assert not np.array_equal(weights[0], weights[2])


def test_batch_larger_than_training_set_is_refused() -> None:
    X, Y = separable_data(10)
    with pytest.raises(ValueError, match="larger than the training set"):
        BaseTrainer(BinaryModel(), 0.1, 11, False, X, Y, X, Y)


# ---------------------------------------------------------------- Task 5's trainer


def task5_trainer(
    model=None, momentum: float = 0.0, cosine_decay: bool = False, augment=None, **options
) -> Task5Trainer:
    X, Y = separable_data()
    model = model or BinaryModel()
    options = {"momentum": momentum, "cosine_decay": cosine_decay, "augment": augment, **options}
    return Task5Trainer(model, 0.1, 8, True, X, Y, X[:8], Y[:8], **options)


def test_task5_trainer_without_its_options_trains_as_the_course_trainer() -> None:
    """Momentum 0, a constant learning rate and no augmentation: the same weights and batch
    losses to the bit as BaseTrainer's (which validates more often: that changes nothing)."""
    X, Y = separable_data()
    course = BaseTrainer(
        BinaryModel(), 0.1, 8, True, X, Y, X[:8], Y[:8], early_stopping_patience=None
    )
    task5 = task5_trainer()
    for trainer in (course, task5):
        trainer.train(num_epochs=3)
    np.testing.assert_array_equal(task5.model.w, course.model.w)
    assert task5.history["batch_loss"] == course.history["batch_loss"]
    assert task5.early_stopping_patience is None and task5.stopped_at_step is None


def test_momentum_accumulates() -> None:
    X, Y = separable_data()
    heavy = task5_trainer(momentum=0.9)
    heavy.train_step(X[:8], Y[:8])
    first = heavy.model.w.copy()
    heavy.train_step(X[:8], Y[:8])
    velocity = heavy.model.w - first
    assert np.linalg.norm(velocity) > np.linalg.norm(first)


def add_noise(X_batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An augmentation that draws from its generator."""
    return X_batch + rng.normal(0, 0.1, X_batch.shape)


def test_augmented_training_is_reproducible_by_seed() -> None:
    weights = []
    for seed in (0, 0, 1):
        trainer = task5_trainer(momentum=0.5, augment=add_noise, seed=seed)
        trainer.train(num_epochs=2)
        weights.append(trainer.model.w)
    np.testing.assert_array_equal(weights[0], weights[1])
    assert not np.array_equal(weights[0], weights[2])


def test_the_learning_rate_is_constant_unless_it_decays_along_a_cosine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The updates use `learning_rate_at`, the one definition of the schedule, which the
    figure of Task 5 draws too."""
    import task5_trainer as module

    used: list[float] = []

    def spy(*args) -> float:
        used.append(learning_rate_at(*args))
        return used[-1]

    monkeypatch.setattr(module, "learning_rate_at", spy)
    rates = {}
    for name, cosine_decay in (("constant", False), ("decaying", True)):
        used.clear()
        trainer = task5_trainer(cosine_decay=cosine_decay)
        trainer.train(num_epochs=3)
        rates[name] = list(used)
    assert rates["constant"] == [0.1] * 24
    assert trainer.total_steps == 24
    expected = [0.05 * (1 + math.cos(math.pi * t / 24)) for t in range(24)]
    np.testing.assert_allclose(rates["decaying"], expected, rtol=1e-12)
    assert rates["decaying"][0] == 0.1 and 0 < rates["decaying"][-1] < 0.001


def test_augment_changes_each_training_batch_and_nothing_else() -> None:
    """The hook changes every batch before its step; targets and the batch order stay the same."""
    seen: dict[str, list] = {"plain": [], "augmented": []}

    def shift_by_one(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return X + rng.integers(1, 2)  # + 1, drawn from the hook's generator

    for name, augment in (("plain", None), ("augmented", shift_by_one)):
        trainer = task5_trainer(augment=augment)
        original_backward = trainer.model.backward

        def backward(X, outputs, targets, calls=seen[name], original=original_backward):
            calls.append((X.copy(), targets.copy()))  # the batch the step trains on
            original(X, outputs, targets)

        trainer.model.backward = backward
        trainer.train(num_epochs=2)
        np.testing.assert_array_equal(trainer.X_train, separable_data()[0])  # not changed
    assert len(seen["plain"]) == len(seen["augmented"]) == 16
    for (X_plain, Y_plain), (X_augmented, Y_augmented) in zip(*seen.values(), strict=True):
        np.testing.assert_array_equal(Y_augmented, Y_plain)
        np.testing.assert_array_equal(X_augmented, X_plain + 1)


def test_task5_validates_once_per_epoch() -> None:
    X, Y = separable_data(200)
    trainer = Task5Trainer(
        BinaryModel(), 0.1, 4, True, X, Y, X[:10], Y[:10],
        momentum=0.9, cosine_decay=True, augment=None,
    )  # fmt: skip
    history = trainer.train(num_epochs=3)
    assert history["step"] == [1, 51, 101]


def test_a_weight_decay_that_overshoots_is_named_when_training_diverges() -> None:
    class Exploding(SoftmaxModel):
        def loss(self, targets: np.ndarray, outputs: np.ndarray) -> float:
            return float("inf")

    X, Y = separable_data()
    Y = np.eye(10)[Y[:, 0].astype(int)]
    for l2_lambda, advice in ((2.0, r"L2 penalty.*is 2,.*--l2"), (0.5, r"--lr 0\.1")):
        trainer = Task5Trainer(
            Exploding(l2_lambda), 1.0, 8, True, X, Y, X, Y,
            momentum=0.9, cosine_decay=True, augment=None,
        )  # fmt: skip
        with pytest.raises(TrainingDivergedError, match=advice):
            trainer.train(num_epochs=1)


def test_weights_after_a_step_repeat_the_run_that_restored_them() -> None:
    """softmax_weights_after replays a run's batches (the same seed): after as many updates as
    early stopping kept, it has the weights the run restored, on more than one epoch."""
    rng = np.random.default_rng(0)
    X = np.hstack([rng.uniform(-1, 1, (96, 784)), np.ones((96, 1))]).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 96)]
    data = Splits(X, Y, X[:32], Y[:32], X[:32], Y[:32])
    settings = Settings(learning_rate=0.05, batch_size=16, epochs=4, seed=3)
    run = train_softmax("run", data, settings, l2_reg_lambda=0.5, patience=2)
    assert run.record["best_step"] > 6  # one epoch is 6 steps
    replayed = softmax_weights_after(run.record["best_step"], data, settings, l2_reg_lambda=0.5)
    np.testing.assert_array_equal(replayed, run.model.w)
    earlier = softmax_weights_after(run.record["best_step"] - 1, data, settings, 0.5)
    assert not np.array_equal(earlier, run.model.w)
