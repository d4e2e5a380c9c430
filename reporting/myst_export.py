r"""The MyST Markdown of report.ipynb, for JupyterLab and for the PDF and HTML exports.

The report's Markdown cells use a small subset of MyST Markdown. In JupyterLab,
jupyterlab-myst renders it; for the export, this module evaluates the computed values in the
kernel (`MystExecutePreprocessor`, which also runs the code cells) and then translates the rest
into what nbconvert's exporters read (`MystTranslatePreprocessor`): pandoc's Markdown for the
PDF (LaTeX route), mistune's Markdown with MathJax for the HTML page. Anything outside the
subset that looks like MyST (another role, another directive, an unknown label) fails the
build with the cell and the construct named, rather than leaking into the PDF.

The subset, with an example of each construct
---------------------------------------------

Computed values: ``{eval}`expr``` is the value of the Python expression ``expr``, evaluated in
the kernel after the code cells above the Markdown cell have run::

    Test accuracy: {eval}`percent(run["test_accuracy"])`.

  The value is shown as JupyterLab shows it: text/markdown if the object has it (an
  ``IPython.display.Markdown``), else text/latex (``IPython.display.Latex("$\alpha = 0.1$")``),
  else text/plain, i.e. its repr(), with one pair of enclosing quotes removed (so a plain str
  shows without quotes; `report_helpers.Text` also shows backslashes and quotes as they are).
  Plain text is inserted as text: Markdown characters in it are escaped. Not allowed inside
  ``$...$`` math or equations (MyST does not evaluate roles there): put the role outside.
  A value that cannot be computed for the results (reporting/claims.py's ``Unavailable``)
  shows its text/markdown, a bold "cannot be computed for these results" and why, in
  JupyterLab and the export alike. An expression that raises is an error here; the report's
  build (`MystExecutePreprocessor.mark_errors`) shows it as "cannot be computed" with the
  error instead, where JupyterLab shows the error's name and message in red.

Inline math, ``$...$``, may run over lines within a paragraph, but no line may start like a list
item (``- ``, ``+ ``, ``* ``, ``1. ``, ``1) ``): Markdown would end the paragraph there and show
the formula as raw TeX in a bullet. Break the line after the operator, not before it::

    the cost $C(w) = \frac{1}{N}\sum_n C^n(w) +
    \lambda \lVert w \rVert^2$

Display equations, numbered in order through the whole report in every output::

    \begin{equation}\label{eq:sigmoid}
    f(z) = \frac{1}{1 + e^{-z}}
    \end{equation}

  ``align`` (or ``gather``) must number one line only: ``\nonumber`` on all others, the label on
  the numbered one (jupyterlab-myst gives the environment a single number). ``equation*`` and
  ``align*`` are not numbered; ``$$ ... $$`` is numbered (as jupyterlab-myst numbers it).

References to equations: ``{eq}`eq:sigmoid``` shows as "(3)". Not ``\eqref{...}`` or ``\ref``:
jupyterlab-myst typesets each cell on its own and shows those as errors (the export still
typesets them, with a warning).

Figures: a directive whose argument is the image path, relative to the notebook; the option
``:width:`` is a percentage of the text width; ``:name:`` is the label; the body is the caption,
one paragraph (``{eval}`` and math allowed)::

    :::{figure} figures/task2b_curves.png
    :name: fig-loss
    :width: 65%

    Cross-entropy during training.
    :::

  The first folder of the path can be redirected for the export (``path_prefixes``, e.g. the
  figures folder given by ``FIGURES_DIR``). The LaTeX route uses ``name.pdf`` instead of
  ``name.png`` when it exists beside it, so that the PDF gets vector figures.

Tables: a directive whose argument is the caption (``{eval}`` and math allowed) and whose body
is one pipe table, written out (``{eval}`` allowed in cells) or produced by a single ``{eval}``
that returns it as Markdown::

    :::{table} Final results of softmax regression.
    :name: tab-final

    | Split | Accuracy |
    |:------|---------:|
    | Test  | {eval}`percent(run["test_accuracy"])` |
    :::

  In the PDF a table stays where it is written and never splits across pages; columns whose
  entries are long wrap within the text width.

References to figures and tables: ``{numref}`fig-loss``` shows as "Figure 2",
``{numref}`tab-final``` as "Table 1".

Directives are fenced by three colons (as above), backticks or tildes; with backticks the
argument line may hold no backtick, so a caption argument with an ``{eval}`` needs colons or
tildes. Labels are a letter followed by letters, digits, ``-``, ``_``, ``:`` or ``.``.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbconvert.preprocessors import ExecutePreprocessor, Preprocessor
from nbconvert.utils.pandoc import pandoc
from nbformat import NotebookNode
from traitlets import Bool, Dict, Enum

TARGETS = ("latex", "html")


class MystError(ValueError):
    """A Markdown cell cannot be exported; the message names the cell and the construct."""


# ---------------------------------------------------------------- parsing

FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,}|:{3,})\s*(?P<info>.*?)\s*$")
DIRECTIVE = re.compile(r"^\{(?P<name>[^{}\s]+)\}\s*(?P<argument>.*)$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*?)\s*$")
LABEL = re.compile(r"^[A-Za-z][\w:.-]*$")
# Inline constructs, longest first: amsmath environments and $$ displays (MyST reads no roles
# inside them), escaped characters, roles, code spans, inline math.
INLINE = re.compile(
    r"(?P<env>\\begin\{(?P<env_name>(?:equation|multline|gather|align|alignat|flalign)\*?)\}"
    r".*?\\end\{(?P=env_name)\})"
    r"|(?P<display>\$\$.*?\$\$(?P<display_label>[ \t]*\([^()\n]*\))?)"
    r"|(?P<escape>\\[\\$`])"
    r"|(?P<role>\{(?P<role_name>[A-Za-z][\w-]*)\}`(?P<content>[^`]*)`)"
    r"|(?P<code>(?P<ticks>`+).*?(?<!`)(?P=ticks)(?!`))"
    r"|(?P<math>\$(?:[^$\n]|\n(?![ \t]*\n))+?\$)",  # within one paragraph
    re.DOTALL,
)
ROLE_START = re.compile(r"\{(?:eval|eq|numref)\}")
# A line that CommonMark reads as the start of a list item: up to three spaces, a bullet (-, +,
# *) or a number with . or ), then a space or the end of the line. Inside inline math such a
# line ends the paragraph, so JupyterLab shows the formula's halves as raw TeX, one of them in
# a bullet (pandoc's reader happens to forgive it, so the PDF does not show the problem).
LIST_ITEM_START = re.compile(r" {0,3}(?P<marker>[-+*]|\d{1,9}[.)])(?:[ \t]|$)")
LATEX_REFERENCE = re.compile(r"\\(?:eqref|ref|autoref|cref)\{")
EQUATION_LABEL = re.compile(r"\\label\{([^{}]*)\}")


@dataclass
class Code:
    """A fenced code block: left as it is."""

    text: str


@dataclass
class Directive:
    """A fenced MyST directive: ``:::{name} argument``, ``:key: value`` options, a body."""

    fence: str
    name: str
    argument: str
    options: dict[str, str]
    body: str

    def source(self) -> str:
        """The directive as MyST Markdown."""
        options = "".join(f":{key}: {value}\n" for key, value in self.options.items())
        opener = f"{self.fence}{{{self.name}}} {self.argument}".rstrip()
        return f"{opener}\n{options}\n{self.body}\n{self.fence}"


Block = str | Code | Directive


def parse_blocks(source: str) -> list[Block]:
    """Split Markdown into text, fenced code and directives (no nesting)."""
    lines = source.split("\n")
    blocks: list[Block] = []
    text: list[str] = []
    i = 0
    while i < len(lines):
        opener = FENCE.match(lines[i])
        if not opener or (opener["fence"][0] == "`" and "`" in opener["info"]):
            text.append(lines[i])
            i += 1
            continue
        fence = opener["fence"]
        closer = re.compile(rf"^{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = next((j for j in range(i + 1, len(lines)) if closer.match(lines[j])), None)
        directive = DIRECTIVE.match(opener["info"])
        if end is None:
            if directive or fence[0] != ":":
                raise MystError(f"the fence `{lines[i].strip()}` is never closed")
            text.append(lines[i])  # a line of colons that opens nothing
            i += 1
            continue
        if text:
            blocks.append("\n".join(text))
            text = []
        if directive:
            blocks.append(parse_directive(fence, directive, lines[i + 1 : end]))
        else:
            blocks.append(Code("\n".join(lines[i : end + 1])))
        i = end + 1
    if text:
        blocks.append("\n".join(text))
    return blocks


def parse_directive(fence: str, opener: re.Match[str], lines: list[str]) -> Directive:
    """The directive opened by `opener` whose content lines are `lines`."""
    options: dict[str, str] = {}
    while lines and (option := OPTION.match(lines[0])):
        options[option["key"]] = option["value"]
        lines = lines[1:]
    body = "\n".join(lines).strip("\n")
    return Directive(fence, opener["name"], opener["argument"].strip(), options, body)


def join_blocks(blocks: list[Block]) -> str:
    """Markdown of `blocks`, the inverse of `parse_blocks`."""
    parts = []
    for block in blocks:
        if isinstance(block, Directive):
            parts.append(block.source())
        elif isinstance(block, Code):
            parts.append(block.text)
        else:
            parts.append(block)
    return "\n".join(parts)


def map_roles(text: str, replace: Callable[[str, str], str]) -> str:
    """`text` with every role ``{name}`content``` replaced by ``replace(name, content)``.

    Raises MystError for an ``{eval}`` inside math, for a line of inline math that starts like
    a list item, and for a role name followed by no backtick-quoted content.
    """
    out: list[str] = []
    position = 0
    for match in INLINE.finditer(text):
        out.append(check_plain(text[position : match.start()]))
        position = match.end()
        if match["role"] is None:
            token = match.group()
            if (match["env"] or match["display"] or match["math"]) and "{eval}" in token:
                raise MystError(
                    f"{{eval}} inside math is not evaluated by jupyterlab-myst: `{token[:60]}`; "
                    "put the role outside the math"
                )
            if match["math"]:
                check_inline_math_lines(token)
            out.append(token)
            continue
        if not match["content"].strip():
            raise MystError(f"the role `{match.group()}` is empty")
        out.append(replace(match["role_name"], match["content"]))
    out.append(check_plain(text[position:]))
    return "".join(out)


def check_inline_math_lines(math: str) -> None:
    """MystError if a line of the inline math `math` (after its first) starts a list item."""
    first, *others = math.split("\n")
    for line in others:
        if item := LIST_ITEM_START.match(line):
            raise MystError(
                f"the line `{line[:40]}` of the inline math `{first[:40]}` starts like a list "
                f"item (`{item['marker']}`), and Markdown reads it as one: break the line "
                f"elsewhere, e.g. after the `{item['marker']}`"
            )


def check_plain(text: str) -> str:
    """`text` (no role in it), or MystError if it holds the start of a malformed role."""
    if broken := ROLE_START.search(text):
        context = text[broken.start() : broken.start() + 40].split("\n")[0]
        raise MystError(
            f"malformed role `{context}`: write {{name}}`content` with single backticks"
        )
    return text


def map_blocks_text(source: str, replace: Callable[[str, str], str]) -> str:
    """`source` with `map_roles` applied wherever MyST reads roles (not in code, not in math)."""
    blocks = parse_blocks(source)
    for index, block in enumerate(blocks):
        if isinstance(block, str):
            blocks[index] = map_roles(block, replace)
        elif isinstance(block, Directive) and block.name != "math":
            block.argument = map_roles(block.argument, replace)
            block.body = map_roles(block.body, replace)
    return join_blocks(blocks)


# ---------------------------------------------------------------- computed values

PLAIN_QUOTES = re.compile(r"^([\"'])(.*)\1$")
ONE_ROLE = re.compile(r"\{(?P<name>[A-Za-z][\w-]*)\}`(?P<content>[^`]*)`")
UNESCAPED_BAR = re.compile(r"(?<!\\)\|")
MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>$|#^~@])")


def expressions(source: str) -> list[str]:
    """The expressions of the ``{eval}`` roles of `source`, in order."""
    found: list[str] = []

    def collect(name: str, content: str) -> str:
        if name == "eval":
            found.append(content)
        return ""

    map_blocks_text(source, collect)
    return found


def shown_text(expression: str, result: dict[str, Any]) -> str:
    """The Markdown for a user_expressions `result`, as JupyterLab with jupyterlab-myst shows it."""
    if result.get("status") != "ok":
        raise MystError(
            f"{{eval}}`{expression}` raised {result.get('ename')}: {result.get('evalue')}"
        )
    data: dict[str, str] = result.get("data", {})
    if "text/html" in data:
        raise MystError(
            f"{{eval}}`{expression}` shows as HTML in JupyterLab, which the PDF cannot hold; "
            "return text, IPython.display.Markdown or IPython.display.Latex"
        )
    if "text/markdown" in data:
        return data["text/markdown"].strip("\n")
    if "text/latex" in data:
        return data["text/latex"].strip("\n")
    if "text/plain" in data:
        # jupyterlab-myst drops one pair of enclosing quotes (a str's repr) and shows the rest.
        text = PLAIN_QUOTES.sub(r"\2", data["text/plain"])
        return MARKDOWN_SPECIAL.sub(r"\\\1", text)
    raise MystError(
        f"{{eval}}`{expression}` shows as {', '.join(sorted(data)) or 'nothing'}: "
        "return text, IPython.display.Markdown or IPython.display.Latex"
    )


def unevaluated_mark(expression: str, error: str) -> str:
    """What the sentence shows for an ``{eval}`` whose `expression` raised `error`."""
    escaped = MARKDOWN_SPECIAL.sub(r"\\\1", error)
    return f"**[cannot be computed for these results: `{expression}` raised {escaped}]**"


def substitute(source: str, values: list[str]) -> str:
    """`source` with its ``{eval}`` roles replaced by `values`, in order."""
    remaining = iter(values)
    return map_blocks_text(
        source,
        lambda name, content: next(remaining) if name == "eval" else f"{{{name}}}`{content}`",
    )


HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def headings_above(notebook: NotebookNode) -> list[str]:
    """For each cell, the last Markdown heading before it ("" for none): the sub-task it is in."""
    found, heading = [], ""
    for cell in notebook.cells:
        found.append(heading)
        if cell.cell_type == "markdown" and (own := HEADING.findall(cell.source)):
            heading = own[-1]
    return found


def cell_names(notebook: NotebookNode) -> list[str]:
    """How error messages name each cell: its index and its first heading, or the one above."""
    names = []
    for index, (cell, above) in enumerate(
        zip(notebook.cells, headings_above(notebook), strict=True)
    ):
        own = HEADING.search(cell.source)
        if own and cell.cell_type == "markdown":
            names.append(f'cell {index} ("{own[1]}")')
        else:
            names.append(f'cell {index} (under "{above}")' if above else f"cell {index}")
    return names


@dataclass(frozen=True)
class Unevaluated:
    """An ``{eval}`` role whose expression raised: the heading it is under, the expression, and
    the error ("IndexError: list index out of range")."""

    heading: str
    expression: str
    error: str


class MystExecutePreprocessor(ExecutePreprocessor):
    """Runs the notebook like ExecutePreprocessor and fills in the ``{eval}`` roles.

    On reaching a Markdown cell, the expressions of its ``{eval}`` roles are evaluated in the
    live kernel through an execute request's ``user_expressions`` (as jupyterlab-myst does),
    and each role is replaced by the value's text. A value that cannot be shown as text, or a
    malformed role, stops the run with a MystError naming the cell and the expression; so does
    an expression that raises, unless `mark_errors`: it then shows as a bold "cannot be computed
    for these results" with the error (where JupyterLab shows the error in red) and is listed
    in `unevaluated`; a {table} whose body, one {eval}, gives no pipe table becomes a table of
    one cell that shows the value (`keep_tables`). `running` is the index of the cell that runs
    (or ran last).
    """

    mark_errors = Bool(
        False, help="an {eval} that raises is marked in its sentence and listed, not an error"
    ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None) -> Any:
        self._cell_names = cell_names(nb)
        self._headings = headings_above(nb)
        self.unevaluated: list[Unevaluated] = []
        self.running = 0
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int) -> Any:
        self.running = index
        if cell.cell_type != "markdown":
            return super().preprocess_cell(cell, resources, index)
        heading = HEADING.search(cell.source)
        try:
            wanted = expressions(cell.source)
            if wanted:
                results = self.evaluate(wanted)
                shown = []
                for expression, result in zip(wanted, results, strict=True):
                    if self.mark_errors and result.get("status") != "ok":
                        error = f"{result.get('ename')}: {result.get('evalue')}"
                        where = heading[1] if heading else self._headings[index]
                        self.unevaluated.append(Unevaluated(where, expression, error))
                        shown.append(unevaluated_mark(expression, error))
                    else:
                        shown.append(shown_text(expression, result))
                source = substitute(cell.source, shown)
                if self.mark_errors:
                    source = self.keep_tables(
                        cell.source, source, heading[1] if heading else self._headings[index]
                    )
                cell.source = source
        except MystError as exc:
            raise MystError(f"{self._cell_names[index]}: {exc}") from None
        return cell, self.resources

    def keep_tables(self, source: str, shown: str, heading: str) -> str:
        """`shown` (`source` with its values) with each {table} whose body, one {eval} in
        `source`, gives no pipe table (a value that cannot be computed) made a table of one
        cell that shows the value, so that the table keeps its number; such a role is listed
        in `unevaluated`."""
        before, after = parse_blocks(source), parse_blocks(shown)
        changed = False
        for written, table in zip(before, after, strict=True):
            if not (isinstance(table, Directive) and isinstance(written, Directive)):
                continue
            if table.name != "table":
                continue
            role = ONE_ROLE.fullmatch(written.body.strip())
            if role is None or role["name"] != "eval":
                continue
            try:
                parse_pipe_table(table.body, table.argument)
            except MystError:
                self.unevaluated.append(Unevaluated(heading, role["content"], "gives no table"))
                value = " ".join(table.body.split())
                table.body = "| |\n|:--|\n| " + UNESCAPED_BAR.sub(r"\\|", value) + " |"
                changed = True
        return join_blocks(after) if changed else shown

    def evaluate(self, wanted: list[str]) -> list[dict[str, Any]]:
        """user_expressions results for the expressions `wanted`, in order."""
        assert self.kc is not None
        names = {str(i): expression for i, expression in enumerate(wanted)}
        msg_id = self.kc.execute("", silent=True, user_expressions=names, allow_stdin=False)
        reply = self.wait_for_reply(msg_id)
        if reply is None or reply["content"]["status"] != "ok":
            raise MystError("the kernel did not evaluate the {eval} roles")
        results = reply["content"]["user_expressions"]
        return [results[str(i)] for i in range(len(wanted))]


# ---------------------------------------------------------------- translation


@dataclass
class Target:
    """A label and what a reference to it shows: ("figure", 2) is Figure 2."""

    kind: str
    number: int


@dataclass
class References:
    """The labels of a notebook: equations, figures and tables."""

    targets: dict[str, Target] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, label: str | None) -> int:
        """Count one more `kind`; record `label` for it if given; return its number."""
        number = self.counts[kind] = self.counts.get(kind, 0) + 1
        if label is not None:
            if not LABEL.match(label):
                raise MystError(f"the label {label!r} is not a letter then letters, digits, -_:.")
            if label in self.targets:
                raise MystError(f"the label {label!r} is used twice")
            self.targets[label] = Target(kind, number)
        return number


def equation_environments(text: str) -> Iterator[re.Match[str]]:
    """The math environments and $$ displays of a text block."""
    for match in INLINE.finditer(text):
        if match["env"] or match["display"]:
            yield match


def collect_references(notebook: NotebookNode) -> References:
    """Every label of the notebook's Markdown cells, numbered in order of appearance."""
    references = References()
    names = cell_names(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            continue
        try:
            for block in parse_blocks(cell.source):
                if isinstance(block, str):
                    for match in equation_environments(block):
                        labels = EQUATION_LABEL.findall(match.group())
                        if match["env"] and match["env_name"].endswith("*"):
                            continue
                        references.add("equation", labels[0] if labels else None)
                elif isinstance(block, Directive) and block.name in ("figure", "table"):
                    references.add(block.name, block.options.get("name"))
                elif isinstance(block, Directive) and block.name == "math":
                    references.add("equation", block.options.get("label"))
        except MystError as exc:
            raise MystError(f"{names[index]}: {exc}") from None
    return references


MULTILINE_ENVIRONMENTS = ("align", "gather", "alignat", "flalign")
NESTED_ENVIRONMENT = re.compile(r"\\begin\{(\w+)\}.*?\\end\{\1\}", re.DOTALL)


def check_equation(source: str, name: str) -> None:
    """MystError unless the environment `name` gets one number, as jupyterlab-myst gives it."""
    labels = EQUATION_LABEL.findall(source)
    if len(labels) > 1:
        raise MystError(f"one equation has two labels: {', '.join(labels)}")
    if name in MULTILINE_ENVIRONMENTS:
        inner = source[source.index("}") + 1 : source.rindex("\\end")]
        inner = NESTED_ENVIRONMENT.sub("", inner)
        rows = [row for row in re.split(r"\\\\", inner) if row.strip()]
        numbered = [row for row in rows if not re.search(r"\\(nonumber|notag)\b", row)]
        if len(numbered) > 1:
            raise MystError(
                f"an {name} environment numbers {len(numbered)} lines in LaTeX but one in "
                "jupyterlab-myst: put \\nonumber on all lines but the labelled one"
            )


@dataclass
class Translator:
    """Rewrites one notebook's MyST constructs for pandoc (latex) or mistune (html)."""

    target: str
    references: References
    base: Path
    path_prefixes: dict[str, Path]
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def markdown(self, source: str) -> str:
        blocks = parse_blocks(source)
        return join_blocks([self.block(block) for block in blocks])

    def block(self, block: Block) -> Block:
        if isinstance(block, Code):
            return block
        if isinstance(block, str):
            return self.text(block)
        self.counts[block.name] = self.counts.get(block.name, 0) + 1
        if block.name == "figure":
            return self.figure(block)
        if block.name == "table":
            return self.table(block)
        if block.name == "math":
            label = block.options.get("label")
            return self.text(
                "\\begin{equation}"
                + (f"\\label{{{label}}}" if label else "")
                + f"\n{block.body}\n\\end{{equation}}"
            )
        raise MystError(f"the directive {{{block.name}}} is not one the export knows")

    def text(self, text: str) -> str:
        """Display math numbered as in jupyterlab-myst, references resolved."""
        for match in equation_environments(text):
            token = match.group()
            if match["display_label"]:
                raise MystError(
                    f"jupyterlab-myst does not read the label of `{token[-40:].strip()}`: "
                    "write \\begin{equation}\\label{...} ... \\end{equation}"
                )
            if match["env"]:
                check_equation(token, match["env_name"])
        text = INLINE.sub(self.display_as_equation, text)
        for reference in LATEX_REFERENCE.finditer(text):
            # Exported fine, but shown as an error in JupyterLab: tell, do not stop.
            self.warnings.append(
                f"`{text[reference.start() : reference.start() + 30]}`: jupyterlab-myst shows "
                "LaTeX references as errors; use {eq}`label` or {numref}`label`"
            )
        return map_roles(text, self.role)

    @staticmethod
    def display_as_equation(match: re.Match[str]) -> str:
        if not match["display"]:
            return match.group()
        return "\\begin{equation}" + match.group()[2:-2] + "\\end{equation}"

    def role(self, name: str, content: str) -> str:
        label = content.strip()
        if name == "eval":
            raise MystError(f"{{eval}}`{content}` was not evaluated: run MystExecutePreprocessor")
        if name not in ("eq", "numref"):
            raise MystError(f"the role {{{name}}} is not one the export knows")
        target = self.references.targets.get(label)
        wanted = ("equation",) if name == "eq" else ("figure", "table")
        if target is None or target.kind not in wanted:
            raise MystError(
                f"{{{name}}}`{content}`: no {' or '.join(wanted)} is labelled {label!r}"
            )
        if name == "eq":
            return f"$\\eqref{{{label}}}$"
        kind = target.kind.capitalize()
        if self.target == "latex":
            return f"{kind}\\ \\ref{{{label}}}"
        return f"{kind}&nbsp;{target.number}"

    # ------------------------------------------------------------ figures

    def image_path(self, written: str) -> Path:
        """The file of a figure's path as written, relative to the notebook or a prefix."""
        first, _, rest = written.partition("/")
        path = (
            self.path_prefixes[first] / rest if first in self.path_prefixes else self.base / written
        )
        if not path.is_file():
            raise MystError(f"the figure {written} is missing (looked for {path})")
        if self.target == "latex" and path.suffix.lower() == ".png":
            vector = path.with_suffix(".pdf")
            if vector.is_file():
                return vector
        return path

    def figure(self, figure: Directive) -> str:
        if not figure.argument:
            raise MystError("a {figure} needs the image path after it")
        caption = figure.body.strip()
        if not caption or "\n\n" in caption:
            raise MystError(f"the {{figure}} {figure.argument} needs a caption of one paragraph")
        unknown = set(figure.options) - {"name", "width", "align", "alt"}
        if unknown:
            raise MystError(f"the {{figure}} {figure.argument} has unknown options {unknown}")
        width = figure.options.get("width", "")
        if width and not re.fullmatch(r"\d+(\.\d+)?%", width):
            raise MystError(f"the {{figure}} {figure.argument}: :width: must be a percentage")
        path = self.image_path(figure.argument)
        caption = self.text(caption)
        name = figure.options.get("name")
        if self.target == "latex":
            attributes = " ".join([f"#{name}"] * bool(name) + [f"width={width}"] * bool(width))
            attributes = f"{{{attributes}}}" if attributes else ""
            return f"\n![{caption}](<{path.as_posix()}>){attributes}\n"
        mime = mimetypes.guess_type(path.name)[0] or "image/png"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        style = f' style="width: {width}"' if width else ' style="max-width: 100%"'
        number = self.counts["figure"]
        caption_html = inline_html(caption)
        identifier = f' id="{name}"' if name else ""
        return (
            f'\n<figure{identifier} style="text-align: center; margin: 1em auto;">\n'
            f'<img src="data:{mime};base64,{data}" alt="Figure {number}"{style}>\n'
            f"<figcaption><strong>Figure {number}:</strong> {caption_html}</figcaption>\n"
            "</figure>\n"
        )

    # ------------------------------------------------------------ tables

    def table(self, table: Directive) -> str:
        caption = self.text(table.argument.strip())
        if not caption:
            raise MystError("a {table} needs a caption after it")
        header, alignments, rows = parse_pipe_table(self.text(table.body), caption)
        name = table.options.get("name")
        if self.target == "html":
            number = self.counts["table"]
            lines = [header, ["-" * 3] * len(header), *rows]
            rules = {"l": ":--", "c": ":-:", "r": "--:"}
            lines[1] = [rules[a] for a in alignments]
            body = "\n".join("| " + " | ".join(line) + " |" for line in lines)
            return f"\n**Table {number}:** {caption}\n\n{body}\n"
        return latex_table(caption, name, header, alignments, rows)


def inline_html(markdown: str) -> str:
    """HTML for one paragraph of Markdown (math left to MathJax), without the <p>."""
    html = markdown2html_mistune(markdown).strip()
    html = re.sub(r"^<p>(.*)</p>$", r"\1", html, flags=re.DOTALL)
    return re.sub(r"\n\s*\n", "\n", html)


PIPE_CELL = re.compile(r"(?:\\.|\$[^$]*\$|`[^`]*`|[^|\\$`])+")


def split_row(line: str) -> list[str]:
    """The cells of one pipe-table row (a | inside math, code or escaped does not split)."""
    line = line.strip()
    if not (line.startswith("|") and line.endswith("|")):
        raise MystError(f"the table row `{line[:40]}` must start and end with |")
    cells, current = [], ""
    for piece in re.findall(r"\\.|\$[^$]*\$|`[^`]*`|\||[^|\\$`]+|[\\$`]", line[1:-1]):
        if piece == "|":
            cells.append(current.strip())
            current = ""
        else:
            current += piece
    cells.append(current.strip())
    return cells


def parse_pipe_table(body: str, caption: str) -> tuple[list[str], list[str], list[list[str]]]:
    """(header, alignments l/c/r, rows) of the pipe table that is a {table}'s whole body."""
    lines = [line for line in body.strip().split("\n") if line.strip()]
    if len(lines) < 2 or not re.fullmatch(r"[|:\-\s]+", lines[1]):
        raise MystError(f"the body of the {{table}} '{caption[:40]}' is not a pipe table")
    header = split_row(lines[0])
    rules = split_row(lines[1])
    alignments = [
        "c" if r.startswith(":") and r.endswith(":") else "r" if r.endswith(":") else "l"
        for r in rules
    ]
    rows = [split_row(line) for line in lines[2:]]
    for row in [rules, *rows]:
        if len(row) != len(header):
            raise MystError(
                f"the {{table}} '{caption[:40]}' has a row of {len(row)} cells "
                f"under a header of {len(header)}"
            )
    return header, alignments, rows


# About as many characters as a line of the PDF's \small table text holds.
TABLE_LINE_CHARACTERS = 90
# Columns with longer entries wrap when the table is wider than a line.
WRAP_FROM_CHARACTERS = 20
CELL_BREAK = "MYSTEXPORTCELLBREAK"


def latex_table(
    caption: str, name: str | None, header: list[str], alignments: list[str], rows: list[list[str]]
) -> str:
    """A raw LaTeX table (kept where it stands, never split across pages) for pandoc's Markdown."""
    cells = [caption, *header, *(cell for row in rows for cell in row)]
    converted = pandoc(
        f"\n\n{CELL_BREAK}\n\n".join(cell or "{}" for cell in cells),
        "markdown+tex_math_double_backslash",
        "latex",
        extra_args=["--wrap=none"],
    )
    latex = [part.strip() for part in converted.split(CELL_BREAK)]
    latex = [part if part != "\\{\\}" else "" for part in latex]
    if len(latex) != len(cells):
        raise MystError(f"the cells of the {{table}} '{caption[:40]}' did not convert to LaTeX")
    caption_latex, latex = latex[0], latex[1:]
    width = len(header)
    header_latex = latex[:width]
    rows_latex = [latex[i : i + width] for i in range(width, len(latex), width)]
    longest = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    wide = sum(longest) + 2 * width > TABLE_LINE_CHARACTERS
    wrapping = [wide and n >= WRAP_FROM_CHARACTERS for n in longest]
    columns = []
    wrapped_total = sum(n for n, wraps in zip(longest, wrapping, strict=True) if wraps)
    count = sum(wrapping)
    for alignment, n, wraps in zip(alignments, longest, wrapping, strict=True):
        if not wraps:
            columns.append(alignment)
            continue
        # X columns share the width left by the others, in proportion to their longest entry.
        share = count * n / wrapped_total
        ragged = {"l": "\\raggedright", "c": "\\centering", "r": "\\raggedleft"}[alignment]
        columns.append(f">{{{ragged}\\arraybackslash\\hsize={share:.3f}\\hsize}}X")
    spec = "@{}" + "".join(columns) + "@{}"
    environment = "tabularx" if any(wrapping) else "tabular"
    width_argument = "{\\linewidth}" if any(wrapping) else ""
    label = f"\\label{{{name}}}" if name else ""
    lines = [
        # Here, after the sentences that lead to it: a table is small, and one that floated away
        # would leave its answer's last sentence pointing at a page further on.
        "\\begin{table}[H]",
        "\\centering",
        "\\small",
        f"\\caption{{{caption_latex}}}{label}",
        f"\\begin{{{environment}}}{width_argument}{{{spec}}}",
        "\\toprule",
        " & ".join(header_latex) + " \\\\",
        "\\midrule",
        *(" & ".join(row) + " \\\\" for row in rows_latex),
        "\\bottomrule",
        f"\\end{{{environment}}}",
        "\\end{table}",
    ]
    return "\n" + "\n".join(lines) + "\n"


class MystTranslatePreprocessor(Preprocessor):
    """Turns the MyST subset of the Markdown cells into pandoc's (latex) or mistune's (html)."""

    target = Enum(TARGETS, default_value="latex", help="the exporter's Markdown").tag(config=True)
    path_prefixes = Dict(
        help="first folder of a figure path -> the folder it stands for (figures -> FIGURES_DIR)"
    ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> Any:
        base = Path((resources or {}).get("metadata", {}).get("path") or ".")
        translator = Translator(
            self.target,
            collect_references(nb),
            base,
            {key: Path(value) for key, value in self.path_prefixes.items()},
        )
        for index, name in enumerate(cell_names(nb)):
            cell = nb.cells[index]
            if cell.cell_type != "markdown":
                continue
            try:
                cell.source = translator.markdown(cell.source)
            except MystError as exc:
                raise MystError(f"{name}: {exc}") from None
            for warning in translator.warnings:
                self.log.warning("%s: %s", name, warning)
            translator.warnings.clear()
        return nb, resources
