"""The shared training loop: history format and its step convention, early stopping, restoring
weights, the NaN guard, the cosine decay of the learning rate and the augmentation hook."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import pytest

from logistic_regression import BinaryModel
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
        step, epoch = self.global_step, self.epoch_of(self.global_step)
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
    assert trainer.stopped_at_epoch == stop_step / 8
    assert (trainer.best_step, trainer.best_val_loss) == (3, 0.8)
    np.testing.assert_array_equal(trainer.model.w, trainer.snapshots[2])
    assert len(history["batch_loss"]) == stop_step
    assert history["step"] == list(range(1, stop_step + 1))
    message = capsys.readouterr().out
    assert f"stopped early after {stop_step} steps (epoch {stop_step / 8:.2f})" in message
    assert "restored the weights after 3 steps (epoch 0.38)" in message


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


def test_nan_loss_stops_with_a_hint() -> None:
    class Exploding(BinaryModel):
        def loss(self, targets: np.ndarray, outputs: np.ndarray) -> float:
            return float("nan")

    X, Y = separable_data()
    trainer = BaseTrainer(Exploding(), 3.0, 8, False, X, Y, X, Y)
    with pytest.raises(TrainingDivergedError, match=r"became nan at step 0.*--lr 0\.3"):
        trainer.train(num_epochs=1)


def test_momentum_zero_is_plain_sgd_and_momentum_accumulates() -> None:
    X, Y = separable_data()
    plain = make_trainer()
    plain.train_step(X[:8], Y[:8])
    model = BinaryModel()
    model.backward(X[:8], model.forward(X[:8]), Y[:8])
    np.testing.assert_allclose(plain.model.w, -0.1 * model.grad)

    heavy = make_trainer(momentum=0.9)
    heavy.train_step(X[:8], Y[:8])
    first = heavy.model.w.copy()
    heavy.train_step(X[:8], Y[:8])
    velocity = heavy.model.w - first
    assert np.linalg.norm(velocity) > np.linalg.norm(first)


def add_noise(X_batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An augmentation that draws from its generator."""
    return X_batch + rng.normal(0, 0.1, X_batch.shape)


@pytest.mark.parametrize("augment", [None, add_noise])
def test_shuffled_training_is_reproducible_by_seed(augment) -> None:
    X, Y = separable_data()
    weights = []
    for seed in (0, 0, 1):
        trainer = BaseTrainer(BinaryModel(), 0.1, 8, True, X, Y, X, Y, seed=seed, augment=augment)
        trainer.train(num_epochs=2)
        weights.append(trainer.model.w)
    np.testing.assert_array_equal(weights[0], weights[1])
    assert not np.array_equal(weights[0], weights[2])


def test_batch_larger_than_training_set_is_refused() -> None:
    X, Y = separable_data(10)
    with pytest.raises(ValueError, match="larger than the training set"):
        BaseTrainer(BinaryModel(), 0.1, 11, False, X, Y, X, Y)


def test_the_learning_rate_is_constant_unless_it_decays_along_a_cosine() -> None:
    constant, decaying = make_trainer(), make_trainer(cosine_decay=True)
    rates: dict[str, list[float]] = {"constant": [], "decaying": []}
    for name, trainer in (("constant", constant), ("decaying", decaying)):
        original_step = trainer.train_step

        def step(X, Y, trainer=trainer, name=name, original_step=original_step):
            rates[name].append(trainer.current_learning_rate())
            return original_step(X, Y)

        trainer.train_step = step
        trainer.train(num_epochs=3)
    assert rates["constant"] == [0.1] * 24
    assert decaying.total_steps == 24
    expected = [0.05 * (1 + math.cos(math.pi * t / 24)) for t in range(24)]
    np.testing.assert_allclose(rates["decaying"], expected, rtol=1e-12)
    assert rates["decaying"][0] == 0.1 and 0 < rates["decaying"][-1] < 0.001


def test_augment_changes_each_training_batch_and_nothing_else() -> None:
    """The hook sees every batch before its step; targets and the batch order stay the same."""
    seen: dict[str, list] = {"plain": [], "augmented": []}

    def shift_by_one(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return X + rng.integers(1, 2)  # + 1, drawn from the hook's generator

    for name, augment in (("plain", None), ("augmented", shift_by_one)):
        X, Y = separable_data()
        trainer = BaseTrainer(BinaryModel(), 0.1, 8, True, X, Y, X[:8], Y[:8], augment=augment)
        original_step = trainer.train_step

        def step(X_batch, Y_batch, name=name, original_step=original_step):
            seen[name].append((X_batch.copy(), Y_batch.copy()))
            return original_step(X_batch, Y_batch)

        trainer.train_step = step
        trainer.train(num_epochs=2)
        np.testing.assert_array_equal(trainer.X_train, separable_data()[0])  # not changed
    assert len(seen["plain"]) == len(seen["augmented"]) == 16
    for (X_plain, Y_plain), (X_augmented, Y_augmented) in zip(*seen.values(), strict=True):
        np.testing.assert_array_equal(Y_augmented, Y_plain)
        np.testing.assert_array_equal(X_augmented, X_plain + 1)


def test_one_validation_per_epoch() -> None:
    X, Y = separable_data(200)
    trainer = BaseTrainer(
        BinaryModel(), 0.1, 4, True, X, Y, X[:10], Y[:10], validations_per_epoch=1
    )
    history = trainer.train(num_epochs=3)
    assert history["step"] == [1, 51, 101]
