"""Jupyter's own exports give the report (reporting/jupyter_export.py): `jupyter nbconvert --to
pdf` and `--to html` from the project's top folder, and the export menus of JupyterLab and
Notebook 7 in headless Chromium, against --quick results, compared with what build_report.py
writes from the same results; any other notebook converts as nbconvert converts it.

The quick results are accepted through the preprocessor's `allow_quick` option, set in Jupyter
configuration files, as `build_report.build(allow_quick=True)` accepts them; a student's
exports refuse them.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import nbformat
import pytest
from conftest import PLANTED_TEST_ACCURACY
from jupyter_browser import STARTUP_SECONDS, headless_chromium, jupyter_server, wait_until
from jupyter_core.paths import jupyter_config_path
from jupyter_server.extension.config import ExtensionConfigManager
from nbconvert.exporters import get_exporter
from nbconvert.nbconvertapp import NbConvertApp
from selenium import webdriver
from selenium.webdriver.common.by import By
from test_model_answer import pdf_pages
from test_notebook_browser import MARKDOWN_CELL, STDERR
from traitlets.config import Config

from reporting import build_report, jupyter_export
from reporting import report_helpers as rh
from support import outputs

FIXTURE = Path(__file__).parent / "fixtures" / "myst_sample.ipynb"
CONFIG = outputs.REPO / "reporting" / "jupyter_config"
# Where the project's set-up puts CONFIG in the environment (pyproject.toml's shared-data).
INSTALLED = {
    "jupyter_nbconvert_config.py": Path("etc", "jupyter"),
    "mnist_from_scratch.json": Path("etc", "jupyter", "jupyter_server_config.d"),
}
EXPORT_SECONDS = 300


def jupyter(
    *arguments: str, env: dict[str, str] | None = None, cwd: Path = outputs.REPO
) -> subprocess.CompletedProcess:
    """The environment's `jupyter` command, run in `cwd` (the project's top folder)."""
    command = shutil.which("jupyter", path=str(Path(sys.executable).parent))
    assert command, f"no jupyter command beside {sys.executable}"
    return subprocess.run(
        [command, *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=EXPORT_SECONDS,
    )


def code_lines(notebook_path: Path) -> list[str]:
    """The lines of the notebook's code cells long enough to be told apart from prose."""
    notebook = nbformat.read(notebook_path, as_version=4)
    return [
        line.strip()
        for cell in notebook.cells
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if len(line.strip()) >= 30
    ]


def one_line(text: str) -> str:
    return " ".join(text.split())


def accept_quick_results(config_dir: Path) -> Path:
    """`config_dir`, with the Jupyter configuration under which `jupyter nbconvert` and the
    Jupyter server build the report from quick results."""
    config_dir.mkdir(parents=True, exist_ok=True)
    accept = json.dumps({"ReportPreprocessor": {"allow_quick": True}})
    for app in ("nbconvert", "server"):
        (config_dir / f"jupyter_{app}_config.json").write_text(accept, encoding="utf-8")
    return config_dir


@pytest.fixture(scope="module")
def quick_env(
    quick_results: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The environment pointed at the quick results, and at Jupyter configuration that accepts
    them (also for this process, for the module)."""
    figures, results = quick_results
    config = accept_quick_results(tmp_path_factory.mktemp("jupyter-config"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FIGURES_DIR", str(figures))
        patch.setenv("RESULTS_DIR", str(results))
        patch.setenv("JUPYTER_CONFIG_DIR", str(config))
        yield dict(os.environ)


@pytest.fixture(scope="module")
def built_pdf(quick_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The pages of the report.pdf that build_report.py writes from the quick results."""
    path = tmp_path_factory.mktemp("built") / "report.pdf"
    build_report.build(path, allow_quick=True)
    return pdf_pages(path)


def nbconvert_config() -> Config:
    """The configuration that `jupyter nbconvert` reads from its configuration files."""
    app = NbConvertApp()
    app.load_config_file()
    return app.config


def test_the_set_up_puts_the_exports_into_the_environments_jupyter_configuration() -> None:
    # The project is installed in editable mode from this folder (requirements.txt: -e .).
    files = importlib.metadata.distribution("mnist-from-scratch").files or []
    direct_url = next((f for f in files if f.name == "direct_url.json"), None)
    installed = json.loads(direct_url.read_text(encoding="utf-8") if direct_url else "{}")
    assert installed.get("dir_info", {}).get("editable"), installed
    folder = Path(url2pathname(urlparse(installed["url"]).path))
    assert folder.resolve() == outputs.REPO.resolve(), (
        f"the environment's install of the project is {folder}'s: pip install -r requirements.txt"
    )
    for name, folder in INSTALLED.items():
        copy = Path(sys.prefix, folder, name)
        assert copy.read_bytes() == (CONFIG / name).read_bytes(), copy
    # nbconvert reads the configuration: its exporters look in the project's templates first.
    exporter = get_exporter("pdf")(config=nbconvert_config())
    assert str(jupyter_export.TEMPLATES) in exporter.extra_template_basedirs
    assert exporter.template_paths[0] == str(jupyter_export.TEMPLATES / "latex")
    # The Jupyter server loads the extension that gives it the same configuration.
    manager = ExtensionConfigManager(read_config_path=jupyter_config_path())
    assert manager.get_jpserver_extensions().get("reporting.jupyter_export") is True


@pytest.mark.slow
@pytest.mark.parametrize("caller", ["the project folder", "VS Code"])
def test_jupyter_nbconvert_to_pdf_writes_the_report(
    caller: str, quick_env: dict[str, str], built_pdf: list[str], tmp_path: Path
) -> None:
    """`jupyter nbconvert --to pdf report.ipynb` as a student types it, and as VS Code's Export
    runs it: on a copy of the notebook in a temporary folder, from elsewhere."""
    if caller == "VS Code":
        copy = tmp_path / "source" / "report.ipynb"
        copy.parent.mkdir()
        shutil.copy(build_report.NOTEBOOK, copy)
        arguments = [str(copy), "--to", "pdf", "--output", "exported.pdf", "--debug"]
        arguments.append(f"--output-dir={tmp_path}")
        result = jupyter("nbconvert", *arguments, env=quick_env, cwd=tmp_path)
        written = tmp_path / "exported.pdf"
    else:
        arguments = ["--to", "pdf", "report.ipynb", f"--output-dir={tmp_path}"]
        result = jupyter("nbconvert", *arguments, env=quick_env)
        written = tmp_path / "report.pdf"
    assert result.returncode == 0, result.stderr[-3000:]
    pages = pdf_pages(written)
    text = one_line("\n".join(pages))
    assert "{eval}" not in text and rh.percent(PLANTED_TEST_ACCURACY) in text
    assert not [line for line in code_lines(build_report.NOTEBOOK) if line in text]
    assert "not hold for these results: revise" in text  # the box (quick runs fail statements)
    assert len(pages) == len(built_pdf)
    assert pages == built_pdf  # the same document, page by page


@pytest.mark.slow
def test_jupyter_nbconvert_to_html_writes_the_report(
    quick_env: dict[str, str], tmp_path: Path
) -> None:
    arguments = ["--to", "html", "report.ipynb", f"--output-dir={tmp_path}"]
    result = jupyter("nbconvert", *arguments, env=quick_env)
    assert result.returncode == 0, result.stderr[-3000:]
    built = build_report.build(tmp_path / "built.html", html=True, allow_quick=True)
    exported = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "{eval}" not in exported and rh.percent(PLANTED_TEST_ACCURACY) in exported

    # The local MathJax's path: the same file, which two processes may spell differently when
    # the environment is reached through a symbolic link.
    def mathjax_elsewhere(html: str) -> str:
        return re.sub(r'src="file:[^"]*/MathJax\.js', 'src="MathJax.js', html)

    assert mathjax_elsewhere(exported) == mathjax_elsewhere(built.read_text(encoding="utf-8"))


def test_other_notebooks_convert_as_nbconvert_converts_them() -> None:
    """Without the report's mark, a notebook is nbconvert's own rendering of its cells: the same
    as without the project's configuration."""
    sample = nbformat.read(FIXTURE, as_version=4)
    for kind in ("html", "latex"):
        exporter = get_exporter(kind)
        made, _ = exporter(config=nbconvert_config()).from_notebook_node(sample)
        assert made == exporter().from_notebook_node(sample)[0], kind
        # The raw roles (in LaTeX with escaped braces): nobody built this notebook.
        assert re.search(r"\\?\{eval\\?\}", made), kind


def test_the_report_is_only_built_by_the_templates_that_write_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The slides build on the lab template but write the cells: the report is never run for
    them, so they need no results (here there are none)."""
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "no-results"))
    report = nbformat.read(build_report.NOTEBOOK, as_version=4)
    slides, _ = get_exporter("slides")(config=nbconvert_config()).from_notebook_node(report)
    assert "{eval}" in slides


def test_a_report_that_cannot_be_built_is_named_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "RESULTS_DIR": str(tmp_path / "no-results")}
    result = jupyter(
        "nbconvert", "--to", "pdf", "report.ipynb", f"--output-dir={tmp_path}", env=env
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert re.search(
        r"the report cannot be built: .*task2\.json is missing; run `make figures`", errors[0]
    ), result.stderr[-3000:]
    assert not list(tmp_path.glob("*.pdf"))


# ---------------------------------------------------------------- the export menus, in a browser

APPS = {"JupyterLab": ("jupyterlab", "lab/tree"), "Notebook 7": ("notebook", "notebooks")}


@pytest.fixture(params=sorted(APPS))
def server(
    request: pytest.FixtureRequest, tmp_path: Path, quick_results: tuple[Path, Path]
) -> Iterator[tuple[str, Path]]:
    """JupyterLab or Notebook 7 from this environment, on a copy of report.ipynb with the quick
    results, as `make notebook` starts it (no PYTHONPATH: the project's install finds the code).
    Returns (URL of the notebook, with its token; the log)."""
    module, page = APPS[request.param]
    figures, results = quick_results
    root = tmp_path / "root"
    root.mkdir()
    shutil.copytree(figures, root / "figures")
    shutil.copy(build_report.NOTEBOOK, root)
    config = accept_quick_results(tmp_path / "jupyter-config")
    # Every cell rendered, not only those in view, so that the whole text can be read.
    tracker = config / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(
        '{"windowingMode": "none"}', encoding="utf-8"
    )
    env = {
        **os.environ,
        "FIGURES_DIR": str(figures),
        "RESULTS_DIR": str(results),
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    env.pop("PYTHONPATH", None)
    log = tmp_path / "server.log"
    with jupyter_server(request.param, module, root, env, log, []) as (base, token):
        yield f"{base}/{page}/{build_report.NOTEBOOK.name}?token={token}", log


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def browser(tmp_path: Path, downloads: Path) -> Iterator[webdriver.Chrome]:
    """Headless Chromium that saves downloads into `downloads` without asking."""
    prefs = {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    with headless_chromium(tmp_path / "chromium-profile", prefs=prefs) as driver:
        yield driver


def choose(driver: webdriver.Chrome, *path: str) -> None:
    """Click through the menu bar: the menu path[0], then each item of path[1:] by its label."""
    bar = [
        e for e in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item") if e.text == path[0]
    ]
    assert bar, f"no menu {path[0]!r}"
    bar[0].click()
    for label in path[1:]:
        time.sleep(0.5)  # the menu opens
        items = [
            e
            for e in driver.find_elements(By.CSS_SELECTOR, ".lm-Menu-itemLabel")
            if e.text == label
        ]
        assert items, f"no menu item {label!r} under {path[0]!r}"
        items[-1].click()  # the innermost menu's, should an outer one have the same label


@pytest.mark.slow
def test_the_export_menus_give_the_report(
    server: tuple[str, Path],
    browser: webdriver.Chrome,
    downloads: Path,
    built_pdf: list[str],
    tmp_path: Path,
) -> None:
    """Open the notebook, run all its cells (the MyST rendered as in JupyterLab: every {eval}
    value shown), then File > Save and Export Notebook As > PDF: the download is the report."""
    url, log = server
    browser.get(url)
    planted = rh.percent(PLANTED_TEST_ACCURACY)

    def rendered() -> str:
        return "\n".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, MARKDOWN_CELL))

    try:
        wait_until(
            lambda: (
                "Overview" in rendered()
                and browser.find_elements(By.CSS_SELECTOR, ".jp-Notebook-cell")
            ),
            STARTUP_SECONDS,
            "the notebook did not open",
            log,
        )
        choose(browser, "Run", "Run All Cells")
        wait_until(lambda: planted in rendered(), EXPORT_SECONDS, "the values did not show", log)
        widgets = browser.find_elements(By.CSS_SELECTOR, f"{MARKDOWN_CELL} .myst")
        html = "\n".join(widget.get_attribute("innerHTML") for widget in widgets)
        assert "Unexecuted inline expression" not in html and "{eval}" not in rendered()
        assert not browser.find_elements(By.CSS_SELECTOR, STDERR)
        choose(browser, "File", "Save and Export Notebook As", "PDF")
        report = downloads / "report.pdf"
        wait_until(
            lambda: report.exists() and not list(downloads.glob("*.crdownload")),
            EXPORT_SECONDS,
            "no report.pdf was downloaded",
            log,
        )
    finally:
        browser.save_screenshot(str(tmp_path / "window.png"))
    assert pdf_pages(report) == built_pdf
