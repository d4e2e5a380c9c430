"""The report through Jupyter's own exports: the document that `python -m reporting.build_report`
writes also comes from

    jupyter nbconvert --to pdf report.ipynb     (and --to html, --to latex)

and from File > Save and Export Notebook As > PDF (or HTML, LaTeX) in JupyterLab and Notebook 7,
which run the same nbconvert exporters in the Jupyter server.

How: the set-up installs this project into its environment (`-e .` in requirements.txt), which
adds two files to the environment's Jupyter configuration (reporting/jupyter_config/):
jupyter_nbconvert_config.py for `jupyter nbconvert`, and the server extension of this module for
the Jupyter server. Both put reporting/nbconvert_templates/ before nbconvert's own templates. Its
latex/ and lab/ (the templates of the pdf and latex exporters, and of html) extend nbconvert's
templates of those names: for a notebook whose metadata marks it as the report
(`"reporting": {"report": true}`), `ReportPreprocessor` hands the template a `Report`, and the
template writes, in place of nbconvert's rendering of the cells, the report as build_report.py
makes it (title block, a fresh kernel against results/, {eval} roles filled, no code). Any other
notebook converts as nbconvert converts it without this project.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from nbconvert.preprocessors import Preprocessor
from nbconvert.utils.exceptions import ConversionException
from nbformat import NotebookNode
from traitlets import Bool, Unicode
from traitlets.config import Config

from reporting import build_report, report_helpers

TEMPLATES = Path(__file__).resolve().parent / "nbconvert_templates"
# Where the preprocessor leaves the report for the template.
DOCUMENT = "report_document"


def is_report(notebook: NotebookNode) -> bool:
    """Whether `notebook`'s metadata marks it as the report."""
    return bool(notebook.metadata.get("reporting", {}).get("report", False))


class ReportPreprocessor(Preprocessor):
    """Marks the report's notebook for the templates of TEMPLATES: resources[DOCUMENT] becomes
    its `Report`, which they write. Other notebooks pass unchanged."""

    target = Unicode("latex", help='the document to make: "latex" (pdf, latex) or "html"').tag(
        config=True
    )
    # Set in a configuration file: nbconvert hands a template's preprocessors the command
    # line's values as strings.
    allow_quick = Bool(False, help="accept results of --quick trial runs (for tests)").tag(
        config=True
    )

    def preprocess(
        self, nb: NotebookNode, resources: dict[str, Any]
    ) -> tuple[NotebookNode, dict[str, Any]]:
        if is_report(nb):
            resources[DOCUMENT] = Report(nb, resources, self)
        return nb, resources


class Report:
    """The report as build_report.py makes it, built when a template asks for it: templates that
    only build on lab's, such as the slides', take the preprocessor along but never run the
    notebook for nothing."""

    def __init__(
        self, notebook: NotebookNode, resources: dict[str, Any], options: ReportPreprocessor
    ) -> None:
        self.notebook, self.resources, self.options = notebook, resources, options

    def build(self) -> str:
        """The LaTeX or HTML of the report; the files it refers to go to resources["outputs"]."""
        log = self.options.log
        folder = Path(self.resources.get("metadata", {}).get("path") or ".").resolve()
        try:
            build_report.check_results(self.options.allow_quick)
            report = build_report.as_report(copy.deepcopy(self.notebook))
            for statement in build_report.run(report, folder):
                log.warning("%s", build_report.describe(statement))
            document, built = build_report.render(report, self.options.target, folder)
        except (build_report.ReportError, report_helpers.MissingResultsError) as exc:
            # One line for the reader: nbconvert logs this exception with its traceback, and
            # the Jupyter server sends its message to the browser.
            log.error("the report cannot be built: %s", exc)
            raise ConversionException(f"the report cannot be built: {exc}") from None
        self.resources["outputs"] = built.get("outputs", {})
        return document


def nbconvert_config() -> Config:
    """The configuration that puts TEMPLATES before nbconvert's own templates."""
    config = Config()
    config.TemplateExporter.extra_template_basedirs.append(str(TEMPLATES))
    return config


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "reporting.jupyter_export"}]


def _link_jupyter_server_extension(serverapp: Any) -> None:
    """Before the server builds its web application, whose nbconvert handler passes the
    server's configuration to the exporters."""
    serverapp.update_config(nbconvert_config())


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """The hook every server extension has; the link above did the work."""
    serverapp.log.info("reporting.jupyter_export: the report's PDF and HTML exports are on")
