"""One experiment: train a model with the shared trainer, evaluate it, and make its record.

The record is what results/<task>.json stores for the run: its hyperparameters, where early
stopping stopped, the final loss and accuracy on each split, and the trainer's `History`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from dataloaders import Splits
from softmax_regression import SoftmaxModel
from trainer import EARLY_STOPPING_PATIENCE, Augment, BaseTrainer, Model, evaluate

# Softmax regression as Tasks 3 and 4 train it: both scripts take these defaults, so that Task
# 4's run at lambda = 0 repeats Task 3's run with early stopping.
SOFTMAX_DEFAULTS = {
    "learning_rate": 0.01,
    "batch_size": 128,
    "epochs": 50,
    "patience": EARLY_STOPPING_PATIENCE,
}


@dataclass(frozen=True)
class Settings:
    """Hyperparameters shared by a task's runs (from the command line)."""

    learning_rate: float
    batch_size: int
    epochs: int
    seed: int


@dataclass
class Run:
    """A finished training run: its JSON record (its history in record["history"]) and the
    trained model."""

    record: dict[str, Any]
    model: Model


def run_experiment(
    name: str,
    model: Model,
    data: Splits,
    settings: Settings,
    *,
    shuffle: bool,
    early_stopping_patience: int | None,
    momentum: float = 0.0,
    hyperparameters: dict[str, Any] | None = None,
    evaluate_test: bool = True,
    validations_per_epoch: int = 5,
    cosine_decay: bool = False,
    augment: Augment | None = None,
) -> Run:
    """Train `model` with `settings`, then evaluate it on train, validation and test.

    `data` holds pre-processed inputs and targets in the form the model's loss expects.
    `hyperparameters` are extra entries for the record (e.g. l2_lambda). The test split is
    read here only, after training, and not at all with `evaluate_test` False (a
    hyperparameter search): test_loss and test_accuracy are then None. The last three options
    go to `BaseTrainer` as they are; the record does not name them (`hyperparameters` can).
    """
    trainer = BaseTrainer(
        model,
        settings.learning_rate,
        settings.batch_size,
        shuffle,
        data.X_train,
        data.Y_train,
        data.X_val,
        data.Y_val,
        early_stopping_patience=early_stopping_patience,
        seed=settings.seed,
        momentum=momentum,
        validations_per_epoch=validations_per_epoch,
        cosine_decay=cosine_decay,
        augment=augment,
        description=name,
    )
    start = time.perf_counter()
    history = trainer.train(settings.epochs)
    seconds = time.perf_counter() - start
    record: dict[str, Any] = {
        "name": name,
        "learning_rate": settings.learning_rate,
        "batch_size": settings.batch_size,
        "epochs": settings.epochs,
        "shuffle": shuffle,
        "early_stopping_patience": early_stopping_patience,
        "seed": settings.seed,
        **(hyperparameters or {}),
        # Steps and epochs count as `History` says: step s = the weights after s updates.
        "steps": trainer.global_step,  # updates in all
        "steps_per_epoch": trainer.num_batches_per_epoch,
        "stopped_at_step": trainer.stopped_at_step,  # None: no early stop
        "stopped_at_epoch": trainer.stopped_at_epoch,
        # The step of the lowest validation loss; its weights are restored with early stopping only.
        "best_step": trainer.best_step,
        "split_sizes": {
            "train": len(data.X_train),
            "val": len(data.X_val),
            "test": len(data.X_test) if evaluate_test else None,
        },
    }
    for split in ("train", "val", "test"):
        if split == "test" and not evaluate_test:
            record["test_loss"] = record["test_accuracy"] = None
            continue
        X, Y = getattr(data, f"X_{split}"), getattr(data, f"Y_{split}")
        record[f"{split}_loss"], record[f"{split}_accuracy"] = evaluate(model, X, Y)
    record["seconds"] = round(seconds, 3)
    record["history"] = history
    return Run(record, model)


def train_softmax(
    name: str, data: Splits, settings: Settings, l2_reg_lambda: float, patience: int | None
) -> Run:
    """One run of softmax regression with shuffling, as Tasks 3 and 4 train it; `patience`
    None trains all epochs."""
    model = SoftmaxModel(l2_reg_lambda, dtype=data.X_train.dtype)
    return run_experiment(
        name,
        model,
        data,
        settings,
        shuffle=True,
        early_stopping_patience=patience,
        hyperparameters={"l2_lambda": l2_reg_lambda},
    )
