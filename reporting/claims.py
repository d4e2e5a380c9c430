"""The statements of report.ipynb about the evidence, each checked where it is made.

Every data-dependent sentence of the report is checked by the code cell above it::

    t2b_levels = claim(max(val) < 1.05 * min(val), "2b: the validation loss levels off")

and the sentence ends with the check's mark, ``... levels off{eval}`t2b_levels`.``. A statement
that holds shows nothing. One that does not hold for the current results never stops the
notebook: its mark shows in the sentence, the box that the notebook's first cell shows (at the
top of the report, and in JupyterLab) lists it, and build_report.py prints it and writes the
report all the same, so that a student sees which sentences to revise. The model answer's own
build (tests, CI: ``--strict``) fails on any.

Results of another shape than the model answer's (a run too short for a block of epochs, one
seed) may leave a quantity that cannot be computed at all. In a cell that makes statements,
each statement of the code is guarded (`StatementGuard`): if it raises, the names it assigns
hold an `Unavailable` value, whose {eval} shows "cannot be computed for these results" and why
in the sentence, and each claim it makes, or that a later statement makes from such a value,
"cannot be checked for these results": the box lists them like a statement that does not hold,
the first quantity that failed with why, the others with what they needed. A missing results
file or run (report_helpers.MissingResultsError) still stops the notebook: those results need
rerunning.

The box is one display output, updated as the cells run (IPython's display_id): JupyterLab
and the exports show it as HTML, LaTeX or Markdown, and it carries the list as JSON
(``MIME_TYPE``) for build_report.py to read.
"""

from __future__ import annotations

import ast
import html
import re
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any

import nbformat
from IPython import get_ipython
from IPython.display import display

from reporting.report_helpers import MissingResultsError, NotComputableError

MIME_TYPE = "application/vnd.mnist-report.claims+json"
"""The box's machine-readable copy: {"checked": statements checked, "failed": [statement, ...],
"reasons": {statement: why it cannot be checked or computed}, "quantities": [...]}: "failed"
lists in the notebook's order the statements that do not hold (without a reason), those that
cannot be checked, and the quantities that cannot be computed (also in "quantities")."""
DISPLAY_ID = "report-claims"
UNCHECKED = "cannot be checked for these results"
UNCOMPUTED = "cannot be computed for these results"
GUARD_NAME = "_report_claims"  # the notebook's Claims, as the guarded assignments reach it


def split_statement(statement: str) -> tuple[str, str]:
    """("2b", "the loss falls") from "2b: the loss falls"; ("", text) without a sub-task."""
    where, colon, what = statement.partition(": ")
    return (where, what) if colon else ("", statement)


def section_name(where: str) -> str:
    """How the report names a statement's place: "2b" -> "Task 2b", "set-up" -> "Set-up"."""
    if where[:1].isdigit():
        return f"Task {where}"
    return where[:1].upper() + where[1:] if where else "Report"


MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>$|#^~@])")


def markdown_escape(text: str) -> str:
    """`text` with Markdown's special characters escaped (names such as t3_blocks, errors)."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


class Mark:
    """What a sentence shows after its statement: nothing, a visible "does not hold", or, with
    a `reason`, a visible "cannot be checked" and why."""

    def __init__(self, statement: str, holds: bool, reason: str | None = None) -> None:
        self.statement, self.holds, self.reason = statement, holds, reason

    def _repr_markdown_(self) -> str:
        if self.holds:
            return ""
        what = markdown_escape(split_statement(self.statement)[1])
        if self.reason is not None:
            return f" **[{UNCHECKED}: {what} ({markdown_escape(self.reason)})]**"
        return f" **[does not hold for these results: {what}]**"

    def __repr__(self) -> str:
        if self.holds:
            return ""
        return f"[{UNCHECKED if self.reason is not None else 'does not hold'}: {self.statement}]"


class Unavailable:
    """A quantity that cannot be computed for these results: the value of each name that a
    failing assignment would have set. Its {eval} shows why, in place of the number; any use of
    it in a later assignment (a comparison, a format, its truth) fails, so that what depends on
    it cannot be computed or checked either. `origin` is the quantity whose computation failed
    first, if not this one; `section` is where it is computed ("3b")."""

    def __init__(
        self, name: str, reason: str, origin: Unavailable | None = None, section: str = ""
    ) -> None:
        self.name, self.reason, self.origin, self.section = name, reason, origin, section

    @property
    def root(self) -> Unavailable:
        """The quantity whose computation failed first: this one or the one it needs."""
        return self if self.origin is None else self.origin

    def _refuse(self, *args: Any) -> Any:
        raise NotComputableError(f"{self.name} {UNCOMPUTED}: {self.reason}")

    __bool__ = __eq__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __float__ = __int__ = __index__ = __iter__ = __len__ = __format__ = _refuse
    __hash__ = None  # type: ignore[assignment]

    def __getitem__(self, key: Any) -> Unavailable:
        """Itself: {eval}`values[0]` shows why `values` cannot be computed."""
        return self

    def _repr_markdown_(self) -> str:
        return f"**[{UNCOMPUTED}: {markdown_escape(self.name)} ({markdown_escape(self.reason)})]**"

    def __repr__(self) -> str:
        return f"[{UNCOMPUTED}: {self.name} ({self.reason})]"


class FailedBox:
    """The box at the top of the report: the statements that do not hold, or nothing.

    `reasons` gives, for a statement that cannot be checked and for a quantity that cannot be
    computed (`quantities`), why.
    """

    def __init__(
        self,
        failed: list[str],
        checked: int,
        reasons: dict[str, str] | None = None,
        quantities: frozenset[str] = frozenset(),
    ) -> None:
        self.failed, self.checked = list(failed), checked
        self.reasons, self.quantities = dict(reasons or {}), quantities

    def line(self, statement: str) -> str:
        """How the box lists `statement`: its section, what it says, and why if it has a reason."""
        where, what = split_statement(statement)
        if statement not in self.reasons:
            return f"{section_name(where)}: {what}"
        kind = UNCOMPUTED if statement in self.quantities else UNCHECKED
        return f"{section_name(where)}: {what} ({kind}: {self.reasons[statement]})"

    def heading(self) -> str:
        """The box's first line: how many statements do not hold (or cannot be checked), how
        many quantities cannot be computed, and what to do."""
        quantities = sum(statement in self.quantities for statement in self.failed)
        count = len(self.failed) - quantities
        unchecked = any(s in self.reasons and s not in self.quantities for s in self.failed)
        parts = []
        if count:
            parts.append(
                f"{count} statement{'s' if count > 1 else ''} of this report "
                f"{'do' if count > 1 else 'does'} not hold for these results"
                + (" or cannot be checked on them" if unchecked else "")
            )
        if quantities:
            parts.append(
                f"{quantities} quantit{'ies' if quantities > 1 else 'y'} "
                + ("cannot be computed from them" if count else f"of this report {UNCOMPUTED}")
            )
        sentences = len(self.failed) > 1
        return (
            f"{', and '.join(parts)}: revise {'each sentence' if sentences else 'the sentence'} "
            "marked below before handing the report in."
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        contents = {"checked": self.checked, "failed": self.failed, "reasons": self.reasons}
        contents["quantities"] = sorted(self.quantities)
        bundle: dict[str, Any] = {MIME_TYPE: contents}
        if not self.failed:
            return {**bundle, "text/plain": "", "text/markdown": "", "text/latex": ""}
        heading = self.heading()
        lines = [self.line(statement) for statement in self.failed]
        html_items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
        latex_items = "".join(f"\\item {latex_escape(line)}\n" for line in lines)
        markdown_items = [f"> - {markdown_escape(line)}" for line in lines]
        return {
            **bundle,
            "text/plain": "\n".join([heading, *lines]),
            "text/markdown": "\n".join([f"> **{heading}**", ">", *markdown_items]),
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
    """The report's statements as the cells check them, and the box that lists those failing.

    Made in the notebook's first cell; in IPython it guards the assignments of every later cell
    that makes statements (`StatementGuard`).
    """

    def __init__(self) -> None:
        # statement -> holds, in the order made; also each quantity that cannot be computed,
        # as not holding. A cell run again replaces its own entries.
        self.outcomes: dict[str, bool] = {}
        self.reasons: dict[str, str] = {}  # why a statement or a quantity cannot be worked out
        self.quantities: set[str] = set()  # the entries of `outcomes` that are quantities
        self._box = display(FailedBox([], 0), display_id=DISPLAY_ID)
        self.namespace: dict[str, Any] = {}
        shell = get_ipython()
        if shell is not None:  # one guard, this Claims's, also when the first cell runs again
            self.namespace = shell.user_ns
            self.namespace[GUARD_NAME] = self
            shell.ast_transformers[:] = [
                t for t in shell.ast_transformers if not isinstance(t, StatementGuard)
            ]
            shell.ast_transformers.append(StatementGuard(self))

    @property
    def failed(self) -> list[str]:
        """The statements that do not hold or cannot be checked, and the quantities that cannot
        be computed, in the order the notebook makes them."""
        return [statement for statement, holds in self.outcomes.items() if not holds]

    def check(self, holds: Any, statement: str) -> Mark:
        """Record whether `statement` ("2b: what the sentence says") holds; its sentence's mark."""
        self.outcomes[statement] = bool(holds)
        self.reasons.pop(statement, None)
        self._update_box()
        return Mark(statement, bool(holds))

    def statement_failed(self, error: Exception, **where: Any) -> bool:
        """The guarded statement that `where` describes (a `Failure`'s fields) raised `error`:
        its names become Unavailable (a claim's name, its "cannot be checked" Mark), its claims
        cannot be checked, and what failed first (not for an Unavailable value it reads) is
        listed. Returns False for an error that must stop the notebook: a results file, run or
        entry is missing."""
        failure = Failure(**where)
        if isinstance(error, MissingResultsError):
            return False
        needed = [self.namespace.get(name) for name in failure.reads]
        origin = next((value.root for value in needed if isinstance(value, Unavailable)), None)
        if origin is not None:  # the box lists the origin, and why, under its section
            reason = f"needs {origin.name}"
            if origin.section and origin.section != failure.section:
                reason += f" of {section_name(origin.section)}"
        elif isinstance(error, NotComputableError):
            reason = str(error)
        else:
            cell = (
                f"the code cell of {section_name(failure.section)}"
                if failure.section
                else "its cell"
            )
            reason = f"{type(error).__name__}: {error}, in line {failure.line} of {cell}"
        for statement in failure.statements:
            self.outcomes[statement], self.reasons[statement] = False, reason
        quantities = tuple(name for name in failure.names if name not in failure.marks)
        for name in quantities:
            self.namespace[name] = Unavailable(name, reason, origin, failure.section)
        for name, statement in failure.marks.items():
            self.namespace[name] = Mark(statement, False, reason)
        if origin is None and (quantities or not failure.statements):
            entry = failure.entry
            self.outcomes[entry], self.reasons[entry] = False, reason
            self.quantities.add(entry)
        self._update_box()
        return True

    def statement_computed(self, **where: Any) -> None:
        """The guarded statement that `where` describes ran: what it failed to compute before
        (the cell ran again) is no longer listed."""
        entry = Failure(**where).entry
        if entry in self.quantities:
            del self.outcomes[entry], self.reasons[entry]
            self.quantities.discard(entry)
            self._update_box()

    def _update_box(self) -> None:
        checked = len(self.outcomes) - len(self.quantities)
        self._box.update(FailedBox(self.failed, checked, self.reasons, frozenset(self.quantities)))


# ---------------------------------------------------------------- the guard


@dataclass(frozen=True)
class Failure:
    """What the handler of a guarded assignment passes on: the assignment's first `line` in its
    cell, the `names` it assigns, the `statements` of the claims it makes, `marks` (a name
    assigned a claim's mark -> that claim's statement), the names it `reads`, and the
    `section` of its cell (that of the cell's first statement, e.g. "3b")."""

    line: int
    names: tuple[str, ...]
    statements: tuple[str, ...]
    marks: dict[str, str]
    reads: tuple[str, ...]
    section: str

    @property
    def entry(self) -> str:
        """How the box lists what the statement could not compute: the quantities it assigns
        (not its claims), else its line ("3b: t3_blocks", "3c: the code in line 4")."""
        quantities = [name for name in self.names if name not in self.marks]
        what = " and ".join(quantities) or f"the code in line {self.line}"
        return f"{self.section}: {what}" if self.section else what


ERROR_NAME = "_report_error"
# Statements left as they are: imports and definitions compute nothing from the results.
UNGUARDED = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
NEW_SCOPES = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Lambda)


class StatementGuard(ast.NodeTransformer):
    """An IPython AST transformer: in a cell that makes statements (calls the `check` of
    `claims` by a name), each top-level statement but imports, definitions and a last
    expression (whose value IPython shows) runs as

        try:
            <statement>
        except Exception as _report_error:
            if not _report_claims.statement_failed(_report_error, **failure):
                raise
        else:
            _report_claims.statement_computed(**failure)

    with `failure` the fields of its `Failure` written out, so that a statement that raises
    leaves the names it assigns Unavailable and its claims unchecked, and the cell runs on.
    Cells without statements run as written.
    """

    def __init__(self, claims: Claims) -> None:
        self.claims = claims

    def is_claim(self, node: ast.AST) -> bool:
        """Whether `node` calls `claims.check`, by the name the notebook gave it."""
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            return False
        return getattr(self.claims.namespace.get(node.func.id), "__self__", None) is self.claims

    def is_module(self, name: str) -> bool:
        """Whether `name` stands for a module (``rh.require_figures(...)`` changes no value)."""
        return isinstance(self.claims.namespace.get(name), ModuleType)

    def visit_Module(self, module: ast.Module) -> ast.Module:
        statements = [statement_text(node) for node in ast.walk(module) if self.is_claim(node)]
        if not statements:
            return module
        section = split_statement(statements[0])[0]
        *body, last = module.body
        module.body = [
            node if isinstance(node, UNGUARDED) else self.guarded(node, section) for node in body
        ]
        # A last expression stays as it is, for IPython to show its value.
        kept = isinstance(last, (ast.Expr, *UNGUARDED))
        module.body.append(last if kept else self.guarded(last, section))
        return module

    def guarded(self, node: ast.stmt, section: str) -> ast.stmt:
        """`node` in the try statement that the class's docstring shows."""
        marks = {}
        if isinstance(node, ast.Assign) and self.is_claim(node.value):
            marks = {
                n.id: statement_text(node.value) for n in node.targets if isinstance(n, ast.Name)
            }
        failure = Failure(
            line=node.lineno,
            names=tuple(name for name in assigned_names(node) if not self.is_module(name)),
            statements=tuple(statement_text(n) for n in ast.walk(node) if self.is_claim(n)),
            marks=marks,
            reads=tuple(
                sorted(
                    {
                        n.id
                        for n in ast.walk(node)
                        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
                    }
                )
            ),
            section=section,
        )
        fields = f"**{asdict(failure)!r}"
        wrapper = ast.parse(
            "try:\n    pass\n"
            f"except Exception as {ERROR_NAME}:\n"
            f"    if not {GUARD_NAME}.statement_failed({ERROR_NAME}, {fields}):\n"
            "        raise\n"
            f"else:\n    {GUARD_NAME}.statement_computed({fields})\n"
        ).body[0]
        for part in ast.walk(wrapper):
            ast.copy_location(part, node)
        wrapper.body = [node]
        return wrapper


def statement_text(call: ast.Call) -> str:
    """The statement a claim call makes: its second argument, as written if not a string."""
    given = (
        call.args[1]
        if len(call.args) > 1
        else next((k.value for k in call.keywords if k.arg == "statement"), None)
    )
    if isinstance(given, ast.Constant) and isinstance(given.value, str):
        return given.value
    return ast.unparse(given) if given is not None else ast.unparse(call)


def assigned_names(node: ast.AST) -> tuple[str, ...]:
    """The names a statement assigns in the cell's scope (not those of comprehensions), and
    the name whose method an expression calls (``values.append(x)`` changes ``values``)."""
    found: list[str] = []
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        method = node.value.func
        if isinstance(method, ast.Attribute) and isinstance(method.value, ast.Name):
            found.append(method.value.id)
    pending = [node]
    while pending:
        part = pending.pop()
        if isinstance(part, ast.Name) and isinstance(part.ctx, ast.Store):
            found.append(part.id)
        if not isinstance(part, NEW_SCOPES):
            pending.extend(ast.iter_child_nodes(part))
    return tuple(sorted(set(found)))


# ---------------------------------------------------------------- reading the box


def box_output(notebook: Any) -> Any:
    """The output of an executed notebook that shows the box, or None (no statement made)."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if MIME_TYPE in output.get("data", {}):
                return output
    return None


def add_to_box(notebook: Any, reasons: dict[str, str]) -> None:
    """List in the box of an executed notebook the quantities `reasons` names (entry -> why it
    cannot be computed), found outside the kernel: {eval} roles whose expression raised. A
    notebook without a box gets one, in a cell of its own at the top."""
    if not reasons:
        return
    contents = box_contents(notebook)
    box = FailedBox(
        [*contents["failed"], *(entry for entry in reasons if entry not in contents["failed"])],
        contents["checked"],
        {**contents["reasons"], **reasons},
        frozenset([*contents["quantities"], *reasons]),
    )
    output = box_output(notebook)
    if output is None:
        output = nbformat.v4.new_output("display_data")
        notebook.cells.insert(0, nbformat.v4.new_code_cell(outputs=[output]))
    output["data"] = box._repr_mimebundle_()


def box_contents(notebook: Any) -> dict[str, Any]:
    """{"checked": n, "failed": [...], "reasons": {...}, "quantities": [...]}: the box of an
    executed notebook (none: no statement)."""
    output = box_output(notebook)
    contents = output["data"][MIME_TYPE] if output is not None else {"checked": 0, "failed": []}
    return {"reasons": {}, "quantities": [], **contents}


def failed_statements(notebook: Any) -> list[str]:
    """The statements that do not hold, read from the box of an executed notebook."""
    return list(box_contents(notebook)["failed"])
