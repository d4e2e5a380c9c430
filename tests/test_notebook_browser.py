"""The report's MyST Markdown in a real browser: JupyterLab with jupyterlab-myst, and report.html.

A copy of tests/fixtures/myst_sample.ipynb, pointed at quick results, is opened in JupyterLab
in headless Chromium (Debian's chromium and chromium-driver); all cells are run as a person
would run them, and the rendered page is checked: the {eval} values (one planted in the
results), numbered equation references, figure and table captions, no errors or stderr, and no
formula broken into a list item.
Screenshots go to the test's temporary folder (`screenshots/`). The exported report.html of
the same notebook is checked offline in the same browser: MathJax typesets its formulas.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from jupyter_browser import STARTUP_SECONDS, headless_chromium, jupyter_server, wait_until
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from reporting import build_report
from reporting import report_helpers as rh
from reporting.myst_export import Directive, parse_blocks
from support import outputs

# JupyterLab and Chromium started for each notebook: about a minute (`make test-slow`).
pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).parent / "fixtures" / "myst_sample.ipynb"
# The notebooks opened in JupyterLab: the report, and a small sample of every MyST construct.
NOTEBOOKS = {"report": build_report.NOTEBOOK, "sample": FIXTURE}
RUN_SECONDS = 120

# Selectors: a rendered Markdown cell; any stderr or error output, which JupyterLab renders with
# the stderr MIME type (tracebacks, warnings, progress bars, jupyterlab-myst's {eval} errors).
MARKDOWN_CELL = ".jp-Notebook .jp-MarkdownCell"
STDERR = '[data-mime-type="application/vnd.jupyter.stderr"]'
# Inline math with a line that starts like a list item: CommonMark ends the paragraph there, and
# JupyterLab shows the rest of the formula as raw TeX in a bullet. myst_export.py refuses it;
# the sample test opens it to show that the check for raw TeX in list items can fail.
LIST_ITEM_TRAP = (
    "The gradient $\\frac{\\partial J}{\\partial w} = \\frac{\\partial C}{\\partial w}\n"
    "+ \\lambda w$ of the cost."
)


@pytest.fixture(params=sorted(NOTEBOOKS))
def lab(
    request: pytest.FixtureRequest, tmp_path: Path, quick_results: tuple[Path, Path]
) -> Iterator[tuple[str, str, Path]]:
    """JupyterLab serving a copy of a notebook of NOTEBOOKS: (base URL, token, notebook copy).

    The copy reads the quick results, and finds their figures beside it, in figures/.
    """
    figures, results = quick_results
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copytree(figures, root / "figures")
    notebook = root / NOTEBOOKS[request.param].name
    shutil.copy(NOTEBOOKS[request.param], notebook)
    # No "Jupyter news?" toast over the page, no update check.
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}', encoding="utf-8"
    )
    # Every cell rendered, not only those in view, so that the whole text can be read.
    notebook_settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    notebook_settings.mkdir(parents=True)
    (notebook_settings / "tracker.jupyterlab-settings").write_text(
        '{"windowingMode": "none"}', encoding="utf-8"
    )
    env = {
        **os.environ,
        "FIGURES_DIR": str(root / "figures"),
        "RESULTS_DIR": str(results),
        "PYTHONPATH": str(outputs.REPO),  # the kernel imports report_helpers
        # Nothing from the user's Jupyter or IPython set-up, nothing kept afterwards.
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    options = [
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to run all cells
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    log = tmp_path / "jupyterlab.log"
    with jupyter_server("JupyterLab", "jupyterlab", root, env, log, options) as (base, token):
        yield base, token, notebook


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """Headless Chromium, with a fresh profile and no background traffic."""
    quiet = ("--disable-background-networking", "--disable-component-update", "--disable-sync")
    with headless_chromium(tmp_path / "chromium-profile", quiet) as driver:
        yield driver


def screenshots(driver: webdriver.Chrome, folder: Path, selector: str) -> list[Path]:
    """One screenshot per element matching `selector`, scrolled into view, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, element in enumerate(driver.find_elements(By.CSS_SELECTOR, selector)):
        driver.execute_script("arguments[0].scrollIntoView();", element)
        time.sleep(0.3)
        path = folder / f"cell-{index:02d}.png"
        element.screenshot(str(path))
        paths.append(path)
    return paths


def raw_tex_in_list_items(driver: webdriver.Chrome) -> list[str]:
    """The text of each rendered list item that shows TeX source (a backslash command or a $)
    outside its typeset formulas (KaTeX keeps the source of those in hidden MathML)."""
    texts = driver.execute_script(
        f"return Array.from(document.querySelectorAll('{MARKDOWN_CELL} li')).map(item => {{"
        "  const copy = item.cloneNode(true);"
        "  copy.querySelectorAll('.katex, code, pre').forEach(element => element.remove());"
        "  return copy.textContent; });"
    )
    return [text for text in texts if re.search(r"\\[A-Za-z]+|\$", text)]


def test_notebook_runs_and_renders_in_jupyterlab(
    lab: tuple[str, str, Path],
    browser: webdriver.Chrome,
    tmp_path: Path,
    planted_test_accuracy: float,
) -> None:
    base, token, notebook = lab
    shots = tmp_path / "screenshots"
    source = nbformat.read(notebook, as_version=4)
    markdown = [cell.source for cell in source.cells if cell.cell_type == "markdown"]
    browser.get(f"{base}/lab/tree/{notebook.name}?token={token}")

    def kernel_idle() -> bool:
        return bool(
            browser.execute_script(
                "const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                "const kernel = w && w.sessionContext && w.sessionContext.session"
                "  && w.sessionContext.session.kernel;"
                f"return !!(kernel && w.context.path === '{notebook.name}'"
                "  && kernel.status === 'idle' && document.querySelector('.jp-Notebook .jp-Cell'));"
            )
        )

    try:
        wait_until(kernel_idle, STARTUP_SECONDS, "the notebook did not open with an idle kernel")
        browser.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
        planted = rh.percent(planted_test_accuracy)

        def rendered() -> str:
            return "\n".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, MARKDOWN_CELL))

        def all_values_shown() -> bool:
            # jupyterlab-myst shows an {eval} not yet evaluated as "Unexecuted inline expression
            # for: ...", and one that failed as the exception's name and message.
            widgets = browser.find_elements(By.CSS_SELECTOR, f"{MARKDOWN_CELL} .myst")
            html = "\n".join(widget.get_attribute("innerHTML") for widget in widgets)
            text = rendered()
            return (
                planted in text
                and "{eval}" not in text
                and "Unexecuted inline expression" not in html
                and not re.search(r"\b[A-Z]\w*(Error|Exception): ", text)
            )

        # A cell that renders again between finding it and reading it: look again.
        WebDriverWait(
            browser,
            RUN_SECONDS,
            poll_frequency=0.5,
            ignored_exceptions=[StaleElementReferenceException],
        ).until(lambda _: all_values_shown() and kernel_idle())
    except TimeoutException:
        browser.save_screenshot(str(tmp_path / "timeout.png"))
        pytest.fail(f"the {{eval}} values did not all show; page text:\n{rendered()}")
    finally:
        browser.save_screenshot(str(tmp_path / "window.png"))
    time.sleep(1)  # let MathJax/KaTeX and the figures settle before the screenshots
    screenshots(browser, shots, ".jp-Notebook .jp-Cell")

    text = rendered()
    page = browser.find_element(By.CSS_SELECTOR, ".jp-Notebook").text
    # The planted value and the other {eval} values, substituted by the kernel.
    assert planted in text
    assert "{eval}" not in page and "{numref}" not in page and "{eq}" not in page
    # Equation numbers and references resolved across cells (MyST shows (???) otherwise).
    assert "???" not in page
    # Figures and tables with their captions, and no pandoc syntax left over.
    assert "{width" not in page
    directives = [
        block.name
        for cell in markdown
        for block in parse_blocks(cell)
        if isinstance(block, Directive)
    ]
    for kind in ("figure", "table"):
        for number in range(1, directives.count(kind) + 1):
            assert re.search(rf"{kind.capitalize()} {number}\s*:\s*\w", text), (kind, number)
    images = browser.find_elements(By.CSS_SELECTOR, f"{MARKDOWN_CELL} img")
    assert len(images) >= directives.count("figure")
    assert all(browser.execute_script("return arguments[0].naturalWidth", i) > 0 for i in images)
    # No errors, warnings or progress bars anywhere, and every code cell ran.
    assert not browser.find_elements(By.CSS_SELECTOR, STDERR)
    assert not browser.find_elements(By.CSS_SELECTOR, ".katex-error")
    # No formula broken into a list item (a line of inline math that starts with "+ ").
    assert not raw_tex_in_list_items(browser)
    counts = browser.execute_script(
        "return window.jupyterapp.shell.currentWidget.content.widgets"
        "  .filter(cell => cell.model.type === 'code')"
        "  .map(cell => cell.model.executionCount);"
    )
    code_cells = sum(cell.cell_type == "code" for cell in source.cells)
    assert len(counts) == code_cells and all(isinstance(n, int) for n in counts), counts
    # Code folded away where the notebook says so: one click on the placeholder opens it.
    hidden = sum(
        cell.metadata.get("jupyter", {}).get("source_hidden", False) for cell in source.cells
    )
    placeholders = browser.find_elements(By.CSS_SELECTOR, ".jp-CodeCell .jp-InputPlaceholder")
    assert len(placeholders) == hidden
    if notebook.name == build_report.NOTEBOOK.name:
        # On --quick results statements of the model answer do not hold: the box that the first
        # code cell shows lists them, and their sentences carry the mark.
        box = browser.find_element(By.CSS_SELECTOR, ".jp-Notebook .jp-CodeCell .jp-OutputArea")
        assert "not hold for these results: revise" in box.text
        assert "does not hold for these results:" in text
    if notebook.name == FIXTURE.name:  # what the sample says, word for word
        assert f"test accuracy of {planted}" in text
        assert re.search(r"with the\s+gradient \(2\)", text), text
        assert re.search(r"the model of \(1\)", text), text
        assert "(Figure 1)" in text and "Table 1 lists" in text and "Table 2 those" in text
        assert re.search(r"Figure 1\s*:\s*Cross-entropy of logistic regression", text), text
        assert re.search(r"Figure 2\s*:\s*Validation accuracy of softmax", text), text
        assert re.search(r"Table 1\s*:\s*Final results of softmax regression", text), text
        assert re.search(r"Table 2\s*:\s*Softmax regression with L2", text), text
        # The check for raw TeX in list items finds the construct it is there for.
        trap = notebook.with_name("list_item_trap.ipynb")
        trap_notebook = nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_markdown_cell(LIST_ITEM_TRAP)]
        )
        trap_notebook.metadata = source.metadata
        nbformat.write(trap_notebook, trap)
        browser.get(f"{base}/lab/tree/{trap.name}?token={token}")
        wait_until(
            lambda: any("\\lambda w$" in item for item in raw_tex_in_list_items(browser)),
            STARTUP_SECONDS,
            "the trap's formula did not show as raw TeX in a list item",
        )


def test_html_report_typesets_its_formulas_offline(
    browser: webdriver.Chrome,
    tmp_path: Path,
    quick_results: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    figures, results = quick_results
    shutil.copytree(figures, tmp_path / "figures")
    notebook = tmp_path / FIXTURE.name
    shutil.copy(FIXTURE, notebook)
    monkeypatch.setenv("FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("RESULTS_DIR", str(results))
    monkeypatch.setenv("PYTHONPATH", str(outputs.REPO))
    html = build_report.build(
        tmp_path / "report.html", html=True, source=notebook, allow_quick=True
    )
    browser.get(html.as_uri())

    def typeset() -> bool:
        return bool(
            browser.execute_script(
                "return !!(window.MathJax && MathJax.Hub && MathJax.Hub.queue"
                " && MathJax.Hub.queue.pending === 0 && MathJax.Hub.queue.running === 0"
                " && document.querySelector('.MathJax_Display'));"
            )
        )

    wait_until(typeset, 60, "MathJax did not typeset report.html")
    browser.save_screenshot(str(tmp_path / "report-html.png"))
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "Math Processing Error" not in text and "???" not in text
    assert re.search(r"the model of\s+\(1\)", text), text  # MathJax puts lines around (1)
    assert "Figure 1: Cross-entropy" in text and "Table 2: Softmax regression" in text
    # Formulas drawn in MathJax's own font, not left as TeX source.
    assert "\\begin{equation}" not in text and "\\frac" not in text
    fonts = browser.execute_script(
        "return Array.from(document.fonts).filter(f => f.status === 'loaded')"
        ".map(f => f.family).join(' ');"
    )
    assert "STIXMathJax" in fonts, fonts
