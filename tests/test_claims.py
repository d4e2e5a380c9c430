"""claims.py: the marks that sentences end with, the box that lists what does not hold, and
what results of another shape leave (quantities that cannot be computed, statements that cannot
be checked); the rounding of the numbers those sentences show."""

from __future__ import annotations

import math

import nbformat
import pytest

from reporting import claims
from reporting import report_helpers as rh


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


def test_one_seed_has_no_spread() -> None:
    assert rh.spread([0.9865]) == "98.65%"
    assert rh.spread([0.9865, 0.9869, 0.9869]) == "98.68 ± 0.02%"
    with pytest.raises(rh.NotComputableError, match="a spread needs two values"):
        rh.standard_deviation([0.9865])
    assert (rh.number(math.inf), rh.number(math.nan)) == ("inf", "nan")
