"""report.ipynb and build_report.py: executed against --quick results, exported to PDF and HTML."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pdfplumber
import pytest
from conftest import PLANTED_TEST_ACCURACY

from reporting import build_report, claims
from reporting import report_helpers as rh
from reporting.myst_export import Directive, expressions, parse_blocks
from support import outputs


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
    notebook = build_report.read_report()
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
        cwd=outputs.REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )
    if inside.returncode != 0:
        return nbformat.read(build_report.NOTEBOOK, as_version=4)
    committed = subprocess.run(
        ["git", "show", f"HEAD:./{name}"],
        cwd=outputs.REPO,
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
                 "Task 4a", "Task 4b", "Task 4c", "Task 4d", "Task 4e"]  # fmt: skip
    assert [h for h in headings if h in questions] == questions
    assert re.search(r"^# Appendix: beyond the assignment", rendered_text(notebook), re.MULTILINE)


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
    text = " ".join(rendered_text(executed).split())  # lines joined, as a reader reads them
    assert rh.percent(PLANTED_TEST_ACCURACY) in text
    shown = {
        "task2": {"no_shuffle": ("train_accuracy", "val_accuracy", "test_accuracy")},
        "task3": {
            "early_stopping": ("train_accuracy", "val_accuracy", "test_accuracy", "test_loss")
        },
        "task4": {
            name: ("train_accuracy", "val_accuracy", "test_accuracy", "weight_norm")
            for name in rh.load_task("task4").runs
        },
    }
    formats = {"test_loss": rh.loss_value, "weight_norm": rh.number}
    for task, runs in shown.items():
        for name, keys in runs.items():
            run = rh.load_task(task).run(name)
            for key in keys:
                assert formats.get(key, rh.percent)(run[key]) in text, (task, name, key)
    finals = [r for r in rh.load_task("task5").runs.values() if r["role"] == "final"]
    assert rh.spread([r["test_accuracy"] for r in finals]) in text
    test_images = sum(map(sum, finals[0]["test_confusion"]))
    assert f"the {rh.integer(test_images)} official test images" in text
    stopped = rh.load_task("task2").run("early_stopping")
    assert f"ends training at step {rh.integer(stopped['steps'])}" in text
    figures = {path.name for path in quick_outputs[0].iterdir()}
    shown_figures = set(re.findall(r"(task\w+\.png)", text))
    assert shown_figures and shown_figures <= figures


def test_every_question_opens_with_its_answer() -> None:
    """The first paragraph under each sub-task heading is the answer to the question, marked
    **Answer.**; the figure and the numbers that carry it come after."""
    notebook = build_report.read_report()
    markdown = "\n\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    sections = re.split(r"^#+ (Task \d[a-e]|Appendix)\b.*$", markdown, flags=re.MULTILINE)[1:]
    assert len(sections) == 2 * (16 + 1)
    for heading, body in zip(sections[::2], sections[1::2], strict=True):
        assert body.strip().startswith("**Answer.**"), heading


def test_every_statement_is_a_claim_marked_in_the_sentence_below_it() -> None:
    """A statement never stops the build (no `assert` in the notebook), and each `claim` is
    named and its mark shown by a Markdown cell between its code cell and the next one."""
    notebook = build_report.read_report()
    pending: list[str] = []
    checked = 0
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            shown = set(expressions(cell.source))
            pending = [name for name in pending if name not in shown]
            continue
        assert not pending, f"marks never shown: {pending}"
        tree = ast.parse(cell.source)
        assert not any(isinstance(node, ast.Assert) for node in ast.walk(tree)), cell.source
        calls = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "claim"
        ]
        assigned = [
            node.targets[0].id
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign) and node.value in calls
        ]
        assert len(assigned) == len(calls), f"a claim whose mark is not named: {cell.source}"
        pending, checked = assigned, checked + len(calls)
    assert not pending, f"marks never shown: {pending}"
    assert checked >= 40


# The noise rule and the rounding are each computed in one place (report_helpers): the
# notebook's cells take standard errors, thresholds and differences from there.
OWN_NOISE = {"sqrt", "hypot", "standard_error", "difference_se", "points_between"}
FORMATTERS = {"points", "percent", "loss_value"}


def test_every_sentence_takes_its_noise_and_differences_from_the_helpers() -> None:
    """No cell computes a standard error, a threshold or a difference of its own: a number
    formatted for the text is never a subtraction written in the cell."""
    notebook = build_report.read_report()
    for cell in (c for c in notebook.cells if c.cell_type == "code"):
        for node in ast.walk(ast.parse(cell.source)):
            name = getattr(node, "attr", None) or getattr(node, "id", None)
            assert name not in OWN_NOISE, f"{name} in: {cell.source[:200]}"
            called = isinstance(node, ast.Call) and getattr(node.func, "id", None) in FORMATTERS
            if called:
                inside = [n for arg in node.args for n in ast.walk(arg)]
                subtractions = [n for n in inside if isinstance(n, ast.BinOp)]
                assert not any(isinstance(n.op, ast.Sub) for n in subtractions), ast.unparse(node)


def test_statements_that_do_not_hold_are_listed_at_the_top_and_marked(
    executed: nbformat.NotebookNode,
) -> None:
    """On --quick results few statements of the model answer hold: each is in the box of the
    first code cell, which the report shows first, and marked in its sentence (as one that
    cannot be checked, with why, if a quantity it needs cannot be computed)."""
    box = claims.box_contents(executed)
    assert len(box["failed"]) >= 5
    first_output = next(cell for cell in executed.cells if cell.get("outputs")).outputs
    assert claims.MIME_TYPE in first_output[0]["data"]
    assert "not hold for these results: revise" in first_output[0]["data"]["text/latex"]
    text = rendered_text(executed).replace("\\", "")  # Markdown's escapes in the marks
    for statement in set(box["failed"]) - set(box["quantities"]):
        what = claims.split_statement(statement)[1]
        if statement in box["reasons"]:
            why = box["reasons"][statement]
            assert f"cannot be checked for these results: {what} ({why})]" in text
        else:
            assert f"does not hold for these results: {what}]" in text


def test_code_cells_are_short_and_folded_away() -> None:
    """A reader of the notebook scrolls through prose: each code cell is short, and its input
    folded (JupyterLab's hidden input, one click to open), also as committed."""
    cells = [c for c in committed_notebook().cells if c.cell_type == "code"]
    assert cells and all(c.metadata.get("jupyter", {}).get("source_hidden") for c in cells)
    lengths = [len(c.source.splitlines()) for c in cells]
    assert max(lengths) <= 40 and sum(lengths) <= 450, lengths


def test_a_note_for_other_viewers_opens_the_notebook_but_not_the_report() -> None:
    first = nbformat.read(build_report.NOTEBOOK, as_version=4).cells[0]
    assert first.cell_type == "markdown" and "make notebook" in first.source
    assert "report.pdf" in first.source
    assert build_report.NOTEBOOK_ONLY_TAG in first.metadata["tags"]
    assert all("make notebook" not in c.source for c in build_report.read_report().cells)


@pytest.fixture(scope="module")
def report_pdf(executed: nbformat.NotebookNode, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The executed notebook exported to PDF (the LaTeX route), once for the module."""
    if missing := build_report.missing_latex_tools():
        pytest.fail(f"the PDF test needs {missing}: install {build_report.TEX_PACKAGES}")
    path = tmp_path_factory.mktemp("report_pdf") / "report.pdf"
    path.write_bytes(build_report.export(executed, pdf=True))
    return path


@pytest.mark.slow
def test_pdf_export(report_pdf: Path) -> None:
    document = report_pdf.read_bytes()
    assert document.startswith(b"%PDF") and document.rstrip().endswith(b"%%EOF")
    assert len(document) > 200_000  # the figures are embedded
    subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-layout", "report.pdf"], cwd=report_pdf.parent, check=True
    )
    text = (report_pdf.parent / "report.txt").read_text(encoding="utf-8")
    assert rh.percent(PLANTED_TEST_ACCURACY) in text
    for heading in ("Task 1a", "Task 2e", "Task 3d", "Task 4e", "Appendix"):
        assert heading in text, heading
    assert "??" not in text and "{eval}" not in text and "{width" not in text
    assert re.search(r"Figure \d+:", text) and re.search(r"Table \d+:", text)
    info = subprocess.run(
        ["pdfinfo", "report.pdf"],
        cwd=report_pdf.parent,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    )
    assert int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.MULTILINE).group(1)) > 1


# The figures' text is set in matplotlib's DejaVu Sans, the report's text in Latin Modern.
FIGURE_FONT = "DejaVuSans"
SMALLEST_PRINTED_FIGURE_TEXT_PT = 6.0


def printed_size(char: dict) -> float:
    """The size in points of a character as printed: its height across the line of text."""
    a, b, c, d = char["matrix"][:4]
    if b == c == 0:  # horizontal text
        return char["size"]
    assert a == d == 0, f"text at an angle in a figure: {char['text']!r}"
    return char["width"]  # vertical text (the y-axis labels): the box lies on its side


@pytest.mark.slow
def test_figure_text_is_at_least_6_pt_as_printed(
    report_pdf: Path, executed: nbformat.NotebookNode
) -> None:
    """Each figure is drawn at one size and printed at the :width: of its {figure}: the text
    of a figure printed smaller than it was drawn shrinks with it."""
    figures = sum(
        isinstance(block, Directive) and block.name == "figure"
        for cell in executed.cells
        if cell.cell_type == "markdown"
        for block in parse_blocks(cell.source)
    )
    too_small, figure_chars = {}, 0
    with pdfplumber.open(report_pdf) as pdf:
        for number, page in enumerate(pdf.pages, start=1):
            chars = [char for char in page.chars if FIGURE_FONT in char["fontname"]]
            figure_chars += len(chars)
            small = [char for char in chars if printed_size(char) < SMALLEST_PRINTED_FIGURE_TEXT_PT]
            if small:
                smallest = min(small, key=printed_size)
                words = "".join(char["text"] for char in small)[:40]
                too_small[number] = f"{printed_size(smallest):.1f} pt ({words!r}...)"
    # Each figure holds at least its tick labels in the figure font: text that is not read
    # (a figure embedded as an image, another font) would leave nothing to measure.
    assert figure_chars >= 20 * figures > 0, (figure_chars, figures)
    assert not too_small, (
        f"figure text below {SMALLEST_PRINTED_FIGURE_TEXT_PT} pt, by page: {too_small}"
    )


@pytest.mark.slow
def test_latex_stays_within_the_margins(executed: nbformat.NotebookNode, tmp_path: Path) -> None:
    if missing := build_report.missing_latex_tools():
        pytest.fail(f"the PDF test needs {missing}: install {build_report.TEX_PACKAGES}")
    exporter = build_report.exporter("latex")
    latex, _ = exporter.from_notebook_node(executed, {"metadata": {"path": str(outputs.REPO)}})
    title_block = build_report.read_title_block()
    assert f"\\title{{{title_block['title']}}}" in latex
    assert title_block["authors"][0]["name"] in latex
    assert "\\begin{verbatim}" not in latex  # no code, no stray text output
    (tmp_path / "report.tex").write_text(latex, encoding="utf-8")
    subprocess.run(
        ["xelatex", "-interaction=nonstopmode", "report.tex"],
        cwd=tmp_path,
        env={**os.environ, "TEXINPUTS": f"{outputs.REPO}:"},
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
    """The message with which `python -m reporting.build_report *argv` stops (no traceback)."""
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


def test_the_model_answers_title_block_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "report_metadata.toml"
    path.write_text(
        'course = ""\ntitle = "T"\nauthors = ["Model answer"]\ndate = ""\n', encoding="utf-8"
    )
    build_report.read_title_block(path)
    assert "still names the model answer as the author" in capsys.readouterr().err
    path.write_text('course = ""\ntitle = "T"\nauthors = ["Ada"]\ndate = ""\n', encoding="utf-8")
    build_report.read_title_block(path)
    assert capsys.readouterr().err == ""


def test_title_block_is_read() -> None:
    metadata = build_report.read_title_block()
    assert metadata["title"] and metadata["authors"][0]["name"]
    assert set(metadata["report"]) == {"course", "date"}
