"""The model answer built from full runs: every statement holds (the strict build), and a
student's change that breaks statements still gets a report that lists and marks them."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import task3
from reporting import build_report, check_claims

# Every task trained in full, and PDFs built from the runs: minutes (`make test-slow`).
pytestmark = pytest.mark.slow

BOX_HEADING = "not hold for these results: revise"
MARK = "[does not hold for these results:"


def pdf_pages(path: Path) -> list[str]:
    """The text of each page of the PDF at `path` (pdftotext, UTF-8)."""
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    ).stdout
    return text.split("\f")[:-1]


@pytest.fixture
def results_in(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Point FIGURES_DIR and RESULTS_DIR at a (figures, results) pair for the test."""

    def point(folders: tuple[Path, Path]) -> None:
        monkeypatch.setenv("FIGURES_DIR", str(folders[0]))
        monkeypatch.setenv("RESULTS_DIR", str(folders[1]))

    yield point


def test_the_model_answer_holds_every_statement_and_fits_its_pages(
    full_results: tuple[Path, Path], results_in, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    results_in(full_results)
    if missing := build_report.missing_latex_tools():
        pytest.fail(f"the PDF test needs {missing}: install {build_report.TEX_PACKAGES}")
    output = build_report.build(output=tmp_path / "report.pdf", strict=True)
    assert "does not hold" not in capsys.readouterr().err
    pages = pdf_pages(output)
    text = "\n".join(pages)
    assert BOX_HEADING not in text and "does not hold" not in text
    assert len(pages) <= 10, f"the report has {len(pages)} pages; the model answer fits in 10"
    appendix = next(n for n, page in enumerate(pages, start=1) if "Appendix: beyond" in page)
    # Tasks 1-4 end by page 9: the appendix begins there, or it opens page 10.
    opens_page = not pages[appendix - 1].split("Appendix: beyond")[0].strip()
    tasks_end = appendix - 1 if opens_page else appendix
    assert tasks_end <= 9, f"Tasks 1-4 run to page {tasks_end}; they fit in 9"
    with pytest.raises(SystemExit) as finished:
        check_claims.main([])
    assert finished.value.code == 0
    assert re.search(
        r"these results: \d{2,} statements checked, 0 do not hold", capsys.readouterr().out
    )


def test_a_students_change_is_listed_and_marked_and_the_report_still_builds(
    full_results: tuple[Path, Path],
    results_in,
    mnist_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    """Task 3 again with another learning rate and patience, as a student trying the
    assignment's variations would: the statements it breaks are printed, listed at the top of
    the PDF and marked where they are made; --strict refuses the same results."""
    figures, results = tmp_path / "figures", tmp_path / "results"
    shutil.copytree(full_results[0], figures)
    shutil.copytree(full_results[1], results)
    results_in((figures, results))
    task3.main(["--lr", "0.05", "--patience", "20", "--data-dir", str(mnist_dir)])
    capsys.readouterr()
    output = tmp_path / "report.pdf"
    assert build_report.main(["--output", str(output)]) is None  # exit status 0
    printed = capsys.readouterr()
    listed = [line for line in printed.err.splitlines() if "does not hold" in line]
    assert listed and all(line.startswith("build_report.py: ") for line in listed)
    assert any(
        'Set-up: "one patience for every run with early stopping"' in line for line in listed
    )
    assert f"wrote {output}" in printed.out
    pages = pdf_pages(output)
    assert BOX_HEADING in pages[0]
    # A mark may break across lines, hyphenated: join the lines as a reader reads them.
    joined = re.sub(r"\s+", " ", re.sub(r"(\w)-\n(\w)", r"\1\2", "".join(pages)))
    marks = joined.count(MARK)
    assert marks >= len(listed), (marks, listed)
    strict = tmp_path / "strict.pdf"
    with pytest.raises(SystemExit) as refused:
        build_report.main(["--strict", "--output", str(strict)])
    assert f"{len(listed)} statement(s) of the report do not hold" in str(refused.value.code)
    assert not strict.exists()
