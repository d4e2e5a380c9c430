"""Build the report: execute report.ipynb against results/ and export it as report.pdf.

    python -m reporting.build_report [--html] [--output PATH] [--strict]

The notebook is executed in a fresh kernel (so every number in its text comes from the
current results/*.json), with the {eval} roles of its Markdown cells filled in from the kernel
and its MyST figures, tables and references translated for the exporter (myst_export.py).
A statement of the report that does not hold for the current results (claims.py) is printed,
one line each, marked in its sentence and listed at the top of the report, which is written all
the same; with --strict (the model answer's own build) it fails the build instead. The
title block is filled from report_metadata.toml, and the executed notebook is exported without
code, prompts or stderr: as PDF through nbconvert's LaTeX route (pandoc + xelatex, template in
reporting/template/), or as a self-contained HTML page with --html or when pandoc or xelatex is
missing; its formulas are typeset by a MathJax installed with the requirements, so the page
needs no network. The output file is written atomically; report.ipynb itself is never modified.
Jupyter's own exports (`jupyter nbconvert --to pdf report.ipynb`, the export menus of JupyterLab
and Notebook 7) build the report through the same functions: jupyter_export.py.
"""

from __future__ import annotations

import support.require_python  # noqa: F401 (first: an older Python stops here, in one line)

# isort: split

import argparse
import re
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

import jupyter_server_mathjax
import nbformat
from nbclient.exceptions import CellExecutionError
from nbconvert.exporters import Exporter, HTMLExporter, LatexExporter, PDFExporter
from nbconvert.exporters.pdf import LatexFailed

from reporting import claims, report_helpers
from reporting.myst_export import (
    MystError,
    MystExecutePreprocessor,
    MystTranslatePreprocessor,
    headings_above,
)
from support import outputs

HERE = Path(__file__).resolve().parent
NOTEBOOK = outputs.REPO / "report.ipynb"
TITLE_BLOCK = outputs.REPO / "report_metadata.toml"
LATEX_TOOLS = ("pandoc", "xelatex")
TEX_PACKAGES = "texlive-xetex texlive-fonts-recommended texlive-plain-generic pandoc"
# How to install pandoc and xelatex, by platform (docs/setup.md says more).
LATEX_INSTALL = {
    "linux": f"Debian/Ubuntu: sudo apt-get install {TEX_PACKAGES}",
    "darwin": "macOS: brew install pandoc and brew install --cask mactex-no-gui",
    "win32": "Windows: MiKTeX from miktex.org and pandoc from pandoc.org",
}
CELL_TIMEOUT_SECONDS = 300
# The title block as committed, the model answer's: a student replaces it with their own.
MODEL_ANSWER_AUTHORS = ["Model answer"]
# Cells for readers of the notebook only (a note for other viewers), left out of the report.
NOTEBOOK_ONLY_TAG = "viewer-note"
ANSI_CODES = re.compile(r"\x1b\[[0-9;]*m")  # the terminal colours of IPython's tracebacks
# What the reader sees: outputs only, no code and no In/Out prompts.
EXPORT_OPTIONS = {
    "exclude_input": True,
    "exclude_input_prompt": True,
    "exclude_output_prompt": True,
}
LATEX_OPTIONS = {
    "template_name": "template",
    "extra_template_basedirs": [str(HERE)],
    **EXPORT_OPTIONS,
}
# MathJax 2 from the jupyter-server-mathjax package, which template/html/ configures:
# the formulas of report.html render offline.
MATHJAX_URL = (Path(jupyter_server_mathjax.__file__).parent / "static" / "MathJax.js").as_uri()
HTML_OPTIONS = {
    "template_name": "html",
    "extra_template_basedirs": [str(HERE / "template")],
    "embed_images": True,
    "mathjax_url": MATHJAX_URL,
    **EXPORT_OPTIONS,
}


class ReportError(RuntimeError):
    """The report cannot be built; the message says why and what to do."""


def read_title_block(path: Path = TITLE_BLOCK) -> dict[str, Any]:
    """Notebook metadata for the title block, from the TOML file at `path`.

    Returns {"title": str, "authors": [{"name": str}, ...], "report": {"course", "date"}},
    the keys nbconvert's LaTeX template and template/ read.
    """
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ReportError(f"{path} is missing: it holds the report's title block") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ReportError(f"{path} is not valid TOML ({exc}); fix that line") from exc
    examples = {"course": '"..."', "title": '"..."', "authors": '["Ada Lovelace"]', "date": '""'}
    for key, example in examples.items():
        value = values.get(key)
        valid = (
            isinstance(value, list) and all(isinstance(name, str) for name in value)
            if key == "authors"
            else isinstance(value, str)
        )
        if not valid:
            raise ReportError(f"{path}: set `{key}`, e.g. {key} = {example}")
    if values["authors"] == MODEL_ANSWER_AUTHORS:
        print(
            f"build_report.py: {path.name} still names the model answer as the author; put your "
            "names (and course) there before handing the report in.",
            file=sys.stderr,
        )
    return {
        "title": values["title"],
        "authors": [{"name": author} for author in values["authors"]],
        "report": {"course": values["course"], "date": values["date"]},
    }


def read_report(source: Path = NOTEBOOK, title_block: Path = TITLE_BLOCK) -> nbformat.NotebookNode:
    """The notebook `source` as the report shows it (`as_report`)."""
    return as_report(nbformat.read(source, as_version=4), title_block)


def as_report(
    notebook: nbformat.NotebookNode, title_block: Path = TITLE_BLOCK
) -> nbformat.NotebookNode:
    """`notebook`, changed in place and returned, as the report shows it: without its
    notebook-only cells, and with the title block of `title_block` in its metadata."""
    notebook.cells = [
        cell for cell in notebook.cells if NOTEBOOK_ONLY_TAG not in cell.metadata.get("tags", [])
    ]
    notebook.metadata.update(read_title_block(title_block))
    return notebook


def execute(notebook: nbformat.NotebookNode, folder: Path = outputs.REPO) -> None:
    """Run every cell of `notebook` in place, in `folder`, filling in its {eval} roles.

    An {eval} whose expression raises shows "cannot be computed for these results" and is
    listed in the box of statements (claims.py), like a quantity that a code cell could not
    compute. A cell that raises stops the run: ReportError names its heading and line.
    """
    preprocessor = MystExecutePreprocessor(
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        # The kernel's own log (start-up notices) is not part of the report.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        mark_errors=True,
    )
    try:
        preprocessor.preprocess(notebook, {"metadata": {"path": str(folder)}})
    except CellExecutionError as exc:
        raise ReportError(cell_error(notebook, preprocessor.running, exc)) from exc
    except MystError as exc:
        raise ReportError(f"report.ipynb: {exc}") from exc
    claims.add_to_box(
        notebook,
        {
            f"{role.heading.partition(': ')[0]}: {{eval}}`{role.expression}`": role.error
            for role in preprocessor.unevaluated
        },
    )


# Where IPython's traceback places the error in the cell: "Cell In[7], line 3".
CELL_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")
IPYTHON_FILE = re.compile(r" \(\d+\.py, line \d+\)$")


def cell_error(notebook: nbformat.NotebookNode, index: int, error: CellExecutionError) -> str:
    """One line for the code cell `index` of `notebook` that raised `error`: the heading it is
    under, its line, the error, and what to do."""
    heading = headings_above(notebook)[index]
    place = f'the code cell under "{heading}"' if heading else "the first code cell"
    traceback = ANSI_CODES.sub("", str(error))
    found = CELL_LINE.search(traceback)
    if found:
        number = int(found[1])
        lines = notebook.cells[index].source.splitlines()
        code = f" (`{lines[number - 1].strip()}`)" if number <= len(lines) else ""
        place += f", line {number}{code}"
    # A SyntaxError names the kernel's temporary file for the cell: the place is given above.
    evalue = ANSI_CODES.sub("", IPYTHON_FILE.sub("", error.evalue))
    message = f"{error.ename}: {evalue}"
    if error.ename == report_helpers.MissingResultsError.__name__:
        return f"report.ipynb, {place}: {error.evalue}"  # the message says what to run
    return (
        f"report.ipynb, {place}: {message}; correct that line of report.ipynb (`make notebook` "
        "opens it in JupyterLab), then run again"
    )


def run(notebook: nbformat.NotebookNode, folder: Path) -> list[str]:
    """Execute the report `notebook` in place, in `folder`, and drop its stderr (`drop_stderr`);
    returns the statements of the report that do not hold for the results."""
    execute(notebook, folder)
    failed = claims.failed_statements(notebook)
    drop_stderr(notebook)
    return failed


def drop_stderr(notebook: nbformat.NotebookNode) -> None:
    """Remove warnings and progress bars (the stderr stream) from every output."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [
                output
                for output in cell.outputs
                if not (output.output_type == "stream" and output.name == "stderr")
            ]


def missing_latex_tools() -> list[str]:
    """Which of pandoc and xelatex, needed for the PDF, are not on the PATH."""
    return [tool for tool in LATEX_TOOLS if shutil.which(tool) is None]


def exporter(kind: str) -> Exporter:
    """The nbconvert exporter for `kind` ("pdf", "latex" or "html"), MyST translation included."""
    if kind == "html":
        result: Exporter = HTMLExporter(**HTML_OPTIONS)
    else:
        result = (PDFExporter if kind == "pdf" else LatexExporter)(**LATEX_OPTIONS)
    translate = MystTranslatePreprocessor(
        target="html" if kind == "html" else "latex",
        path_prefixes={"figures": str(outputs.figures_dir())},
    )
    result.register_preprocessor(translate, enabled=True)
    return result


def render(notebook: nbformat.NotebookNode, kind: str, folder: Path) -> tuple[Any, dict[str, Any]]:
    """The executed notebook exported as `kind` (see `exporter`), without code: (the document,
    nbconvert's resources, whose "outputs" are the files the document refers to).

    `folder` is where the notebook lives: figure paths in its Markdown are relative to it.
    """
    try:
        return exporter(kind).from_notebook_node(notebook, {"metadata": {"path": str(folder)}})
    except MystError as exc:
        raise ReportError(f"report.ipynb: {exc}") from exc
    except LatexFailed as exc:
        errors = [line for line in str(exc).splitlines() if line.startswith("!")]
        raise ReportError(
            "xelatex could not typeset the report: "
            + ("; ".join(errors[:3]) or "see the LaTeX log above")
        ) from exc


def export(notebook: nbformat.NotebookNode, pdf: bool, folder: Path = outputs.REPO) -> bytes:
    """The executed notebook as PDF (LaTeX route) or as self-contained HTML, without code."""
    if pdf:
        return render(notebook, "pdf", folder)[0]
    return render(notebook, "html", folder)[0].encode("utf-8")


def check_results(allow_quick: bool = False) -> None:
    """Refuse results and figures that are not one complete set per task from a full run."""
    for task in report_helpers.REPORT_TASKS:
        problem = outputs.output_set_problem(task, allow_quick=allow_quick)
        if problem:
            raise ReportError(f"{problem}; {report_helpers.rerun_hint(task)}")


def build(
    output: Path | None = None,
    html: bool = False,
    title_block: Path = TITLE_BLOCK,
    source: Path = NOTEBOOK,
    allow_quick: bool = False,
    strict: bool = False,
) -> Path:
    """Execute the notebook `source` and write the report; returns the path written.

    Each statement that does not hold for the results is printed, one line each; the report is
    written all the same, unless `strict`. `allow_quick` accepts results of --quick trial runs
    (for tests); `make report` never does.
    """
    check_results(allow_quick)
    tools = missing_latex_tools()
    pdf = not html and not tools
    if not html and tools:
        how = LATEX_INSTALL.get(sys.platform, LATEX_INSTALL["linux"])
        print(
            f"build_report.py: {' and '.join(tools)} not found, so writing HTML instead of PDF. "
            f"For the PDF install them ({how}; conda: conda install -c conda-forge pandoc; "
            "see docs/setup.md) and run again.",
            file=sys.stderr,
        )
    output = output or outputs.REPO / ("report.pdf" if pdf else "report.html")
    try:
        outputs.check_can_write(output)  # before the notebook runs, not after
    except outputs.OutputError as exc:
        raise ReportError(f"{exc}, e.g. with --output PATH") from exc
    notebook = read_report(source, title_block)
    failed = run(notebook, source.parent)
    box = claims.box_contents(notebook)
    for statement in failed:
        print(f"build_report.py: {describe(statement, box)}", file=sys.stderr)
    if failed and strict:
        raise ReportError(f"{len(failed)} statement(s) of the report do not hold (listed above)")
    document = export(notebook, pdf, source.parent)
    try:
        with outputs.atomic_write(output, "wb") as file:
            file.write(document)
    except outputs.OutputError as exc:
        raise ReportError(str(exc)) from exc
    stale_pdf = output.with_suffix(".pdf")
    if not pdf and stale_pdf.exists():
        stale_pdf.unlink()  # an older build's PDF would contradict the HTML just written
        print(f"build_report.py: removed the earlier build's {stale_pdf}", file=sys.stderr)
    if failed:
        print(
            f"build_report.py: {output.name} lists these {len(failed)} statement(s) at its top and "
            "marks their sentences: revise them (report.ipynb) before handing the report in",
            file=sys.stderr,
        )
    return output


def describe(statement: str, box: dict[str, Any] | None = None) -> str:
    """One line for a statement that does not hold, or cannot be checked, or for a quantity
    that cannot be computed (the `box` of the executed notebook says which, and why): its
    sub-task, the claim or quantity, and why."""
    where, what = claims.split_statement(statement)
    place = f'{claims.section_name(where)}: "{what}"'
    reasons = (box or {}).get("reasons", {})
    if statement not in reasons:
        return f"{place} does not hold for these results"
    kind = claims.UNCOMPUTED if statement in box["quantities"] else claims.UNCHECKED
    return f"{place} {kind}: {reasons[statement]}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", action="store_true", help="write HTML instead of PDF")
    parser.add_argument(
        "--output", type=Path, help="where to write (default: report.pdf or report.html)"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail, writing nothing, if a statement of the report does not hold (the tests)",
    )
    args = parser.parse_args(argv)
    try:
        print(f"wrote {build(args.output, args.html, strict=args.strict)}")
    except (ReportError, report_helpers.MissingResultsError) as exc:
        sys.exit(f"build_report.py: error: {exc}")


if __name__ == "__main__":
    main()
