"""plots.py and the figures of the task scripts: no legend over a panel, no point cut off."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_hex

import plots
import task4
from experiment import Run

STEPS_PER_EPOCH = 30
VALIDATION_EVERY = 6


def fake_run(epochs: int = 10, l2_lambda: float = 0.0, seed: int = 0) -> Run:
    """A run whose losses fall from 3 to about 0.05 and whose accuracies rise to about 0.97,
    with a collapse at step 7 (loss 20, accuracy 0.3), as in Task 2 without shuffling.

    Its history is the trainer's: a batch loss at steps 0 to 299, validation points after the
    first update and every VALIDATION_EVERY updates after it."""
    rng = np.random.default_rng(seed)
    steps = np.arange(epochs * STEPS_PER_EPOCH)
    checked = np.arange(1, epochs * STEPS_PER_EPOCH + 1, VALIDATION_EVERY)
    history = {
        "step": checked.tolist(),
        "epoch": (checked / STEPS_PER_EPOCH).tolist(),
        "train_loss": (2 * np.exp(-checked / 20) + 0.04).tolist(),
        "val_loss": (2 * np.exp(-checked / 20) + 0.06).tolist(),
        "train_accuracy": (0.98 - 0.5 * np.exp(-checked / 20)).tolist(),
        "val_accuracy": (0.97 - 0.5 * np.exp(-checked / 20) - 0.01 * l2_lambda).tolist(),
        "batch_loss": (3 * np.exp(-steps / 20) + 0.05 * rng.uniform(0.2, 3, len(steps))).tolist(),
    }
    history["val_loss"][1], history["val_accuracy"][1] = 20.0, 0.3
    record = {
        "history": history,
        "steps": len(steps),
        "steps_per_epoch": STEPS_PER_EPOCH,
        "stopped_at_step": len(steps),
        "best_step": int(checked[-3]),
        "early_stopping_patience": 2,
        "epochs": epochs,
    }
    return Run(record, model=None)  # type: ignore[arg-type]


def loss_and_accuracy() -> plt.Figure:
    run = fake_run()
    return plots.loss_and_accuracy("Loss and accuracy\nsettings", run, stopped=run)


def single_loss() -> plt.Figure:
    fig, (ax,) = plots.titled_figure("Loss\nsettings")
    plots.plot_loss(ax, fake_run())
    plots.legend_below(fig)
    return fig


FIGURES = {
    "loss and accuracy": loss_and_accuracy,
    "one panel": single_loss,
    "comparison": lambda: plots.compare_runs(
        "Comparison", {"a": fake_run(), "b": fake_run(seed=1)}
    ),
    "overfitting": lambda: plots.plot_overfitting("Overfitting", fake_run(), zoom_from_epoch=2),
    "task 4c": lambda: task4.plot_validation_accuracy(
        {l2_lambda: fake_run(l2_lambda=l2_lambda) for l2_lambda in task4.LAMBDAS}
    ),
    "task 4c, runs shorter than its zoom": lambda: task4.plot_validation_accuracy(
        {l2_lambda: fake_run(epochs=2, l2_lambda=l2_lambda) for l2_lambda in task4.LAMBDAS}
    ),
}


@pytest.fixture(params=sorted(FIGURES))
def figure(request: pytest.FixtureRequest) -> plt.Figure:
    fig = FIGURES[request.param]()
    fig.canvas.draw()
    yield fig
    plt.close(fig)


def test_every_point_of_every_curve_is_in_view(figure: plt.Figure) -> None:
    for ax in figure.axes:
        assert "not drawn" not in ax.get_ylabel()  # no loss of 0, no accuracy of 1 here
        (x_low, x_high), (y_low, y_high) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        for line in ax.get_lines():
            x, y = (np.asarray(values, dtype=float) for values in line.get_data())
            if len(x) == 2 and x[0] == x[1]:  # a vertical marker spans the axis by design
                continue
            assert np.all((x_low <= x) & (x <= x_high)), line.get_label()
            assert np.all((y_low <= y) & (y <= y_high)), (ax.get_title(), line.get_label())


def test_the_legend_covers_no_panel(figure: plt.Figure) -> None:
    renderer = figure.canvas.get_renderer()
    (legend,) = figure.legends
    assert not [ax for ax in figure.axes if ax.get_legend() is not None]
    box = legend.get_window_extent(renderer)
    for ax in figure.axes:
        assert not box.overlaps(ax.get_window_extent(renderer)), ax.get_title()


def test_every_curve_in_a_legend_has_a_style_of_its_own(figure: plt.Figure) -> None:
    """Two legend entries drawn alike could not be told apart on the page."""
    styles = []
    for legend in figure.legends:
        for handle in legend.legend_handles:
            styles.append(
                (to_hex(handle.get_color()), handle.get_linestyle(), handle.get_alpha() or 1.0)
            )
    assert styles and len(styles) == len(set(styles)), styles


def test_every_text_is_the_font_size_of_the_report(figure: plt.Figure) -> None:
    texts = [t for t in figure.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]
    assert texts
    assert {t.get_fontsize() for t in texts} == {plots.FONT_SIZE}


def test_points_the_scale_cannot_show_are_counted_in_the_axis_label() -> None:
    run = fake_run()
    history = run.record["history"]
    history["batch_loss"][5] = 0.0  # a batch fitted exactly, in float32
    history["train_accuracy"][-2:] = [1.0, 1.0]
    fig, axes = plots.titled_figure("Perfect fits", ("Loss", "Accuracy"))
    plots.plot_loss(axes[0], run)
    plots.plot_accuracy(axes[1], run)
    assert axes[0].get_ylabel().endswith("\n1 points at 0 not drawn")
    assert axes[1].get_ylabel().endswith("\n2 points at 0 or 1 not drawn")
    plt.close(fig)


@pytest.mark.parametrize(("low", "high"), [(0.3, 0.98), (0.19, 0.995), (0.85, 0.93), (0.6, 0.9)])
def test_accuracy_ticks_are_apart_and_inside(low: float, high: float) -> None:
    ticks = plots.AccuracyTicks().tick_values(low, high)
    positions = [np.log(t / (1 - t)) for t in ticks]
    span = np.log(high / (1 - high)) - np.log(low / (1 - low))
    assert len(ticks) >= 3
    assert all(low <= t <= high for t in ticks)
    assert all(a - b >= span / 6 for a, b in itertools.pairwise(positions))


def test_the_batch_mean_covers_whole_epochs_only() -> None:
    """The dashed batch mean starts where a whole epoch of batches lies behind it; a run shorter
    than an epoch has none (and plots nothing rather than failing)."""
    values = np.arange(5.0)
    assert plots.trailing_mean(values, 3).tolist() == [1.0, 2.0, 3.0]
    assert plots.trailing_mean(values[:2], 3).size == 0
