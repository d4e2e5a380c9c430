"""After training: a run's final numbers and its record; and softmax regression as Tasks 3 and 4
train it.

A task script trains a model with a trainer (trainer.py), then calls `record_run`, which measures
the final weights on the training, validation and test sets and makes the record that
results/<task>.json stores for the run: its settings, how long it trained and where early
stopping stopped, those final numbers, and the trainer's history.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from dataloaders import Splits, batch_loader
from logistic_regression import safe_log
from softmax_regression import SoftmaxModel
from trainer import EARLY_STOPPING_PATIENCE, BaseTrainer, evaluate

# Softmax regression as Tasks 3 and 4 train it: both scripts take these defaults, so that Task
# 4's run at lambda = 0 repeats Task 3's run with early stopping.
SOFTMAX_DEFAULTS = {
    "learning_rate": 0.01,
    "batch_size": 128,
    "epochs": 50,
    "patience": EARLY_STOPPING_PATIENCE,
}


# @dataclass writes the __init__ of a class from its annotated fields: Settings(0.05, 128, 50, 0).
@dataclass
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
    model: Any  # a BinaryModel, SoftmaxModel, or Task 5's TwoLayerModel


def record_run(
    name: str,
    trainer: BaseTrainer,
    data: Splits,
    settings: Settings,
    hyperparameters: dict[str, Any] | None = None,
    evaluate_test: bool = True,
) -> Run:
    """The run of `trainer`, which has trained with `settings`: the loss and accuracy of the
    model's final weights (with early stopping, those of its best validation) on every split of
    `data`, and the run's record.

    `hyperparameters` are extra entries for the record (e.g. l2_lambda). The test split is read
    here only, and not at all with `evaluate_test` False (a hyperparameter search): test_loss
    and test_accuracy are then None.
    """
    stopped = trainer.stopped_at_step
    record: dict[str, Any] = {
        "name": name,
        "learning_rate": settings.learning_rate,
        "batch_size": settings.batch_size,
        "epochs": settings.epochs,
        "shuffle": trainer.shuffle_dataset,
        "early_stopping_patience": trainer.early_stopping_patience,
        "seed": settings.seed,
        **(hyperparameters or {}),
        # Steps and epochs count as in trainer.py: step s = the weights after s updates.
        "steps": trainer.global_step,  # updates in all
        "steps_per_epoch": trainer.num_batches_per_epoch,
        "stopped_at_step": stopped,  # None: no early stop
        "stopped_at_epoch": None if stopped is None else stopped / trainer.num_batches_per_epoch,
        # The step of the lowest validation loss. The final weights are its with early stopping
        # only; without, they are the last step's (`steps`).
        "best_step": trainer.best_step,
        "split_sizes": {
            "train": len(data.X_train),
            "val": len(data.X_val),
            "test": len(data.X_test) if evaluate_test else None,
        },
    }
    # The final numbers: the final weights' loss and accuracy on each whole split, one number
    # each (record["train_loss"]); the curves are the history's lists (its "train_loss" holds
    # one value per validation point).
    for split in ("train", "val", "test"):
        if split == "test" and not evaluate_test:
            record["test_loss"] = record["test_accuracy"] = record["test_loss_se"] = None
            continue
        X, Y = getattr(data, f"X_{split}"), getattr(data, f"Y_{split}")
        final_loss, final_accuracy = evaluate(trainer.model, X, Y)
        record[f"{split}_loss"], record[f"{split}_accuracy"] = final_loss, final_accuracy
        record[f"{split}_loss_se"] = loss_standard_error(Y, trainer.model.forward(X))
    record["seconds"] = round(trainer.seconds, 3)
    record["history"] = trainer.history  # the curves: a list per key (trainer.History)
    return Run(record, trainer.model)


def loss_standard_error(targets: np.ndarray, outputs: np.ndarray) -> float:
    """The standard error of a mean cross-entropy: the standard deviation of the examples'
    own losses over the square root of their number (the report's noise rule for losses).

    targets, outputs: [N, 1] (binary, output = P(target 1)) or [N, K] (one-hot, probabilities).
    """
    if outputs.shape[1] == 1:
        losses = -(targets * safe_log(outputs) + (1 - targets) * safe_log(1 - outputs))
    else:
        losses = -np.sum(targets * safe_log(outputs), axis=1)
    return float(np.std(losses, ddof=1) / np.sqrt(len(losses)))


def train_softmax(
    name: str, data: Splits, settings: Settings, l2_reg_lambda: float, patience: int | None
) -> Run:
    """One run of softmax regression as Tasks 3 and 4 train it, as task2.py trains logistic
    regression but with shuffling: L2 penalty `l2_reg_lambda` (0: none), early stopping after
    `patience` validations without improvement (None: none, all epochs)."""
    model = SoftmaxModel(l2_reg_lambda, dtype=data.X_train.dtype)  # the data's type, float32
    trainer = BaseTrainer(
        model,
        settings.learning_rate,
        settings.batch_size,
        True,  # shuffle_dataset
        data.X_train,
        data.Y_train,
        data.X_val,
        data.Y_val,
        early_stopping_patience=patience,
        seed=settings.seed,
        description=name,
    )
    trainer.train(settings.epochs)
    return record_run(name, trainer, data, settings, hyperparameters={"l2_lambda": l2_reg_lambda})


def softmax_weights_after(
    steps: int, data: Splits, settings: Settings, l2_reg_lambda: float
) -> np.ndarray:
    """The weights of softmax regression after `steps` updates, trained as `train_softmax` trains
    it (the same seed, so the same batches in the same order), without validating: how the
    weights of a run looked at a step other than the one it kept (Task 4b)."""
    model = SoftmaxModel(l2_reg_lambda, dtype=data.X_train.dtype)
    trainer = BaseTrainer(
        model,
        settings.learning_rate,
        settings.batch_size,
        True,  # shuffle_dataset, as train_softmax
        data.X_train,
        data.Y_train,
        data.X_val,
        data.Y_val,
        seed=settings.seed,
    )
    done = 0
    while done < steps:  # one epoch's batches per pass, drawn as BaseTrainer.train draws them
        for X_batch, Y_batch in batch_loader(
            data.X_train, data.Y_train, settings.batch_size, True, rng=trainer.rng
        ):
            if done == steps:
                break
            trainer.train_step(X_batch, Y_batch)
            done += 1
    return model.w
