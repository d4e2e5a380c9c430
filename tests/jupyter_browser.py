"""What the browser tests share: a Jupyter server started and stopped for one test, headless
Chromium (Debian's chromium and chromium-driver), and polling with a time limit.

Used by test_notebook_browser.py (JupyterLab runs the notebook) and test_jupyter_export.py (the
export menus of JupyterLab and Notebook 7).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

BROWSER_PACKAGES = "chromium chromium-driver"
STARTUP_SECONDS = 90


def browser_paths() -> tuple[str, str]:
    """(chromium, chromedriver); fails, naming the install command, when either is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.fail(
            f"the browser test needs Chromium and its driver: apt-get install {BROWSER_PACKAGES}",
            pytrace=False,
        )
    return chromium, driver


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(
    condition: Callable[[], bool], seconds: float, what: str, log: Path | None = None
) -> None:
    """Poll `condition` until it is true; fail after `seconds`, saying `what` did not happen."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    tail = log.read_text(encoding="utf-8", errors="replace")[-3000:] if log and log.exists() else ""
    pytest.fail(f"{what} within {seconds} s\n{tail}", pytrace=False)


def stop_process_tree(process: subprocess.Popen, force: bool = False) -> None:
    """End a server and the kernels it started: its process group on POSIX (it was started in
    a new session), its process tree on Windows."""
    if os.name == "posix":
        os.killpg(process.pid, signal.SIGKILL if force else signal.SIGTERM)
    else:
        command = ["taskkill", "/T", "/PID", str(process.pid)] + ["/F"] * force
        subprocess.run(command, capture_output=True, check=False)


@contextmanager
def jupyter_server(
    name: str, module: str, root: Path, env: dict[str, str], log: Path, options: list[str]
) -> Iterator[tuple[str, str]]:
    """`python -m module` (jupyterlab or notebook) serving `root` on a free local port, with a
    token and the extra command-line `options`; its output goes to `log`. Yields (base URL, token)
    once the server answers, and stops it and its kernels afterwards. `name` is for messages."""
    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable, "-m", module, "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", *options,
    ]  # fmt: skip
    if getattr(os, "getuid", lambda: None)() == 0:  # POSIX only
        command.append("--allow-root")
    with log.open("w", encoding="utf-8") as output:
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            output = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            pytest.fail(f"{name} exited:\n{output}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                return True
        except OSError:
            return False

    try:
        wait_until(ready, STARTUP_SECONDS, f"{name} did not answer", log)
        yield base, token
    finally:
        stop_process_tree(process)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            stop_process_tree(process, force=True)
            process.wait(timeout=10)


@contextmanager
def headless_chromium(
    profile: Path, arguments: tuple[str, ...] = (), prefs: dict[str, object] | None = None
) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a fresh profile in `profile`, extra command-line `arguments` and
    preferences `prefs`; closed afterwards."""
    chromium, driver_path = browser_paths()
    options = Options()
    options.binary_location = chromium
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", f"--user-data-dir={profile}", "--window-size=1280,1600", *arguments,
    ):  # fmt: skip
        options.add_argument(argument)
    if prefs:
        options.add_experimental_option("prefs", prefs)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
