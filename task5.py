"""Task 5: a network with one hidden layer of ReLU units, and what each of its ingredients gives.

785 inputs -> H ReLU units -> 10 softmax outputs, trained on the first 20,000 training images by
Task5Trainer (task5_trainer.py: the course's loop with Task 5's options): SGD with momentum and
weight decay, a learning rate that falls along a cosine curve to 0 over the run, all epochs (no
early stopping: the final weights are kept), on deskewed, centred images that every batch moves
by fresh random shifts of up to MAX_SHIFT pixels. The default run trains this network with three
seeds, and softmax regression on the same inputs, trained the same way, with the same seeds (the
report's appendix), and tests all of them (results/task5.json). Figures, from the first seed:
training curves, the test confusion matrix, misclassified test digits, and shifted training
digits.

--search is the validation search behind the defaults, with one seed and without reading the
test split: the network for each maximal shift and learning rate of SEARCH_GRID, softmax
regression for each learning rate of SOFTMAX_SEARCH_GRID, and each model as the default run
trains it again with one ingredient left out at a time (ABLATIONS, SOFTMAX_ABLATIONS: what each
one is worth, measured on the settings the final runs use). It writes those runs to
results/task5_search.json only, and prints the flags of the best setting of each grid (the
settings of a grid lie within noise of each other; the defaults are one of them).
"""

from __future__ import annotations

import argparse
import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

import utils
from dataloaders import IMAGE_PIXELS, Splits, load_full_mnist
from experiment import Run, Settings, record_run
from image_transforms import deskew, random_shift
from softmax_regression import NUM_CLASSES, SoftmaxModel
from support import outputs
from task5_figures import confusion_matrix, draw_figures, plot_augmented
from task5_trainer import Augment, Task5Trainer
from two_layer_network import TwoLayerModel

LEARNING_RATE = 0.1
BATCH_SIZE = 128
EPOCHS = 40  # set by the time budget of the default run (a minute), not searched
HIDDEN_UNITS = 128
MOMENTUM = 0.9
L2_LAMBDA = 0.0005
MAX_SHIFT = 2  # pixels, in x and in y
SOFTMAX_LEARNING_RATE = 0.1  # softmax regression on the same inputs (the comparison)
SEEDS = 3  # runs of each model, with seeds --seed, --seed + 1, ...

# --search trains the network for every combination (the other settings come from the flags).
# Left out, by earlier validation runs (three seeds each): 256 or 512 hidden units and other
# weight decays (no better within the noise, and slower), lr 0.3 and more (diverged), and early
# stopping (worse: it ends the run before the learning rate has decayed). 60 epochs did a little
# better on validation than 30, but do not fit the time budget.
SEARCH_GRID = {"max_shift": (1, 2), "learning_rate": (0.1, 0.2)}
QUICK_SEARCH_GRID = {"max_shift": (0, 1), "learning_rate": (0.05,)}
# Softmax regression on the network's inputs, trained the same way: its learning rate.
SOFTMAX_SEARCH_GRID = {"learning_rate": (0.01, 0.1, 1.0)}
# The picks again with one ingredient left out: the difference is what that ingredient gives.
ABLATIONS = {
    "no_deskew": {"deskew": False},
    "no_shift": {"max_shift": 0},
    "constant_lr": {"cosine_decay": False},
}
SOFTMAX_ABLATIONS = {"softmax_no_deskew": {"deskew": False}, "softmax_no_shift": {"max_shift": 0}}


# ---------------------------------------------------------------- inputs


def prepare_inputs(data: Splits, deskew_images: bool = True) -> tuple[Splits, np.ndarray]:
    """Deskew every split (unless `deskew_images` is False), then subtract the training set's
    mean image from the pixels. Returns the new splits and that mean image [785].

    Deskewing removes the slant that varies most between writers; centring removes the large
    input component all images share (the -1 background), which otherwise forces a far smaller
    learning rate. The mean comes from the training split alone; its last entry, for the bias
    column, is 0, so that column stays 1.
    """
    splits = (data.X_train, data.X_val, data.X_test)
    X_train, X_val, X_test = (deskew(X) if deskew_images else X.copy() for X in splits)
    mean_image = X_train.mean(axis=0)
    mean_image[IMAGE_PIXELS] = 0.0
    for X in (X_train, X_val, X_test):
        X -= mean_image  # in place: deskew returned new arrays
    return data._replace(X_train=X_train, X_val=X_val, X_test=X_test), mean_image


def shifts(mean_image: np.ndarray, max_shift: int) -> Augment | None:
    """The trainer's `augment` for centred batches: `random_shift` of the images as they were
    before centring (so the uncovered border is background), centred again. None for 0."""
    if max_shift == 0:
        return None

    def augment(X_batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return random_shift(X_batch + mean_image, max_shift, rng) - mean_image

    return augment


# ---------------------------------------------------------------- training and search


@dataclass(frozen=True)
class Recipe:
    """How a task-5 run trains besides the shared `Settings`: the model and its inputs."""

    hidden_units: int
    momentum: float
    l2_lambda: float
    max_shift: int = MAX_SHIFT
    deskew: bool = True
    cosine_decay: bool = True
    model: str = "network"  # or "softmax": softmax regression, hidden_units unused


Inputs = Callable[[bool], tuple[Splits, np.ndarray]]  # deskew? -> `prepare_inputs`


def train(name: str, inputs: Inputs, settings: Settings, recipe: Recipe, role: str) -> Run:
    """One run of `recipe`, shuffled, with all epochs and the final weights kept.

    Roles: "search" and "ablation" runs never read the test split; "final" (the network) and
    "comparison" (softmax regression) runs are tested after training.
    """
    data, mean_image = inputs(recipe.deskew)
    dtype = data.X_train.dtype
    if recipe.model == "network":
        model = TwoLayerModel(
            recipe.hidden_units, recipe.l2_lambda, seed=settings.seed, dtype=dtype
        )
    else:
        model = SoftmaxModel(recipe.l2_lambda, dtype=dtype)
    recorded = {**asdict(recipe), "parameters": sum(w.size for w in model.ws)}
    if recipe.model == "softmax":
        recorded["hidden_units"] = None  # no hidden layer
    trainer = Task5Trainer(
        model,
        settings.learning_rate,
        settings.batch_size,
        True,  # shuffle_dataset
        *data[:4],  # X_train, Y_train, X_val, Y_val
        momentum=recipe.momentum,
        cosine_decay=recipe.cosine_decay,
        augment=shifts(mean_image, recipe.max_shift),
        seed=settings.seed,
        description=name,
    )
    trainer.train(settings.epochs)
    return record_run(
        name,
        trainer,
        data,
        settings,
        hyperparameters={"role": role, **recorded},
        evaluate_test=role in ("final", "comparison"),
    )


def rank(record: dict) -> tuple[float, float]:
    """The search's order of runs: by validation accuracy, ties broken by the lower loss."""
    return record["val_accuracy"], -record["val_loss"]


def search(
    inputs: Inputs, settings: Settings, recipe: Recipe, grid: dict[str, tuple]
) -> tuple[list[Run], Settings, Recipe]:
    """Train every combination of `grid` on top of `settings` and `recipe`, test split unread.

    `grid` maps fields of `Settings` or `Recipe` to the values to try. Returns the runs and the
    settings of the best: the highest validation accuracy, ties broken by the lower validation
    loss.
    """
    candidates = []
    for values in itertools.product(*grid.values()):
        choice = dict(zip(grid, values, strict=True))
        in_settings = {f.name for f in fields(Settings)}
        candidate_settings = replace(
            settings, **{k: v for k, v in choice.items() if k in in_settings}
        )
        candidate = replace(recipe, **{k: v for k, v in choice.items() if k not in in_settings})
        model = f"h{candidate.hidden_units}" if candidate.model == "network" else "softmax"
        name = f"search_{model}_shift{candidate.max_shift}_lr{candidate_settings.learning_rate:g}"
        run = train(name, inputs, candidate_settings, candidate, role="search")
        candidates.append((run, candidate_settings, candidate))
    best, best_settings, best_recipe = max(candidates, key=lambda c: rank(c[0].record))
    print(f"search: picked {best.record['name']} (highest validation accuracy)")
    return [run for run, _, _ in candidates], best_settings, best_recipe


def search_flags(learning_rate: float, max_shift: int, softmax_learning_rate: float) -> list[str]:
    """The flags of task5.py for the settings that --search chooses."""
    return [
        *("--lr", f"{learning_rate:g}", "--max-shift", str(max_shift)),
        *("--softmax-lr", f"{softmax_learning_rate:g}"),
    ]


def pick_flags(records: Sequence[dict]) -> list[str]:
    """The flags of task5.py that train the picks of the search whose runs are `records`."""
    searched = [record for record in records if record["role"] == "search"]
    network = max((r for r in searched if r["model"] == "network"), key=rank)
    softmax = max((r for r in searched if r["model"] == "softmax"), key=rank)
    return search_flags(network["learning_rate"], network["max_shift"], softmax["learning_rate"])


def train_seeds(
    name: str, inputs: Inputs, settings: Settings, recipe: Recipe, role: str, seeds: int
) -> list[Run]:
    """`seeds` tested runs of `recipe` with seeds settings.seed, settings.seed + 1, ...; the
    first is called `name`, the others `name`_seed<seed>."""
    runs = []
    for seed in range(settings.seed, settings.seed + seeds):
        run_name = name if seed == settings.seed else f"{name}_seed{seed}"
        runs.append(train(run_name, inputs, replace(settings, seed=seed), recipe, role))
    return runs


# ---------------------------------------------------------------- command line


def make_parser() -> argparse.ArgumentParser:
    parser = utils.make_parser(
        __doc__, learning_rate=LEARNING_RATE, batch_size=BATCH_SIZE, epochs=EPOCHS
    )
    parser.add_argument(
        "--hidden-units",
        type=utils.positive_int,
        default=HIDDEN_UNITS,
        help="number of hidden ReLU units (default %(default)s)",
    )
    parser.add_argument(
        "--momentum",
        type=utils.fraction,
        default=MOMENTUM,
        help="SGD momentum (default %(default)s)",
    )
    parser.add_argument(
        "--l2",
        type=utils.non_negative_float,
        default=L2_LAMBDA,
        help="L2 weight decay lambda (default %(default)s)",
    )
    parser.add_argument(
        "--softmax-lr",
        type=utils.positive_float,
        default=SOFTMAX_LEARNING_RATE,
        help="learning rate of softmax regression on the same inputs (default %(default)s)",
    )
    parser.add_argument(
        "--max-shift",
        type=utils.non_negative_int,
        default=MAX_SHIFT,
        help="largest random shift of a training image, in pixels, in x and in y; 0: no "
        "augmentation (default %(default)s)",
    )
    for flag, what in (
        ("--no-deskew", "train on images that are not deskewed"),
        ("--constant-lr", "keep the learning rate constant instead of the cosine decay to 0"),
    ):
        parser.add_argument(flag, action="store_true", help=what)
    parser.add_argument(
        "--seeds",
        type=utils.positive_int,
        default=SEEDS,
        help="runs of each model, with seeds --seed, --seed + 1, ... (default %(default)s)",
    )
    parser.add_argument(
        "--search",
        action="store_true",
        help="instead of the default run, train a grid of maximal shifts and learning rates "
        "(replacing --max-shift and --lr), softmax regression with several learning rates "
        "(replacing --softmax-lr) and each pick without each of its ingredients, without "
        "reading the test split (results/task5_search.json)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = make_parser()
    args = parser.parse_args(argv)
    folders = utils.prepare_outputs(args)
    settings = utils.settings_from_args(args)
    recipe = Recipe(
        args.hidden_units,
        args.momentum,
        args.l2,
        max_shift=args.max_shift,
        deskew=not args.no_deskew,
        cosine_decay=not args.constant_lr,
    )
    data = utils.load_data(parser, args, load_full_mnist, num_classes=NUM_CLASSES)
    inputs = functools.cache(functools.partial(prepare_inputs, data))
    if args.search:
        run_search(inputs, settings, recipe, folders, args)
        return
    softmax_settings = replace(settings, learning_rate=args.softmax_lr)
    softmax_recipe = replace(recipe, model="softmax")
    finals = train_seeds("final", inputs, settings, recipe, "final", args.seeds)
    comparisons = train_seeds(
        "softmax", inputs, softmax_settings, softmax_recipe, "comparison", args.seeds
    )
    final = finals[0]
    test_outputs = final.model.forward(inputs(recipe.deskew)[0].X_test)
    confusion = confusion_matrix(data.Y_test, test_outputs)
    final.record["test_confusion"] = confusion.tolist()
    figures = draw_figures(final, data, test_outputs, confusion)
    figures.append((plot_augmented(inputs(recipe.deskew), recipe.max_shift), "task5_augmented.png"))
    utils.finish("task5", folders, figures, [*finals, *comparisons], args)


def run_search(
    inputs: Inputs,
    settings: Settings,
    recipe: Recipe,
    folders: outputs.OutputFolders,
    args: argparse.Namespace,
) -> None:
    """The search, the ablations of the settings given, results/task5_search.json, and the flags
    of each grid's best."""
    grid = QUICK_SEARCH_GRID if args.quick else SEARCH_GRID
    runs, _, _ = search(inputs, settings, recipe, grid)
    softmax_recipe = replace(recipe, model="softmax")
    runs += search(inputs, settings, softmax_recipe, SOFTMAX_SEARCH_GRID)[0]
    # The ablations leave an ingredient out of the settings the default run trains (the flags),
    # not out of the grid's best: its runs are the mean they are measured against.
    softmax_settings = replace(settings, learning_rate=args.softmax_lr)
    for name, change in [*ABLATIONS.items(), *SOFTMAX_ABLATIONS.items()]:
        base = (softmax_settings, softmax_recipe) if "softmax" in name else (settings, recipe)
        runs.append(train(name, inputs, base[0], replace(base[1], **change), "ablation"))
    utils.finish("task5_search", folders, [], runs, args)
    flags = pick_flags([run.record for run in runs])
    if flags == search_flags(LEARNING_RATE, MAX_SHIFT, SOFTMAX_LEARNING_RATE):
        print("search: the picks are the defaults, which `python task5.py` trains and tests")
    else:
        print(
            "search: the picks are not the defaults; `python task5.py "
            f"{' '.join(flags)}` trains and tests them (with the other flags given here)"
        )


if __name__ == "__main__":
    utils.run_main(main)
