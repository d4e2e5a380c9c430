"""Task 4: L2 regularisation of softmax regression, for lambda in {0, 0.002, 0.02, 0.2, 2}.

Each run shuffles and stops early, as in task 3. Figures: the weights as images for lambda 0
and 2 after as many steps, and for lambda 0 as early stopping kept them (4b), validation accuracy
per lambda (4c), and the squared L2 norm of the weights (4e).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

import gradient_check
import plots
import utils
from dataloaders import IMAGE_PIXELS, Splits, load_full_mnist
from experiment import SOFTMAX_DEFAULTS, Run, Settings, softmax_weights_after, train_softmax
from softmax_regression import NUM_CLASSES

LAMBDAS = (0.0, 0.002, 0.02, 0.2, 2.0)


def weight_norm(w: np.ndarray) -> float:
    """sum(w^2) over all weights, the bias row included, as the L2 penalty counts them."""
    return float(np.sum(w.astype(np.float64) ** 2))


def describe_weights(w: np.ndarray, data: Splits) -> dict:
    """What results/task4.json records of a run's weights: their squared norm and how closely
    each digit's weights follow its template."""
    return {
        "weight_norm": weight_norm(w),
        "template_correlation": template_correlations(w, data.X_train, data.Y_train),
    }


def template_correlations(w: np.ndarray, X: np.ndarray, Y: np.ndarray) -> list[float | None]:
    """For each digit k, the correlation over the pixels between its weights and its template,
    the mean training image of digit k minus the mean of all training images: where report.ipynb
    (Task 4b) shows a strong penalty pulls the weights. None where it is undefined (no image of
    the digit, or weights that are all equal)."""
    pixels = X[:, :IMAGE_PIXELS].astype(np.float64)  # without the bias input
    mean_image = pixels.mean(axis=0)
    correlations = []
    for digit in range(Y.shape[1]):
        of_digit = pixels[Y[:, digit] == 1]
        weights = w[:IMAGE_PIXELS, digit].astype(np.float64)
        if len(of_digit) == 0 or weights.std() == 0:
            correlations.append(None)
            continue
        template = of_digit.mean(axis=0) - mean_image
        correlations.append(float(np.corrcoef(weights, template)[0, 1]))
    return correlations


def main(argv: list[str] | None = None) -> None:
    parser = utils.make_parser(__doc__, **SOFTMAX_DEFAULTS)  # as Task 3
    args = parser.parse_args(argv)
    folders = utils.prepare_outputs(args)
    settings = utils.settings_from_args(args)
    data = utils.load_data(parser, args, load_full_mnist, num_classes=NUM_CLASSES)
    runs = {}
    for l2_lambda in LAMBDAS:
        name = f"lambda_{l2_lambda:g}"
        run = train_softmax(name, data, settings, l2_reg_lambda=l2_lambda, patience=args.patience)
        run.record.update(describe_weights(run.model.w, data))
        runs[l2_lambda] = run
    # Task 4b at equal training length: the weights without the penalty after as many steps as
    # the strongest penalty kept and ran, and those of the strongest penalty at its end.
    plain, strongest = runs[min(LAMBDAS)], runs[max(LAMBDAS)]
    kept, end = kept_step(strongest.record), strongest.record["steps"]
    plain_early, _ = record_weights_at(plain, (kept, end), data, settings)
    record_weights_at(strongest, (end,), data, settings)
    weight_rows = [
        (0.0, kept, plain_early),
        (strongest.record["l2_lambda"], kept, strongest.model.w),
        (0.0, kept_step(plain.record), plain.model.w),
    ]
    figures = draw_figures(runs, weight_rows)
    check = gradient_check.check_for_task("softmax_l2")  # Task 4a
    utils.finish("task4", folders, figures, list(runs.values()), args, check)


def kept_step(record: dict) -> int:
    """The step whose weights a run ended with: the one early stopping restored, if it ran."""
    return record["best_step"] if record["early_stopping_patience"] is not None else record["steps"]


def record_weights_at(
    run: Run, steps: Sequence[int], data: Splits, settings: Settings
) -> list[np.ndarray]:
    """The weights of `run` after each of `steps` updates (`softmax_weights_after`), described
    in its record under "weights_at"."""
    l2_lambda = run.record["l2_lambda"]
    weights = [softmax_weights_after(step, data, settings, l2_lambda) for step in steps]
    run.record["weights_at"] = [
        {"step": step, **describe_weights(w, data)} for step, w in zip(steps, weights, strict=True)
    ]
    return weights


def draw_figures(runs: dict[float, Run], weight_rows: list[tuple[float, int, np.ndarray]]) -> list:
    return [
        (plot_weights(weight_rows), "task4b_weights.png"),
        (plot_validation_accuracy(runs), "task4c_val_accuracy.png"),
        (plot_weight_norms(runs), "task4e_l2_norm.png"),
    ]


def plot_weights(rows: list[tuple[float, int, np.ndarray]]) -> plt.Figure:
    """One row of ten 28x28 weight images for each (lambda, step, weights) of `rows`, each row on
    its own symmetric colour scale, labelled with its lambda and step."""
    fig, axes = plt.subplots(
        len(rows),
        NUM_CLASSES,
        figsize=(plots.TEXT_WIDTH, 0.62 * len(rows) + 0.55),
        squeeze=False,
        layout="constrained",
    )
    plots.set_title(fig, "Task 4b: softmax weights per digit (red positive, blue negative)")
    for index, (row, (l2_lambda, step, weights)) in enumerate(zip(axes, rows, strict=True)):
        pixels = weights[:IMAGE_PIXELS]
        limit = float(np.abs(pixels).max()) or 1.0
        for digit, ax in enumerate(row):
            # Each weight an 8 x 8 block of the image: PDF viewers smooth a small image when
            # they enlarge it, and would blur the squares that show one weight each.
            blocks = np.kron(pixels[:, digit].reshape(28, 28), np.ones((8, 8)))
            image = ax.imshow(blocks, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="none")
            ax.set(xticks=[], yticks=[], title="" if index else str(digit))  # names over row 1
            ax.grid(False)
        row[0].set_ylabel(f"λ = {l2_lambda:g}\nstep {step:,}")
        fig.colorbar(image, ax=list(row), shrink=0.9, pad=0.01)
    return fig


# The right panel of 4c starts here, after the fast rise of the first epochs (or halfway
# through the shortest of its runs, if that comes first).
ZOOM_FROM_EPOCH = 5


def zoom_start(records: list[dict]) -> float:
    """The epoch at which 4c's right panel starts, for the records of the runs it shows."""
    shortest = min(record["history"]["epoch"][-1] for record in records)
    return min(ZOOM_FROM_EPOCH, shortest / 2)


def plot_validation_accuracy(runs: dict[float, Run]) -> plt.Figure:
    """Validation accuracy against step for each lambda (lambda = 0 dashed): every run on the
    left (logit scale), and on the right the three smallest lambdas from ZOOM_FROM_EPOCH on,
    whose curves the right panel shows whole in that range."""
    smallest = sorted(runs)[:3]
    start = zoom_start([runs[l2_lambda].record for l2_lambda in smallest])
    fig, axes = plots.titled_figure(
        "Task 4c: validation accuracy of softmax regression per λ",
        ("All runs", f"The three smallest λ, from epoch {start:.2g} on"),
        height=plots.SHORT_PANEL_HEIGHT,
    )
    shown = []
    for index, (l2_lambda, run) in enumerate(sorted(runs.items(), reverse=True)):
        dashed = {"color": "grey", "linestyle": "--"}
        style = dashed if l2_lambda == 0 else {"color": f"C{index}"}
        history = run.record["history"]
        axes[0].plot(history["step"], history["val_accuracy"], label=f"λ = {l2_lambda:g}", **style)
        if l2_lambda in smallest:
            later = [i for i, epoch in enumerate(history["epoch"]) if epoch >= start]
            axes[1].plot(
                [history["step"][i] for i in later],
                [history["val_accuracy"][i] for i in later],
                **style,
            )
            shown += [history["val_accuracy"][i] for i in later]
    for ax in axes:
        ax.set(xlabel=plots.STEP_LABEL, ylabel="validation accuracy")
    axes[0].set_ylabel("validation accuracy (logit scale)")
    plots.logit_axis(axes[0])
    # Only the points drawn set the limits of the right panel: none of them is cut off.
    margin = 0.05 * (max(shown) - min(shown))
    axes[1].set_ylim(min(shown) - margin, max(shown) + margin)
    plots.legend_below(fig, columns=len(runs))
    return fig


def plot_weight_norms(runs: dict[float, Run]) -> plt.Figure:
    """sum(w^2) against lambda, both on log axes, each point with its value, and lambda = 0 as a
    dashed horizontal line, named where it ends (no legend row: the figure stays short)."""
    fig, (ax,) = plots.titled_figure("Task 4e: squared L2 norm of the weights per λ", height=1.65)
    positive = sorted(l2_lambda for l2_lambda in runs if l2_lambda > 0)
    norms = [runs[l2_lambda].record["weight_norm"] for l2_lambda in positive]
    ax.plot(positive, norms, marker="o")
    for l2_lambda, norm in zip(positive, norms, strict=True):  # below left: the curve falls
        ax.annotate(
            three_digits(norm), (l2_lambda, norm), textcoords="offset points", xytext=(-3, -3),
            ha="right", va="top",
        )  # fmt: skip
    shown = norms
    if 0.0 in runs:  # no point on the log axis
        plain = runs[0.0].record["weight_norm"]
        ax.axhline(plain, color="grey", linestyle="--")
        ax.annotate(
            f"λ = 0: {three_digits(plain)}", (positive[-1] * 2, plain), textcoords="offset points",
            xytext=(-3, 3), ha="right", va="bottom", color="grey",
        )  # fmt: skip
        shown = [*norms, plain]
    ax.set(xscale="log", xlabel="λ (log scale)", ylabel="Σ w² (log scale)")
    # Room above and below, so that no point or line lies on the frame or under a label.
    ax.set_ylim(min(shown) / 3, max(shown) * 4)
    ax.set_xlim(positive[0] / 4, positive[-1] * 2)
    plots.log_axis(ax)  # the norm falls by orders of magnitude: each step shows
    ax.yaxis.set_minor_formatter(plt.NullFormatter())  # powers of ten only: a short axis
    ax.set_xticks(positive, [f"{l2_lambda:g}" for l2_lambda in positive])
    ax.xaxis.set_minor_locator(plt.NullLocator())  # the ticks name the lambdas, no others
    return fig


def three_digits(value: float) -> str:
    """``value`` to three significant digits, as the report prints it: 19.0, 0.362, 20.8."""
    return f"{value:#.3g}".rstrip(".")


if __name__ == "__main__":
    utils.run_main(main)
