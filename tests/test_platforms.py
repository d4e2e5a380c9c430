"""The same behaviour on Linux, macOS and Windows: Windows simulated (tests/windows/), old
Pythons refused in one line before anything is installed, the conda and pip package lists in
step."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import utils
from reporting import check_outputs
from support import outputs, require_python

# The commands a person runs; each checks the Python version before it does anything. The task
# scripts check in utils.run_main, before their `main`; the others import the check first.
TASK_SCRIPTS = ["task2.py", "task3.py", "task4.py", "task5.py"]
COMMANDS = ["bench/bench_training.py", "reporting/check_outputs.py", "reporting/build_report.py",
            "reporting/make_report.py"]  # fmt: skip
STANDARD_LIBRARY = sys.stdlib_module_names | {"__future__"}
WINDOWS_ENV = {"PYTHONPATH": str(Path(__file__).parent / "windows"), "PYTHONIOENCODING": "utf-8"}


def python(*args: str, env: dict[str, str] | None = None, cwd: Path = outputs.REPO):
    """`python *args` as a real process (this interpreter), output decoded as UTF-8."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )


# ---------------------------------------------------------------- Windows, simulated


def test_the_windows_simulation_removes_what_windows_lacks() -> None:
    probe = (
        "import os, signal\nfrom support import outputs\n"
        "print(hasattr(signal, 'SIGHUP'), hasattr(signal, 'SIGKILL'),"
        " hasattr(signal, 'pthread_sigmask'))\n"
        "try:\n    os.kill(os.getpid(), 0)\nexcept OSError:\n    print('os.kill(pid, 0) raises')\n"
        "print(sorted(signal.Signals(s).name for s in outputs.STOP_SIGNALS))\n"
    )
    result = python("-c", probe, env=WINDOWS_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "False False False",
        "os.kill(pid, 0) raises",
        "['SIGINT', 'SIGTERM']",
    ]


def test_a_quick_task_runs_end_to_end_on_windows(mnist_dir: Path, tmp_path: Path) -> None:
    """task5.py --quick on the simulation, beside a staging folder a killed run left behind."""
    figures, results = tmp_path / "figures", tmp_path / "results"
    debris = figures / "quick" / f"{outputs.STAGING_PREFIX}999999999-x"
    debris.mkdir(parents=True)
    env = {**WINDOWS_ENV, "FIGURES_DIR": str(figures), "RESULTS_DIR": str(results)}
    result = python("task5.py", "--quick", "--seeds", "1", "--data-dir", str(mnist_dir), env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    folders = outputs.OutputFolders(figures / "quick", results / "quick")
    assert outputs.output_set_problem("task5", folders, allow_quick=True) is None
    runs = json.loads((folders.results / "task5.json").read_text(encoding="utf-8"))["runs"]
    assert [run["name"] for run in runs] == ["final", "softmax"]


def test_check_outputs_and_the_report_build_start_on_windows(tmp_path: Path) -> None:
    env = {**WINDOWS_ENV, "FIGURES_DIR": str(tmp_path), "RESULTS_DIR": str(tmp_path)}
    checked = python("-m", "reporting.check_outputs", env=env)
    assert checked.returncode == 0, checked.stderr
    assert len(checked.stdout.splitlines()) == len(check_outputs.REPORT_TASKS)  # all missing
    pdf = str(tmp_path / "report.pdf")
    built = python("-m", "reporting.build_report", "--output", pdf, env=env)
    assert built.returncode == 1
    assert built.stderr.startswith("build_report.py: error: ") and "missing" in built.stderr
    assert len(built.stderr.strip().splitlines()) == 1


def test_a_running_process_is_told_from_one_that_has_exited() -> None:
    finished = subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert finished.returncode == 0
    exited = subprocess.Popen([sys.executable, "-c", "import os; print(os.getpid())"])
    exited.wait()
    assert outputs.process_alive(os.getpid())
    assert not outputs.process_alive(exited.pid)


class FakeWinapi:
    """The calls of Windows' _winapi that utils makes, over a table of processes."""

    def __init__(self, processes: dict[int, int | None]) -> None:
        self.processes = processes  # pid -> exit code (259 while running); None: not ours
        self.open_handles: set[int] = set()

    def OpenProcess(self, access: int, inherit: bool, pid: int) -> int:
        assert access == outputs.PROCESS_QUERY_LIMITED_INFORMATION and inherit is False
        if pid not in self.processes:
            raise OSError(22, "The parameter is incorrect")
        if self.processes[pid] is None:
            raise PermissionError(13, "Access is denied")
        self.open_handles.add(pid)
        return pid

    def GetExitCodeProcess(self, handle: int) -> int:
        return self.processes[handle]

    def CloseHandle(self, handle: int) -> None:
        self.open_handles.remove(handle)


def test_the_windows_liveness_check_asks_for_the_exit_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    winapi = FakeWinapi({10: outputs.STILL_ACTIVE, 11: 0, 12: None})
    monkeypatch.setitem(sys.modules, "_winapi", winapi)
    monkeypatch.setattr(os, "kill", lambda pid, signum: pytest.fail("os.kill on Windows"))
    monkeypatch.setattr(outputs.os, "name", "nt")
    assert outputs.process_alive(10)  # running
    assert not outputs.process_alive(11)  # exited, its handle still held by someone
    assert outputs.process_alive(12)  # another user's: its folder is kept
    assert not outputs.process_alive(13)  # no such process
    assert winapi.open_handles == set()


# ---------------------------------------------------------------- the Python version


@pytest.mark.parametrize("version", [(2, 7, 18), (3, 9, 18), (3, 10, 13)])
def test_an_old_python_is_named_with_the_version_needed(version: tuple[int, ...]) -> None:
    message = require_python.problem(version, "/usr/bin/python3")
    found = ".".join(map(str, version))
    assert message is not None and "\n" not in message
    assert f"this is Python {found} (/usr/bin/python3)" in message
    assert "needs Python 3.11 or newer" in message


@pytest.mark.parametrize("version", [(3, 11, 0), (3, 13, 1), (4, 0, 0)])
def test_a_new_enough_python_passes(version: tuple[int, ...]) -> None:
    assert require_python.problem(version, sys.executable) is None


def old_python(*command: str, cwd: Path = outputs.REPO) -> subprocess.CompletedProcess:
    """`python *command` (a script and its arguments, or -m and a module) run by this
    interpreter posing as Python 3.10.13."""
    launcher = (
        "import runpy, sys\n"
        "sys.version_info = (3, 10, 13, 'final', 0)\n"
        "if sys.argv[1] == '-m':\n"
        "    sys.argv = sys.argv[2:]\n"
        "    runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
        "else:\n"
        "    sys.argv = sys.argv[1:]\n"
        "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    return python("-c", launcher, *command, cwd=cwd)


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (["task2.py", "--quick"], "task2.py"),
        (["task5.py", "--search"], "task5.py"),
        (["-m", "reporting.build_report"], "build_report.py"),
        (["-m", "reporting.make_report"], "make_report.py"),
    ],
)
def test_every_command_stops_an_old_python_in_one_line(command: list[str], name: str) -> None:
    result = old_python(*command)
    assert result.returncode == 1
    assert result.stdout == ""  # nothing loaded, nothing trained
    assert result.stderr.strip().splitlines() == [
        f"{name}: error: this is Python 3.10.13 ({sys.executable}); the project needs "
        "Python 3.11 or newer: install it (python.org, Homebrew or conda) and run this with it "
        "(with make: make PYTHON=python3.11)"
    ]


def test_old_pythons_can_read_the_check_and_the_commands() -> None:
    """require_python.py has no syntax newer than Python 3.4 and no annotations (2.7 reads it);
    the commands, which import it before anything beyond the standard library, none newer than
    3.7; nor has any module of this repository that a task script imports, since the task
    scripts check the version after their imports (utils.run_main): older Pythons reach its
    message."""
    check = (outputs.REPO / "support" / "require_python.py").read_text(encoding="utf-8")
    ast.parse(check, feature_version=(3, 4))
    functions = [node for node in ast.walk(ast.parse(check)) if isinstance(node, ast.FunctionDef)]
    assert functions and not any(
        function.returns or any(arg.annotation for arg in function.args.args)
        for function in functions
    )
    for script in TASK_SCRIPTS:
        for path in check_outputs.code_files(Path(script).stem):
            ast.parse(path.read_text(encoding="utf-8"), feature_version=(3, 7))
    for command in COMMANDS:
        source = (outputs.REPO / command).read_text(encoding="utf-8")
        ast.parse(source, feature_version=(3, 7))
        imported = [
            ast.unparse(node)
            for node in ast.parse(source).body
            if isinstance(node, ast.Import | ast.ImportFrom)
        ]
        # Before the check, only the standard library (which old Pythons have too).
        first = next(
            line for line in imported if line.split()[1].partition(".")[0] not in STANDARD_LIBRARY
        )
        assert first == "import support.require_python", command


def test_the_task_scripts_check_the_python_before_their_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(require_python.require, "__defaults__", ((3, 10, 13), "python3.10"))
    with pytest.raises(SystemExit, match=r"this is Python 3\.10\.13 \(python3\.10\)"):
        utils.run_main(lambda: print("main ran"))
    assert capsys.readouterr().out == ""
    for script in TASK_SCRIPTS:
        source = (outputs.REPO / script).read_text(encoding="utf-8")
        assert source.rstrip().endswith('if __name__ == "__main__":\n    utils.run_main(main)')


def test_make_checks_the_python_before_creating_the_environment(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.fail("this test needs make (GNU make)", pytrace=False)
    (tmp_path / "support").mkdir()
    for name in ("Makefile", "support/require_python.py", "requirements.txt"):
        shutil.copy(outputs.REPO / name, tmp_path / name)
    fake = tmp_path / "python3.10"
    fake.write_text(
        f'#!/bin/sh\nexec {sys.executable} -c "import runpy, sys; '
        "sys.version_info = (3, 10, 13, 'final', 0); sys.argv = sys.argv[1:]; "
        f'runpy.run_path(sys.argv[0], run_name=\'__main__\')" "$@"\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    result = subprocess.run(
        ["make", f"PYTHON={fake}", "figures"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    assert result.returncode != 0
    assert "this is Python 3.10.13" in result.stderr and "needs Python 3.11" in result.stderr
    assert not (tmp_path / ".venv").exists()  # nothing created, nothing installed
    assert "venv" not in result.stdout


# ---------------------------------------------------------------- the package lists

# conda-forge names that differ from PyPI's; and what environment.yml adds that pip cannot give.
CONDA_NAMES = {"matplotlib": "matplotlib-base"}  # the same library without a GUI toolkit
CONDA_ONLY = {"python", "pandoc", "pip"}  # conda's pip installs what only pip can (the project)


def requirement_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def split_spec(spec: str) -> tuple[str, str]:
    """("numpy", ">=1.26") from "numpy>=1.26" (or "numpy >=1.26"), the name lower-cased."""
    match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", spec.strip())
    assert match, spec
    return match[1].lower().replace("_", "-"), match[2].replace(" ", "")


def test_environment_yml_lists_the_requirements_for_conda() -> None:
    environment = yaml.safe_load((outputs.REPO / "environment.yml").read_text(encoding="utf-8"))
    assert environment["channels"] == ["conda-forge"]
    specs = [spec for spec in environment["dependencies"] if isinstance(spec, str)]
    pip_section = [spec for spec in environment["dependencies"] if isinstance(spec, dict)]
    conda = dict(split_spec(spec) for spec in specs)
    assert conda["python"] == f">={'.'.join(map(str, require_python.NEEDED))}"
    lines = requirement_lines(outputs.REPO / "requirements.txt")
    pip = dict(split_spec(spec) for spec in lines if not spec.startswith("-"))
    assert pip and {CONDA_NAMES.get(name, name): spec for name, spec in pip.items()} == {
        name: spec for name, spec in conda.items() if name not in CONDA_ONLY
    }
    # The project itself (`-e .`), which conda-forge cannot give, through conda's pip.
    assert (
        pip_section
        == [{"pip": [spec for spec in lines if spec.startswith("-")]}]
        == [{"pip": ["-e ."]}]
    )


def test_the_test_requirements_add_to_the_students() -> None:
    student = requirement_lines(outputs.REPO / "requirements.txt")
    dev = requirement_lines(outputs.REPO / "requirements-dev.txt")
    assert dev[0] == "-r requirements.txt"
    assert {split_spec(spec)[0] for spec in dev[1:]} >= {"pytest", "selenium", "ruff", "pyyaml"}
    names = {split_spec(spec)[0] for spec in student if not spec.startswith("-")}
    assert not names & {"pytest", "selenium", "ruff"}


def test_the_report_and_the_tasks_import_nothing_from_the_test_requirements() -> None:
    code = (
        "import json, sys, task5\nfrom reporting import build_report, make_report\n"
        "print(json.dumps(list(sys.modules)))"
    )
    result = python("-c", code)
    assert result.returncode == 0, result.stderr
    modules = set(json.loads(result.stdout))
    assert "nbconvert" in modules and not modules & {"pytest", "selenium", "ruff"}
