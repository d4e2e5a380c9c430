"""report.ipynb and build_report.py: executed against --quick results, exported to PDF and HTML."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from conftest import PLANTED_TEST_ACCURACY

import build_report
import report_helpers as rh


@pytest.fixture(scope="module")
def quick_outputs(quick_results: tuple[Path, Path]) -> Iterator[tuple[Path, Path]]:
    """(figures, results) of --quick runs, with one planted test accuracy; set in the env."""
    figures, results = quick_results
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FIGURES_DIR", str(figures))
        patch.setenv("RESULTS_DIR", str(results))
        yield figures, results


@pytest.fixture(scope="module")
def executed(quick_outputs: tuple[Path, Path]) -> nbformat.NotebookNode:
    """The report notebook, executed against the quick results, as build_report prepares it."""
    notebook = nbformat.read(build_report.NOTEBOOK, as_version=4)
    notebook.metadata.update(build_report.read_title_block())
    build_report.execute(notebook)
    build_report.drop_stderr(notebook)
    return notebook


def rendered_text(notebook: nbformat.NotebookNode) -> str:
    """The Markdown of the notebook's cells and of its code cells' Markdown outputs."""
    parts = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            parts.append(cell.source)
        for output in cell.get("outputs", []):
            parts.append(output.get("data", {}).get("text/markdown", ""))
    return "\n".join(parts)


def committed_notebook() -> nbformat.NotebookNode:
    """report.ipynb as committed (HEAD); the working file only outside a git repository."""
    name = build_report.NOTEBOOK.name
    inside = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"],
        cwd=build_report.ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )
    if inside.returncode != 0:
        return nbformat.read(build_report.NOTEBOOK, as_version=4)
    committed = subprocess.run(
        ["git", "show", f"HEAD:./{name}"],
        cwd=build_report.ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    )
    return nbformat.reads(committed.stdout, as_version=4)


def test_notebook_is_committed_without_outputs() -> None:
    notebook = committed_notebook()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    # jupyterlab-myst keeps the values of {eval} roles in the Markdown cells' metadata.
    assert not [cell for cell in notebook.cells if "user_expressions" in cell.metadata]


def test_notebook_has_a_section_for_every_question() -> None:
    notebook = nbformat.read(build_report.NOTEBOOK, as_version=4)
    headings = re.findall(r"^#+ (Task \d[a-e]?)\b", rendered_text(notebook), re.MULTILINE)
    questions = ["Task 1a", "Task 1b", "Task 2a", "Task 2b", "Task 2c", "Task 2d", "Task 2e",
                 "Task 3a", "Task 3b", "Task 3c", "Task 3d",
                 "Task 4a", "Task 4b", "Task 4c", "Task 4d", "Task 4e",
                 "Task 5a", "Task 5b", "Task 5c", "Task 5d"]  # fmt: skip
    assert [h for h in headings if h in questions] == questions


def test_executed_notebook_has_no_errors_or_stderr(executed: nbformat.NotebookNode) -> None:
    for cell in executed.cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error"
            assert not (output.output_type == "stream" and output.name == "stderr")
            # Code cells compute values and check claims; they print nothing.
            assert not (output.output_type == "stream" and output.name == "stdout")


def test_text_carries_the_numbers_of_the_results(
    executed: nbformat.NotebookNode, quick_outputs: tuple[Path, Path]
) -> None:
    text = rendered_text(executed)
    assert rh.percent(PLANTED_TEST_ACCURACY) in text
    for task in rh.REPORT_TASKS:
        for run in rh.load_task(task).runs.values():
            if run["test_accuracy"] is None:  # a search run: validation numbers only
                assert rh.percent(run["val_accuracy"]) in text, (task, run["name"])
                continue
            for key in ("train_accuracy", "val_accuracy", "test_accuracy"):
                assert rh.percent(run[key]) in text, (task, run["name"], key)
            assert rh.loss_value(run["test_loss"]) in text, (task, run["name"])
            if "weight_norm" in run:
                assert rh.number(run["weight_norm"]) in text, run["name"]
    test_images = sum(map(sum, rh.load_task("task5").run("final")["test_confusion"]))
    assert f"the {rh.integer(test_images)} images of the official test set" in text
    stopped = rh.load_task("task2").run("early_stopping")
    assert rh.stop_description(stopped) in text or rh.integer(stopped["best_step"]) in text
    figures = {path.name for path in quick_outputs[0].iterdir()}
    shown = set(re.findall(r"(task\w+\.png)", text))
    assert shown and shown <= figures


def test_pdf_export(executed: nbformat.NotebookNode, tmp_path: Path) -> None:
    if missing := build_report.missing_latex_tools():
        pytest.fail(f"the PDF test needs {missing}: install {build_report.TEX_PACKAGES}")
    document = build_report.export(executed, pdf=True)
    assert document.startswith(b"%PDF") and document.rstrip().endswith(b"%%EOF")
    assert len(document) > 200_000  # the figures are embedded
    (tmp_path / "report.pdf").write_bytes(document)
    subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-layout", "report.pdf"], cwd=tmp_path, check=True
    )
    text = (tmp_path / "report.txt").read_text(encoding="utf-8")
    assert rh.percent(PLANTED_TEST_ACCURACY) in text
    for heading in ("Task 1a", "Task 2e", "Task 3d", "Task 4e", "Task 5d", "References"):
        assert heading in text, heading
    assert "??" not in text and "{eval}" not in text and "{width" not in text
    assert re.search(r"Figure \d+:", text) and re.search(r"Table \d+:", text)


def test_latex_stays_within_the_margins(executed: nbformat.NotebookNode, tmp_path: Path) -> None:
    if missing := build_report.missing_latex_tools():
        pytest.fail(f"the PDF test needs {missing}: install {build_report.TEX_PACKAGES}")
    exporter = build_report.exporter("latex")
    latex, _ = exporter.from_notebook_node(executed, {"metadata": {"path": str(build_report.ROOT)}})
    title_block = build_report.read_title_block()
    assert f"\\title{{{title_block['title']}}}" in latex
    assert title_block["authors"][0]["name"] in latex
    assert "\\begin{verbatim}" not in latex  # no code, no stray text output
    (tmp_path / "report.tex").write_text(latex, encoding="utf-8")
    subprocess.run(
        ["xelatex", "-interaction=nonstopmode", "report.tex"],
        cwd=tmp_path,
        env={**os.environ, "TEXINPUTS": f"{build_report.ROOT}:"},
        capture_output=True,
        check=False,
    )
    log = (tmp_path / "report.log").read_text(encoding="utf-8", errors="replace")
    overfull = re.findall(r"Overfull \\hbox \((\d+\.?\d*)pt too wide\)", log)
    assert not [width for width in overfull if float(width) > 1.0], overfull
    assert not re.findall(r"^! ", log, re.MULTILINE)
    assert "Missing character" not in log  # a glyph the font lacks would vanish from the page


def test_build_falls_back_to_html_without_latex(
    quick_outputs: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(build_report, "missing_latex_tools", lambda: ["xelatex"])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report.pdf").write_bytes(b"%PDF an earlier build")
    path = build_report.build(output=tmp_path / "report.html", allow_quick=True)
    html = path.read_text(encoding="utf-8")
    assert "data:image/png;base64" in html
    assert rh.percent(PLANTED_TEST_ACCURACY) in html
    errors = capsys.readouterr().err
    assert build_report.TEX_PACKAGES in errors and "removed the earlier build's" in errors
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


@pytest.fixture
def build_without_running(monkeypatch: pytest.MonkeyPatch) -> None:
    """build_report.main with the results accepted, and the notebook's run and export (tested
    above) replaced by a stand-in PDF: what is left is writing the file."""
    monkeypatch.setattr(build_report, "check_results", lambda allow_quick: None)
    monkeypatch.setattr(build_report, "missing_latex_tools", list)
    monkeypatch.setattr(build_report, "execute", lambda notebook, folder: None)
    monkeypatch.setattr(build_report, "export", lambda notebook, pdf, folder: b"%PDF new")


def one_line_error(argv: list[str]) -> str:
    """The message with which `python build_report.py *argv` stops (no traceback)."""
    with pytest.raises(SystemExit) as stopped:
        build_report.main(argv)
    message = str(stopped.value.code)
    assert message.startswith("build_report.py: error: ") and "\n" not in message
    return message


def test_a_folder_that_cannot_be_written_is_named_before_the_notebook_runs(
    build_without_running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only checkout: as root, chmod would not stop the writes, so the refusal is made."""

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(build_report, "execute", lambda notebook, folder: pytest.fail("ran"))
    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    output = tmp_path / "report.pdf"
    message = one_line_error(["--output", str(output)])
    assert f"cannot write {output}: its folder {tmp_path} is not writable (Permission denied)" in (
        message
    )
    assert message.endswith("make it writable or write elsewhere, e.g. with --output PATH")
    assert list(tmp_path.iterdir()) == []


def test_a_report_held_open_by_another_program_is_named_and_left_whole(
    build_without_running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows refuses to replace a file that a PDF viewer holds open (PermissionError)."""
    output = tmp_path / "report.pdf"
    output.write_bytes(b"%PDF old")
    replace = os.replace

    def locked(source, target) -> None:
        if Path(target) == output:
            raise PermissionError(13, "Permission denied")
        replace(source, target)

    monkeypatch.setattr(os, "replace", locked)
    message = one_line_error(["--output", str(output)])
    assert message == (
        f"build_report.py: error: cannot replace {output} (Permission denied): close the "
        "program that has it open (a PDF or image viewer?) or make it writable, then run again"
    )
    assert output.read_bytes() == b"%PDF old"
    assert list(tmp_path.iterdir()) == [output]  # no temporary file left beside it
    monkeypatch.setattr(os, "replace", replace)
    assert build_report.main(["--output", str(output)]) is None
    assert output.read_bytes() == b"%PDF new"


def test_quick_results_are_refused_with_the_command_to_run(
    quick_outputs: tuple[Path, Path], tmp_path: Path
) -> None:
    with pytest.raises(build_report.ReportError, match=r"--quick trial run.*`python task2\.py`"):
        build_report.build(output=tmp_path / "report.pdf")
    assert list(tmp_path.iterdir()) == []


def test_missing_results_name_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path))
    with pytest.raises(build_report.ReportError, match="make figures"):
        build_report.build(output=tmp_path / "report.pdf")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("drop a run", r"task3\.json has no run named 'no_early_stopping'"),
        ("drop an entry", r"task3\.json: run 'early_stopping' has no 'val_accuracy'"),
    ],
)
def test_failing_notebook_names_file_and_run_and_writes_nothing(
    damage: str,
    message: str,
    quick_outputs: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    for task in rh.REPORT_TASKS:
        data = json.loads((quick_outputs[1] / f"{task}.json").read_text(encoding="utf-8"))
        if task == "task3" and damage == "drop a run":
            data["runs"] = [run for run in data["runs"] if run["name"] != "no_early_stopping"]
        elif task == "task3":
            del data["runs"][0]["val_accuracy"]
        (results / f"{task}.json").write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setenv("RESULTS_DIR", str(results))
    output = tmp_path / "report.html"
    with pytest.raises(build_report.ReportError, match=message) as error:
        build_report.build(output=output, html=True, allow_quick=True)
    assert "\x1b[" not in str(error.value) and "`python task3.py`" in str(error.value)
    assert not output.exists()


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ('course = "C"\ntitle = "T"\nauthors = "Ada"\ndate = ""\n', "authors"),
        ('course = "C"\nauthors = ["Ada"]\ndate = ""\n', "title"),
        ('course = "C\n', "not valid TOML"),
    ],
)
def test_bad_title_block_is_named(tmp_path: Path, toml: str, problem: str) -> None:
    path = tmp_path / "report_metadata.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(build_report.ReportError, match=problem):
        build_report.read_title_block(path)


def test_title_block_is_read() -> None:
    metadata = build_report.read_title_block()
    assert metadata["title"] and metadata["authors"][0]["name"]
    assert set(metadata["report"]) == {"course", "date"}
