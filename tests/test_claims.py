"""claims.py: the marks that sentences end with, the box that lists what does not hold, and
what results of another shape leave (quantities that cannot be computed, statements that cannot
be checked); the rounding of the numbers those sentences show."""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import pytest

from reporting import build_report, claims
from reporting import report_helpers as rh
from support import outputs


def test_a_statement_that_holds_shows_nothing() -> None:
    mark = claims.Mark("2b: the loss falls", True)
    assert mark._repr_markdown_() == "" and repr(mark) == ""


def test_a_statement_that_does_not_hold_is_marked_in_its_sentence() -> None:
    mark = claims.Mark("2b: the loss falls", False)
    assert mark._repr_markdown_() == " **[does not hold for these results: the loss falls]**"


def test_the_box_is_empty_while_every_statement_holds() -> None:
    bundle = claims.FailedBox([], checked=3)._repr_mimebundle_()
    assert bundle[claims.MIME_TYPE] == {"checked": 3, "failed": [], "reasons": {}, "quantities": []}
    assert bundle["text/latex"] == bundle["text/markdown"] == bundle["text/plain"] == ""
    assert "text/html" not in bundle


def test_the_box_lists_each_statement_that_does_not_hold_by_section() -> None:
    failed = ["set-up: one patience", "3d: 50% of the gap_grows & {falls}"]
    bundle = claims.FailedBox(failed, checked=9)._repr_mimebundle_()
    assert bundle[claims.MIME_TYPE]["failed"] == failed
    assert "2 statements of this report do not hold" in bundle["text/plain"]
    assert "Set-up: one patience" in bundle["text/plain"]
    assert "Task 3d: 50% of the gap_grows & {falls}" in bundle["text/plain"]
    assert r"Task 3d: 50\% of the gap\_grows \& \{falls\}" in bundle["text/latex"]
    assert "50% of the gap_grows &amp; {falls}" in bundle["text/html"]
    assert "> - Task 3d:" in bundle["text/markdown"]


@pytest.mark.parametrize(
    ("where", "name"), [("2b", "Task 2b"), ("set-up", "Set-up"), ("", "Report")]
)
def test_sections_are_named_as_the_report_names_them(where: str, name: str) -> None:
    assert claims.section_name(where) == name


def test_the_list_is_read_back_from_the_executed_notebook() -> None:
    box = claims.FailedBox(["4c: sooner"], checked=2)._repr_mimebundle_()
    cell = nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output("display_data", data=box)])
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("x"), cell])
    assert claims.failed_statements(notebook) == ["4c: sooner"]
    assert claims.box_contents(notebook)["checked"] == 2
    empty = {"checked": 0, "failed": [], "reasons": {}, "quantities": []}
    assert claims.box_contents(nbformat.v4.new_notebook()) == empty


@pytest.mark.parametrize(
    ("fraction", "shown"),
    [
        (0.91175, "91.18%"),
        (0.84575, "84.58%"),
        (0.97531, "97.53%"),
        (0.99995, "99.99%"),
        (1, "100.00%"),
    ],
)
def test_percentages_round_as_a_person_rounds_them(fraction: float, shown: str) -> None:
    """3647 / 4000 is 0.91175 exactly as written: 91.18 %, though its binary value is below."""
    assert rh.percent(fraction) == shown


def test_a_difference_is_rounded_once_from_the_exact_accuracies() -> None:
    """18408/20000 - 3647/4000 is 0.00865 exactly: 0.87 points, though the difference of the
    binary values is just below (and the difference of the shown 92.04 and 91.18 is 0.86)."""
    difference = rh.accuracy_difference(0.9204, 20000, 0.91175, 4000)
    assert rh.points(difference) == "0.87"
    assert rh.points(rh.accuracy_difference(0.91175, 4000, 0.9204, 20000)) == "0.87"


def test_the_noise_threshold_is_twice_the_se_of_the_difference() -> None:
    a, b = rh.accuracy_se(0.9789, 2042), rh.accuracy_se(0.976, 2042)
    difference = rh.accuracy_difference(0.9789, 2042, 0.976, 2042)
    assert difference.threshold == pytest.approx(2 * math.sqrt(a**2 + b**2))
    assert not difference.counts
    assert rh.accuracy_difference(0.92, 4000, 0.88, 4000).counts
    losses = rh.loss_difference(0.3, 0.01, 0.25, 0.02)
    assert losses.threshold == pytest.approx(2 * math.sqrt(0.01**2 + 0.02**2))
    assert losses.counts and rh.loss_value(losses) == "0.0500"


def test_spikes_are_measured_against_both_neighbours_after_the_first_epoch() -> None:
    history = {"step": [1, 2, 3, 4, 5, 6], "epoch": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0],
               "val_loss": [9.0, 0.2, 0.5, 0.21, 0.2, 0.19]}  # fmt: skip
    run = {"history": history, "val_loss_se": 0.01}
    rises = dict(rh.rises_above_neighbours(run, "val_loss"))
    assert sorted(rises) == [3, 4, 5]  # after epoch 1, not the last point
    assert rises[3].value == pytest.approx(0.29) and rises[3].counts
    assert rises[5].value < 0


def run_record(**entries: object) -> rh.RunRecord:
    return rh.RunRecord({"name": "a_run", **entries}, "task4", Path("results/task4.json"))


def test_scores_after_as_many_steps_compare_the_reference_at_the_restored_step() -> None:
    """lambda = 0 at the last validation point up to the step whose weights a run restored,
    on the training and on the validation images, against that run's restored scores."""
    history = {"step": [1, 4, 7], "train_accuracy": [0.5, 0.8, 0.9],
               "val_accuracy": [0.4, 0.7, 0.85]}  # fmt: skip
    reference = run_record(history=history)
    run = run_record(best_step=6, train_accuracy=0.6, val_accuracy=0.55)
    train_then, train_drop = rh.score_at_restored_step(reference, run, "train", 20000)
    val_then, val_drop = rh.score_at_restored_step(reference, run, "val", 4000)
    assert (train_then, val_then) == (0.8, 0.7)
    assert rh.points(train_drop) == "20.00" and rh.points(val_drop) == "15.00"
    assert train_drop.rises and val_drop.rises
    with pytest.raises(rh.NotComputableError, match="no validation point up to step 0"):
        rh.score_at_restored_step(reference, run_record(best_step=0, val_accuracy=0.5), "val", 9)


def test_curves_are_compared_point_by_point_against_the_noise() -> None:
    reference = run_record(
        history={"step": [1, 2, 3], "epoch": [1, 2, 3], "val_accuracy": [0.5, 0.9, 0.9]}
    )
    other = run_record(history={"step": [1, 2], "epoch": [1, 2], "val_accuracy": [0.6, 0.8]})
    gaps = rh.accuracy_differences_from(reference, other, 2, 4000)
    assert len(gaps) == 1 and rh.points(gaps[0]) == "10.00" and gaps[0].counts
    assert not rh.accuracy_differences_from(reference, other, 2, 10)[0].counts


def test_a_range_of_accuracies_is_within_noise_only_if_its_extremes_are() -> None:
    assert not rh.accuracy_range([0.965, 0.9641, 0.9652], 829).counts
    assert rh.accuracy_range([0.90, 0.95, 0.93], 4000).value == pytest.approx(0.05)
    assert rh.span(0.6771, 0.8424, 2) == "0.68\u20130.84"


def test_template_correlations_need_every_digit() -> None:
    early = {"step": 5, "weight_norm": 2.0, "template_correlation": [0.8, 0.9]}
    run = run_record(template_correlation=[0.9, 0.99], weights_at=[early])
    assert rh.template_correlation_range(run) == (0.9, 0.99)
    assert rh.weights_at(run, 5) is early
    assert rh.smallest_margin(run, early) == pytest.approx(0.09)
    assert rh.smallest_margin(early, run) == pytest.approx(-0.1)
    with pytest.raises(rh.NotComputableError, match="a_run has no weights recorded at step 6"):
        rh.weights_at(run, 6)
    with pytest.raises(rh.NotComputableError, match="a digit has no training images"):
        rh.template_correlation_range(run_record(template_correlation=[0.9, None]))


def test_an_accuracy_spikes_down_against_its_own_noise() -> None:
    history = {"step": [1, 2, 3, 4, 5], "epoch": [0.5, 1.5, 2.0, 2.5, 3.0],
               "val_accuracy": [0.5, 0.97, 0.90, 0.96, 0.96]}  # fmt: skip
    run = {"history": history, "split_sizes": {"val": 829}}
    dips = dict(rh.rises_above_neighbours(run, "val_accuracy"))
    assert sorted(dips) == [2, 3, 4]
    assert rh.points(dips[3]) == "6.00" and dips[3].rises
    assert dips[2].value < 0 and not dips[4].rises


def notebook(*cells: str) -> nbformat.NotebookNode:
    """A notebook of Markdown cells, and of code cells for sources starting with '>>> ', whose
    first cell makes the statements' Claims, as report.ipynb's does."""
    made = [
        nbformat.v4.new_code_cell("from reporting.claims import Claims\nclaim = Claims().check")
    ]
    for cell in cells:
        if cell.startswith(">>> "):
            made.append(nbformat.v4.new_code_cell(cell.removeprefix(">>> ")))
        else:
            made.append(nbformat.v4.new_markdown_cell(cell))
    result = nbformat.v4.new_notebook(cells=made)
    result.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    return result


SHORT_RUN = ">>> blocks = []\n" + (
    "first = blocks[0]\n"
    "last = 2 * first\n"
    't3b_falls = claim(first > last, "3b: the loss falls")\n'
    't3b_none = claim(not blocks, "3b: no block")'
)


def test_a_quantity_that_cannot_be_computed_leaves_its_statements_unchecked() -> None:
    """A cell that makes statements runs on past an assignment that raises: its value, what is
    computed from it and the statements that need it are marked, and the box lists why, naming
    the sub-task and the line; a statement that does not need it is still checked."""
    nb = notebook(
        "## Task 3b: Loss during training",
        SHORT_RUN,
        "From {eval}`first` to {eval}`last`{eval}`t3b_falls`; none{eval}`t3b_none`.",
    )
    build_report.execute(nb, outputs.REPO)
    root = "IndexError: list index out of range, in line 2 of the code cell of Task 3b"
    needs = "needs first"  # which the box lists, and why, under this sub-task
    box = claims.box_contents(nb)
    assert box["failed"] == ["3b: first", "3b: the loss falls"] and box["checked"] == 2
    assert box["reasons"] == {"3b: first": root, "3b: the loss falls": needs}
    assert box["quantities"] == ["3b: first"]
    shown = nb.cells[-1].source.replace("\\_", "_")
    assert shown == (
        f"From **[cannot be computed for these results: first ({root})]** to **[cannot be "
        f"computed for these results: last ({needs})]** **[cannot be checked for these results: "
        f"the loss falls ({needs})]**; none."
    )
    assert build_report.describe("3b: the loss falls", box) == (
        f'Task 3b: "the loss falls" cannot be checked for these results: {needs}'
    )


def test_a_value_changed_by_a_failing_call_cannot_be_computed_either() -> None:
    nb = notebook(
        "## Task 3c: Accuracy",
        '>>> level = [1]\nlevel.append([][0])\nt3c_one = claim(len(level) == 2, "3c: two points")',
    )
    build_report.execute(nb, outputs.REPO)
    box = claims.box_contents(nb)
    assert box["failed"] == ["3c: level", "3c: two points"]
    assert box["reasons"]["3c: two points"] == "needs level"


def test_a_cell_run_again_on_other_results_replaces_its_entries() -> None:
    """In JupyterLab a student reruns a cell after a change: what it computes now is no longer
    listed."""
    nb = notebook("## Task 3b: Loss", SHORT_RUN, ">>> blocks = [2]", SHORT_RUN.replace("[]", "[2]"))
    build_report.execute(nb, outputs.REPO)
    box = claims.box_contents(nb)
    assert box["failed"] == ["3b: the loss falls", "3b: no block"]  # 2 > 4; blocks = [2]
    assert not box["reasons"] and not box["quantities"]


def test_a_cell_without_statements_and_missing_results_still_stop_the_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the cells that make statements are guarded (a student's own cell raises as usual);
    a missing results file stops the notebook with what to run, naming the cell's place."""
    unguarded = notebook("## Task 2a: Set-up", ">>> x = 1\ny = [][0]")
    with pytest.raises(build_report.ReportError) as error:
        build_report.execute(unguarded, outputs.REPO)
    assert str(error.value) == (
        'report.ipynb, the code cell under "Task 2a: Set-up", line 2 (`y = [][0]`): IndexError: '
        "list index out of range; correct that line of report.ipynb (`make notebook` opens it in "
        "JupyterLab), then run again"
    )
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path))
    missing = notebook(
        "## Task 3a: Final model",
        ">>> from reporting import report_helpers as rh\n"
        'task3 = rh.load_task("task3")\n'
        'ok = claim(True, "3a: fine")',
    )
    with pytest.raises(build_report.ReportError) as error:
        build_report.execute(missing, outputs.REPO)
    assert str(error.value).startswith(
        'report.ipynb, the code cell under "Task 3a: Final model", line 2 '
        '(`task3 = rh.load_task("task3")`): '
        f"{tmp_path / 'task3.json'} is missing; run `make figures` (or `python task3.py`) first"
    )


def test_a_syntax_error_names_the_heading_and_the_line() -> None:
    nb = notebook(
        "## Task 3b: Loss during training",
        ">>> blocks = [1, 2]\nfirst = blocks[0]]\nt3b_falls = claim(True, '3b: falls')",
        "Then {eval}`first`.",
    )
    with pytest.raises(build_report.ReportError) as error:
        build_report.execute(nb, outputs.REPO)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(
        'report.ipynb, the code cell under "Task 3b: Loss during training", line 2 '
        "(`first = blocks[0]]`): SyntaxError: unmatched ']'; correct that line of report.ipynb"
    )


def test_an_unavailable_value_refuses_every_use() -> None:
    """What is computed from a quantity that cannot be computed cannot be computed either: it
    is never true, equal, ordered, a number, iterable or formatted."""
    missing = claims.Unavailable("first", "no block")
    uses = [bool, float, int, len, iter, lambda x: x == 1, lambda x: x < 1, lambda x: f"{x:.2f}"]
    for use in uses:
        with pytest.raises(rh.NotComputableError, match="first cannot be computed"):
            use(missing)
    assert missing[0] is missing  # so that {eval}`values[0]` shows why
    assert "first" in missing._repr_markdown_() and "no block" in repr(missing)


def test_a_short_run_has_too_few_blocks_and_says_so() -> None:
    history = {"epoch": [0.2, 0.4, 0.6], "step": [1, 2, 3]}
    history |= {k: [1.0, 1.0, 1.0] for k in ("train_loss", "val_loss")}
    history |= {k: [0.5, 0.5, 0.5] for k in ("train_accuracy", "val_accuracy")}
    run = rh.RunRecord(
        {"name": "early_stopping", "steps": 3, "steps_per_epoch": 5, "history": history},
        "task3",
        outputs.results_dir() / "task3.json",
    )
    assert len(rh.epoch_blocks(run, 0.2)) == 3
    assert rh.epoch_blocks(run, 1.0, whole_only=True, at_least=0) == []
    with pytest.raises(rh.NotComputableError) as error:
        rh.epoch_blocks(run, 1.0, whole_only=True, at_least=2)
    assert str(error.value) == (
        "run early_stopping trained 0.6 epochs: 0 whole blocks of 1 epoch, fewer than the 2 needed"
    )
    with pytest.raises(rh.NotComputableError, match="no validation point after its first epoch"):
        rh.highest_validation_losses(run, 3)
    with pytest.raises(rh.NotComputableError, match="before epoch 1"):
        rh.first_point_from(run, 1)


def test_one_seed_has_no_spread() -> None:
    assert rh.spread([0.9865]) == "98.65%"
    assert rh.spread([0.9865, 0.9869, 0.9869]) == "98.68 ± 0.02%"
    with pytest.raises(rh.NotComputableError, match="a spread needs two values"):
        rh.standard_deviation([0.9865])
    assert (rh.number(math.inf), rh.number(math.nan)) == ("inf", "nan")


def test_a_bound_is_rounded_away_from_what_it_bounds() -> None:
    """'At most 0.0121' holds for 0.01204, where 'at most 0.0120' would not."""
    assert rh.loss_value(0.01204, bound="upper") == "0.0121" and rh.loss_value(0.01204) == "0.0120"
    assert rh.decimals(0.0295, 3, bound="lower") == "0.029" and rh.decimals(0.0295, 3) == "0.030"
    assert rh.decimals(float("inf"), 2, bound="upper") == "inf"
    assert rh.points(0.010501, "upper") == "1.06" and rh.points(0.010599, "lower") == "1.05"
