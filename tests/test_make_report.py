"""make_report.py, what `make report` runs: the stale tasks side by side, then the report.

The task scripts are stood in for by small Python programs (`python -c ...`); which tasks are
stale is tested in test_outputs.py.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from reporting import build_report, check_outputs, make_report
from support import outputs


@pytest.fixture
def programs(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Task name -> the Python code its stand-in runs (fill it in the test)."""
    code: dict[str, str] = {}
    monkeypatch.setattr(outputs, "task_arguments", lambda task: ["-c", code[task]])
    return code


def test_tasks_run_side_by_side_one_blas_thread_each_output_whole_as_each_ends(
    programs: dict[str, str], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    started = tmp_path / "second started"
    programs["slow"] = (
        "import os, pathlib, time\n"
        f"while not pathlib.Path({str(started)!r}).exists(): time.sleep(0.05)\n"
        "time.sleep(1)  # the fast one ends meanwhile\n"
        "print('slow: one'); print('slow: two', os.environ['OPENBLAS_NUM_THREADS'])\n"
    )
    programs["fast"] = f"import pathlib; pathlib.Path({str(started)!r}).touch(); print('fast')\n"
    assert make_report.run_tasks(["slow", "fast"], jobs=2) == []
    printed = capfd.readouterr().out
    # The slow one waited for the fast one to start (they ran at the same time) and ended
    # after it: each one's output comes whole, when it ends.
    assert printed.index("fast\n") < printed.index("slow: one\nslow: two 1\n")


def test_after_a_failure_no_further_task_starts(
    programs: dict[str, str], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran"
    programs["broken"] = "import sys; sys.exit('broken: error: this went wrong')"
    programs["later"] = f"import pathlib; pathlib.Path({str(marker)!r}).touch()"
    assert make_report.run_tasks(["broken", "later"], jobs=1) == ["broken"]
    assert "broken: error: this went wrong" in capfd.readouterr().out
    assert not marker.exists()


def test_an_interrupted_task_gets_time_to_stop_then_is_stopped(
    programs: dict[str, str], monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(make_report, "STOP_SECONDS", 0.5)
    programs["long"] = "import time; print('working', flush=True); time.sleep(60)"
    job = make_report.start("long", {})
    make_report.stop([job])
    assert job.process.returncode == -signal.SIGTERM
    assert "working" in capfd.readouterr().out


@pytest.fixture
def report_steps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, list]:
    """make_report.main's steps recorded instead of done: the tasks run, the build's flags."""
    done: dict[str, list] = {"tasks": [], "build": []}
    monkeypatch.setattr(make_report, "find_data_dir", lambda: tmp_path)
    monkeypatch.setenv("FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    stale = {"task2": "task2.json is missing", "task5": "task5.json is missing"}
    monkeypatch.setattr(check_outputs, "stale_tasks", lambda folders: stale)

    def run_tasks(tasks: list[str], jobs: int) -> list[str]:
        done["tasks"] += tasks
        return [task for task in tasks if task in done.get("failing", [])]

    monkeypatch.setattr(make_report, "run_tasks", run_tasks)
    monkeypatch.setattr(build_report, "main", done["build"].append)
    return done


def test_the_stale_tasks_run_longest_first_then_the_report_is_built(
    report_steps: dict[str, list], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_report.main([])
    assert report_steps["tasks"] == ["task5", "task2"]
    assert report_steps["build"] == [[]]
    printed = capsys.readouterr().out
    assert "task2.json is missing: `python task2.py` runs again" in printed
    make_report.main(["--html", "--tasks-only"])
    assert report_steps["build"] == [[]]
    make_report.main(["--html"])
    assert report_steps["build"] == [[], ["--html"]]


def test_a_failed_task_stops_before_the_report(report_steps: dict[str, list]) -> None:
    report_steps["failing"] = ["task2"]
    with pytest.raises(SystemExit) as stopped:
        make_report.main([])
    assert stopped.value.code == (
        "make_report.py: error: `python task2.py` failed (output above); the report was not built"
    )
    assert report_steps["build"] == []


def test_every_task_of_the_report_has_a_place_in_the_order() -> None:
    assert sorted(make_report.LONGEST_FIRST) == sorted(check_outputs.REPORT_TASKS)
