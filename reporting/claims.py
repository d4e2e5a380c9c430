"""The statements of report.ipynb about the evidence, each checked where it is made.

Every data-dependent sentence of the report is checked by the code cell above it::

    t2b_levels = claim(max(val) < 1.05 * min(val), "2b: the validation loss levels off")

and the sentence ends with the check's mark, ``... levels off{eval}`t2b_levels`.``. A statement
that holds shows nothing. One that does not hold for the current results never stops the
notebook: its mark shows in the sentence, the box that the notebook's first cell shows (at the
top of the report, and in JupyterLab) lists it, and build_report.py prints it and writes the
report all the same, so that a student sees which sentences to revise. The model answer's own
build (tests, CI: ``--strict``) fails on any.

The box is one display output, updated as the cells run (IPython's display_id): JupyterLab
and the exports show it as HTML, LaTeX or Markdown, and it carries the list as JSON
(``MIME_TYPE``) for build_report.py to read.
"""

from __future__ import annotations

import html
from typing import Any

from IPython.display import display

MIME_TYPE = "application/vnd.mnist-report.claims+json"
"""The box's machine-readable copy: {"checked": statements checked, "failed": [statement, ...]}."""
DISPLAY_ID = "report-claims"


def split_statement(statement: str) -> tuple[str, str]:
    """("2b", "the loss falls") from "2b: the loss falls"; ("", text) without a sub-task."""
    where, colon, what = statement.partition(": ")
    return (where, what) if colon else ("", statement)


def section_name(where: str) -> str:
    """How the report names a statement's place: "2b" -> "Task 2b", "set-up" -> "Set-up"."""
    if where[:1].isdigit():
        return f"Task {where}"
    return where[:1].upper() + where[1:] if where else "Report"


class Mark:
    """What a sentence shows after its statement: nothing, or a visible "does not hold"."""

    def __init__(self, statement: str, holds: bool) -> None:
        self.statement, self.holds = statement, holds

    def _repr_markdown_(self) -> str:
        if self.holds:
            return ""
        return f" **[does not hold for these results: {split_statement(self.statement)[1]}]**"

    def __repr__(self) -> str:
        return "" if self.holds else f"[does not hold: {self.statement}]"


class FailedBox:
    """The box at the top of the report: the statements that do not hold, or nothing."""

    def __init__(self, failed: list[str], checked: int) -> None:
        self.failed, self.checked = list(failed), checked

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {MIME_TYPE: {"checked": self.checked, "failed": self.failed}}
        if not self.failed:
            return {**bundle, "text/plain": "", "text/markdown": "", "text/latex": ""}
        count = len(self.failed)
        heading = (
            f"{count} statement{'s' if count > 1 else ''} of this report "
            f"{'do' if count > 1 else 'does'} not hold for these results: revise "
            f"{'each sentence' if count > 1 else 'the sentence'} marked below before handing "
            "the report in."
        )
        items = [split_statement(statement) for statement in self.failed]
        lines = [f"{section_name(where)}: {what}" for where, what in items]
        html_items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
        latex_items = "".join(f"\\item {latex_escape(line)}\n" for line in lines)
        return {
            **bundle,
            "text/plain": "\n".join([heading, *lines]),
            "text/markdown": "\n".join([f"> **{heading}**", ">", *(f"> - {x}" for x in lines)]),
            "text/html": (
                '<div style="border: 2px solid #c00; padding: 0.5em 1em; margin: 0.5em 0">'
                f"<strong>{html.escape(heading)}</strong><ul>{html_items}</ul></div>"
            ),
            "text/latex": (
                "\\begin{center}\\fcolorbox{red}{white}{\\begin{minipage}{0.95\\linewidth}\n"
                f"\\textbf{{{latex_escape(heading)}}}\n"
                f"\\begin{{itemize}}\n{latex_items}\\end{{itemize}}\n"
                "\\end{minipage}}\\end{center}\n"
            ),
        }


LATEX_SPECIAL = {c: f"\\{c}" for c in "&%$#_{}"} | {
    "\\": "\\textbackslash{}",
    "~": "\\textasciitilde{}",
    "^": "\\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """`text` with LaTeX's special characters escaped."""
    return "".join(LATEX_SPECIAL.get(c, c) for c in text)


class Claims:
    """The report's statements as the cells check them, and the box that lists those failing."""

    def __init__(self) -> None:
        self.results: dict[str, bool] = {}  # statement -> holds; a re-run cell replaces its own
        self._box = display(FailedBox([], 0), display_id=DISPLAY_ID)

    @property
    def failed(self) -> list[str]:
        """The statements that do not hold, in the order the notebook makes them."""
        return [statement for statement, holds in self.results.items() if not holds]

    def check(self, holds: Any, statement: str) -> Mark:
        """Record whether `statement` ("2b: what the sentence says") holds; its sentence's mark."""
        self.results[statement] = bool(holds)
        self._box.update(FailedBox(self.failed, len(self.results)))
        return Mark(statement, bool(holds))


def box_contents(notebook: Any) -> dict[str, Any]:
    """{"checked": n, "failed": [...]}: the box of an executed notebook (none: no statement)."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if MIME_TYPE in output.get("data", {}):
                return dict(output["data"][MIME_TYPE])
    return {"checked": 0, "failed": []}


def failed_statements(notebook: Any) -> list[str]:
    """The statements that do not hold, read from the box of an executed notebook."""
    return list(box_contents(notebook)["failed"])
