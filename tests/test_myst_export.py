"""myst_export.py: {eval} values from the kernel, and the MyST subset translated for the exports.

The end-to-end tests build tests/fixtures/myst_sample.ipynb, a few report cells written in the
subset, to PDF and HTML against quick results.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from reporting import build_report, claims
from reporting import report_helpers as rh
from reporting.myst_export import (
    MystError,
    MystExecutePreprocessor,
    MystTranslatePreprocessor,
    expressions,
    shown_text,
)
from support import outputs

FIXTURE = Path(__file__).parent / "fixtures" / "myst_sample.ipynb"


def notebook(*cells: str) -> nbformat.NotebookNode:
    """A notebook of Markdown cells, and of code cells for sources starting with '>>> '."""
    made = [
        new_code_cell(cell.removeprefix(">>> "))
        if cell.startswith(">>> ")
        else new_markdown_cell(cell)
        for cell in cells
    ]
    result = new_notebook(cells=made)
    result.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    return result


def run(nb: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
    MystExecutePreprocessor(
        timeout=60, kernel_name="python3", extra_arguments=["--IPKernelApp.log_level=ERROR"]
    ).preprocess(nb, {"metadata": {"path": str(folder)}})
    return nb


def translate(nb: nbformat.NotebookNode, target: str, folder: Path) -> list[str]:
    """The Markdown cells of `nb` as the exporter for `target` gets them."""
    MystTranslatePreprocessor(target=target).preprocess(nb, {"metadata": {"path": str(folder)}})
    return [cell.source for cell in nb.cells if cell.cell_type == "markdown"]


@pytest.fixture
def image(tmp_path: Path) -> Path:
    """A PNG figure at figures/plot.png under tmp_path."""
    path = tmp_path / "figures" / "plot.png"
    path.parent.mkdir()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(16))
    return path


# ---------------------------------------------------------------- {eval} in the kernel


def test_eval_values_are_substituted_from_the_kernel() -> None:
    nb = notebook(
        ">>> from reporting.report_helpers import Text, percent\n"
        "run = {'test_accuracy': 0.5, 'name': 'a_b'}",
        "# Results\n\nAccuracy {eval}`percent(run['test_accuracy'])`, steps {eval}`6 * 7`, "
        "run {eval}`run['name']`, path {eval}`Text('C:\\\\x')`, code `{eval}`.",
    )
    source = run(nb, outputs.REPO).cells[1].source  # where report_helpers is
    # A str shows without quotes; plain text is escaped for Markdown (a_b, a backslash).
    assert source == (
        "# Results\n\nAccuracy 50.00%, steps 42, run a\\_b, path C:\\\\x, code `{eval}`."
    )


def test_an_expression_that_raises_names_the_cell_and_the_expression(tmp_path: Path) -> None:
    nb = notebook(">>> run = {}", "## Task 2b: Loss\n\nLoss {eval}`run['test_loss']`.")
    with pytest.raises(MystError) as error:
        run(nb, tmp_path)
    message = str(error.value)
    assert 'cell 1 ("Task 2b: Loss")' in message
    assert "{eval}`run['test_loss']`" in message and "KeyError" in message


def test_build_report_marks_and_lists_a_failing_role(tmp_path: Path) -> None:
    """Results of another shape may leave an {eval} that cannot be computed: the sentence shows
    why (JupyterLab shows the error in red there), and the box lists it under its sub-task."""
    nb = notebook("## Task 2b: Intro", ">>> x = 1", "Under the heading: {eval}`x / 0`, {eval}`x`.")
    build_report.execute(nb, tmp_path)
    assert nb.cells[-1].source == (
        "Under the heading: **[cannot be computed for these results: `x / 0` raised "
        "ZeroDivisionError: division by zero]**, 1."
    )
    box = claims.box_contents(nb)
    assert box["failed"] == ["Task 2b: {eval}`x / 0`"] == box["quantities"]
    assert box["reasons"] == {"Task 2b: {eval}`x / 0`": "ZeroDivisionError: division by zero"}
    assert (
        nb.cells[0]
        .outputs[0]["data"]["text/plain"]
        .endswith(
            "Task 2b: {eval}`x / 0` (cannot be computed for these results: ZeroDivisionError: "
            "division by zero)"
        )
    )


def test_a_table_whose_value_cannot_be_computed_keeps_its_place_and_number(
    tmp_path: Path,
) -> None:
    """A {table} made by one {eval} whose value is no table (one that cannot be computed):
    the build shows the value in a table of one cell, so that the references to the table
    still resolve, and lists the role."""
    nb = notebook(
        ">>> rows = 'no runs | none'",
        "## Task 4c: Runs\n\nSee {numref}`tab-runs`.\n\n:::{table} Runs.\n:name: tab-runs\n\n"
        "{eval}`rows`\n:::",
    )
    build_report.execute(nb, tmp_path)
    assert nb.cells[-1].source.endswith(
        ":::{table} Runs.\n:name: tab-runs\n\n| |\n|:--|\n| no runs \\| none |\n:::"
    )
    assert claims.box_contents(nb)["reasons"] == {"Task 4c: {eval}`rows`": "gives no table"}
    text = translate(nb, "latex", tmp_path)[-1]
    assert "See Table\\ \\ref{tab-runs}." in text and "\\label{tab-runs}" in text
    assert "\nno runs \\textbar{} none \\\\\n" in text  # the value, in the table's one cell


@pytest.mark.parametrize(
    ("markdown", "problem"),
    [
        ("Value {eval} x.", "malformed role"),
        ("Value {eval}``x``.", "empty"),
        ("Math $a = {eval}`x`$.", "inside math"),
        ("Open\n\n:::{figure} a.png\ncaption", "never closed"),
    ],
)
def test_malformed_roles_fail(markdown: str, problem: str) -> None:
    with pytest.raises(MystError, match=problem):
        expressions(markdown)


def test_math_may_span_lines() -> None:
    assert expressions("Math $a +\nb$ then {eval}`x` and $c$.") == ["x"]
    with pytest.raises(MystError, match="inside math"):
        expressions("Math $a +\n{eval}`x`$.")


@pytest.mark.parametrize("line", ["+ \\lambda w", "- b", "* c", "1. d", "12) e", "  + f", "-"])
def test_a_line_of_inline_math_that_starts_a_list_item_fails(line: str) -> None:
    # CommonMark ends the paragraph at such a line: the formula shows as raw TeX in a bullet
    # (a lone "-" underlines the line before as a heading).
    with pytest.raises(MystError, match="list item"):
        expressions(f"The cost $C = C_0\n{line}\nD$ is minimised.")


@pytest.mark.parametrize("line", ["+\\lambda", "-b", "1.5 c", "2x", "    + g", "\\, + h"])
def test_a_line_of_inline_math_that_starts_no_list_item_passes(line: str) -> None:
    assert expressions(f"The cost $C = C_0\n{line}\nD$, " + "{eval}`x`.") == ["x"]


@pytest.mark.parametrize("target", ["latex", "html"])
def test_a_list_item_in_inline_math_names_the_cell(tmp_path: Path, target: str) -> None:
    nb = notebook("# Intro", "## Task 4a: Gradient\n\nWith $\\nabla C_0\n+ \\lambda w$ the step.")
    message = r'cell 1 \("Task 4a: Gradient"\): the line `\+ \\lambda w\$` .*list item'
    with pytest.raises(MystError, match=message):
        translate(nb, target, tmp_path)


def test_build_report_names_a_list_item_in_inline_math(tmp_path: Path) -> None:
    nb = notebook("# Intro", ">>> x = 1", "Then $a\n- b$ and {eval}`x`.")
    with pytest.raises(build_report.ReportError, match=r'cell 2 \(under "Intro"\).*list item'):
        build_report.execute(nb, tmp_path)


def test_code_is_not_evaluated() -> None:
    markdown = "Inline `{eval}`x`` stays.\n\n```python\n{eval}`y`\n```\n\nBut {eval}`z` is."
    assert expressions(markdown) == ["z"]


@pytest.mark.parametrize(
    ("result", "shown"),
    [
        ({"text/plain": "'97.53%'"}, "97.53%"),
        ({"text/plain": "42"}, "42"),
        ({"text/plain": "'lambda_0'"}, "lambda\\_0"),
        ({"text/markdown": "**bold**\n", "text/plain": "<Markdown>"}, "**bold**"),
        ({"text/latex": "$\\alpha = 0.1$", "text/plain": "<Latex>"}, "$\\alpha = 0.1$"),
    ],
)
def test_values_show_as_jupyterlab_shows_them(result: dict[str, str], shown: str) -> None:
    assert shown_text("x", {"status": "ok", "data": result}) == shown


def test_a_value_that_is_only_html_fails() -> None:
    with pytest.raises(MystError, match="HTML"):
        shown_text("table", {"status": "ok", "data": {"text/html": "<b/>", "text/plain": "t"}})


def test_text_shows_as_itself() -> None:
    assert repr(rh.Text("a\\b 'c'")) == "a\\b 'c'"


# ---------------------------------------------------------------- translation


EQUATIONS = (
    "# Theory\n\n\\begin{equation}\\label{eq:model}\ny = f(x)\n\\end{equation}\n\n$$\nz = 1\n$$",
    "By {eq}`eq:model`, and in {numref}`tab-runs`.\n\n"
    ":::{table} Runs with $\\lambda$.\n:name: tab-runs\n\n| Run | Acc. |\n|:--|--:|\n"
    "| a | 1% |\n:::",
)


def test_equations_and_references_for_latex(tmp_path: Path) -> None:
    theory, text = translate(notebook(*EQUATIONS), "latex", tmp_path)
    assert "\\begin{equation}\\label{eq:model}" in theory
    assert "\\begin{equation}\nz = 1\n\\end{equation}" in theory  # numbered, as in MyST
    assert "By $\\eqref{eq:model}$, and in Table\\ \\ref{tab-runs}." in text


def test_references_for_html_are_numbers(tmp_path: Path) -> None:
    _, text = translate(notebook(*EQUATIONS), "html", tmp_path)
    assert "By $\\eqref{eq:model}$, and in Table&nbsp;1." in text
    assert "**Table 1:** Runs with $\\lambda$.\n\n| Run | Acc. |\n| :-- | --: |\n| a | 1% |" in text


def test_table_for_latex_is_a_float_with_caption_and_label(tmp_path: Path) -> None:
    _, text = translate(notebook(*EQUATIONS), "latex", tmp_path)
    assert "\\begin{table}[H]" in text  # kept where it stands, never split across pages
    assert "\\caption{Runs with \\(\\lambda\\).}\\label{tab-runs}" in text
    assert "\\begin{tabular}{@{}lr@{}}" in text
    assert "a & 1\\% \\\\" in text


def test_a_wide_table_wraps_its_long_columns(tmp_path: Path) -> None:
    long = "stopped at step 1,234 (epoch 13), shuffled, early stopping, " * 2
    table = (
        ":::{table} Wide.\n\n| Task | Set-up | Acc. |\n|:--|:--|--:|\n"
        f"| 2 | {long} | 1% |\n| 3 | {long} | 2% |\n:::"
    )
    (text,) = translate(notebook(table), "latex", tmp_path)
    spec = "{@{}l>{\\raggedright\\arraybackslash\\hsize=1.000\\hsize}Xr@{}}"
    assert f"\\begin{{tabularx}}{{\\linewidth}}{spec}" in text


def test_figure_for_latex_prefers_the_pdf_beside_the_png(tmp_path: Path, image: Path) -> None:
    figure = ":::{figure} figures/plot.png\n:name: fig-plot\n:width: 65%\n\nA *plot*.\n:::"
    (text,) = translate(notebook(figure), "latex", tmp_path)
    assert text.strip() == f"![A *plot*.](<{image.as_posix()}>){{#fig-plot width=65%}}"
    image.with_suffix(".pdf").write_bytes(b"%PDF-1.4")
    (text,) = translate(notebook(figure), "latex", tmp_path)
    assert f"(<{image.with_suffix('.pdf').as_posix()}>)" in text


def test_figure_for_html_is_embedded_with_a_numbered_caption(tmp_path: Path, image: Path) -> None:
    figure = ":::{figure} figures/plot.png\n:width: 65%\n\nA *plot* of $x$.\n:::"
    (text,) = translate(notebook(figure), "html", tmp_path)
    assert '<img src="data:image/png;base64,' in text and 'style="width: 65%"' in text
    assert "<figcaption><strong>Figure 1:</strong> A <em>plot</em> of $x$.</figcaption>" in text
    assert "{width" not in text and "\n\n" not in text.strip()  # one HTML block


def test_figure_folder_can_be_redirected(tmp_path: Path, image: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    image.parent.rename(elsewhere)
    nb = notebook(":::{figure} figures/plot.png\n\nA plot.\n:::")
    resources = {"metadata": {"path": str(tmp_path)}}
    MystTranslatePreprocessor(path_prefixes={"figures": str(elsewhere)}).preprocess(nb, resources)
    assert f"(<{(elsewhere / 'plot.png').as_posix()}>)" in nb.cells[0].source


@pytest.mark.parametrize(
    ("markdown", "problem"),
    [
        ("See {eq}`eq:nowhere`.", r'cell 0 \("Title"\).*no equation is labelled .eq:nowhere.'),
        ("See {numref}`fig-nowhere`.", "no figure or table"),
        ("A {sub}`2` role.", "role {sub}"),
        ("$$\nx\n$$ (eq:x)", "does not read the label"),
        ("\\begin{align}\na &= b \\\\\nc &= d\n\\end{align}", "numbers 2 lines"),
        (":::{note}\nHi\n:::", "directive {note}"),
        (":::{figure} figures/missing.png\n\nCaption.\n:::", "missing.png is missing"),
        (":::{figure} figures/plot.png\n:width: 300px\n\nCaption.\n:::", "percentage"),
        (":::{figure} figures/plot.png\n:::", "caption"),
        (":::{table} Caption.\n\nNo table here.\n:::", "not a pipe table"),
        ("Not evaluated: {eval}`x`.", "was not evaluated"),
    ],
)
def test_constructs_outside_the_subset_fail_naming_the_cell(
    tmp_path: Path, image: Path, markdown: str, problem: str
) -> None:
    with pytest.raises(MystError, match=problem):
        translate(notebook(f"# Title\n\n{markdown}"), "latex", tmp_path)


def test_a_label_used_twice_fails(tmp_path: Path, image: Path) -> None:
    figure = ":::{figure} figures/plot.png\n:name: fig-a\n\nA.\n:::"
    with pytest.raises(MystError, match="used twice"):
        translate(notebook(figure, figure), "latex", tmp_path)


def test_latex_references_only_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (text,) = translate(notebook("As $\\eqref{eq:a}$ shows."), "latex", tmp_path)
    assert text == "As $\\eqref{eq:a}$ shows."
    assert "use {eq}`label`" in caplog.text


# ---------------------------------------------------------------- the fixture, end to end


@pytest.fixture
def sample(
    tmp_path: Path, quick_results: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The sample notebook in tmp_path, its figures beside it, the quick results in the env."""
    figures, results = quick_results
    shutil.copytree(figures, tmp_path / "figures")
    shutil.copy(FIXTURE, tmp_path / FIXTURE.name)
    monkeypatch.setenv("FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("RESULTS_DIR", str(results))
    monkeypatch.setenv("PYTHONPATH", str(outputs.REPO))  # the kernel imports report_helpers
    return tmp_path / FIXTURE.name


@pytest.mark.slow
def test_sample_builds_to_pdf_with_values_references_and_captions(
    sample: Path, planted_test_accuracy: float
) -> None:
    if missing := build_report.missing_latex_tools():
        pytest.fail(f"the PDF test needs {missing}: install {build_report.TEX_PACKAGES}")
    if shutil.which("pdftotext") is None:
        pytest.fail("the PDF test reads the PDF with pdftotext: apt-get install poppler-utils")
    pdf = build_report.build(sample.with_suffix(".pdf"), source=sample, allow_quick=True)
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-layout", str(pdf), "-"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    ).stdout
    headings = [
        "Task 1a: Gradient of the logistic-regression cost",
        "Task 2b: Loss during training",
        "Task 3: Softmax regression",
        "Task 4c: Validation accuracy",
    ]
    assert [heading for heading in headings if heading in text] == headings
    assert rh.percent(planted_test_accuracy) in text
    assert "??" not in text  # every \ref and \eqref resolved
    assert "Figure 1: Cross-entropy" in text and "Figure 2: Validation accuracy" in text
    assert "Table 1: Final results" in text and "Table 2: Softmax regression with L2" in text
    assert re.search(r"the model of\s+\(1\)", text)  # {eq}`eq:logistic-model`
    assert "(Figure 1)" in text and "Table 1 lists" in text
    assert "{eval}" not in text and "{width" not in text and "{numref}" not in text


@pytest.mark.slow
def test_sample_latex_has_no_overfull_lines(sample: Path, tmp_path: Path) -> None:
    if missing := build_report.missing_latex_tools():
        pytest.fail(f"the PDF test needs {missing}: install {build_report.TEX_PACKAGES}")
    nb = nbformat.read(sample, as_version=4)
    nb.metadata.update(build_report.read_title_block())
    build_report.execute(nb, sample.parent)
    latex, _ = build_report.exporter("latex").from_notebook_node(
        nb, {"metadata": {"path": str(sample.parent)}}
    )
    (tmp_path / "sample.tex").write_text(latex, encoding="utf-8")
    for _ in range(2):  # the second run resolves the references
        subprocess.run(
            ["xelatex", "-interaction=nonstopmode", "sample.tex"],
            cwd=tmp_path,
            capture_output=True,
            check=False,
        )
    log = (tmp_path / "sample.log").read_text(encoding="utf-8", errors="replace")
    assert not re.findall(r"^! ", log, re.MULTILINE)
    overfull = re.findall(r"Overfull \\hbox \((\d+\.?\d*)pt too wide\)", log)
    assert not [width for width in overfull if float(width) > 1.0], overfull
    assert not re.findall(r"Reference `[^']*' on page \d+ undefined", log)


def test_sample_builds_to_html_with_offline_mathjax(
    sample: Path, planted_test_accuracy: float
) -> None:
    html = build_report.build(
        sample.with_suffix(".html"), html=True, source=sample, allow_quick=True
    ).read_text(encoding="utf-8")
    assert rh.percent(planted_test_accuracy) in html
    assert "<strong>Figure 1:</strong> Cross-entropy" in html
    assert "<strong>Table 2:</strong> Softmax regression with L2" in html
    assert "$\\eqref{eq:logistic-model}$" in html  # MathJax numbers and resolves it
    loaded = re.findall(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"([^\"]+)\"", html)
    assert loaded and not [url for url in loaded if not url.startswith("file:")], loaded
    assert "{width" not in html and "{eval}" not in html
