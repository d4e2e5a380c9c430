"""A task's outputs are one complete set: trial runs, interruptions, deletions and bad folders;
on POSIX systems and on a simulated Windows."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

import utils
from experiment import Run
from reporting import build_report, check_outputs
from support import outputs

TASK2_FIGURES = ["task2b_curves.png", "task2e_shuffle.png"]
# PYTHONPATH for a Python that simulates Windows (tests/windows/sitecustomize.py).
WINDOWS = {"PYTHONPATH": str(Path(__file__).parent / "windows")}
PLATFORMS = {"posix": {}, "windows": WINDOWS}


def start_task2(
    mnist_dir: Path, root: Path, *flags: str, platform: str = "posix"
) -> subprocess.Popen:
    """`python task2.py` writing into root/figures and root/results, as a real process, on
    this system or on a simulated Windows (`platform`)."""
    env = {
        **os.environ,
        "FIGURES_DIR": str(root / "figures"),
        "RESULTS_DIR": str(root / "results"),
        "PYTHONIOENCODING": "utf-8",
        **PLATFORMS[platform],
    }
    return subprocess.Popen(
        [sys.executable, "task2.py", "--data-dir", str(mnist_dir), *flags],
        cwd=outputs.REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )


def run_task2(
    mnist_dir: Path, root: Path, *flags: str, platform: str = "posix"
) -> subprocess.CompletedProcess:
    process = start_task2(mnist_dir, root, *flags, platform=platform)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def run_script(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`python *args` in the repository as a real process, with the environment `env`."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=outputs.REPO,
        env={**env, "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )


def snapshot(folders: outputs.OutputFolders) -> dict[str, bytes]:
    """Every file under the two folders, by path relative to them, with its bytes."""
    files = {}
    for folder in (folders.figures, folders.results):
        for path in folder.rglob("*"):
            if path.is_file():
                files[f"{folder.name}/{path.relative_to(folder)}"] = path.read_bytes()
    return files


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


def wait_for_staged_figure(folder: Path, process: subprocess.Popen) -> None:
    """Return once the run has staged its first figure, i.e. is writing its outputs."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if list(folder.glob(f"{outputs.STAGING_PREFIX}*/*.png")):
            return
        time.sleep(0.002)
    pytest.fail("the run never staged a figure")


def copy_outputs(source: Path, root: Path) -> None:
    """The figures/ and results/ folders under `source` copied under `root` (times kept)."""
    for name in ("figures", "results"):
        shutil.copytree(source / name, root / name)


@pytest.fixture(scope="module")
def quick_task2(mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """platform -> the folder of a quick task 2 run on it (figures/, results/), each made once."""
    made: dict[str, Path] = {}

    def folder(platform: str) -> Path:
        if platform not in made:
            made[platform] = tmp_path_factory.mktemp(f"quick_task2_{platform}")
            run_task2(mnist_dir, made[platform], "--quick", platform=platform)
        return made[platform]

    return folder


def interrupt_while_writing(
    first_run: Path,
    mnist_dir: Path,
    root: Path,
    stop: Callable[[subprocess.Popen], None],
    platform: str = "posix",
) -> tuple[outputs.OutputFolders, dict[str, bytes], subprocess.Popen, str]:
    """The outputs of a quick task 2 run (copied from `first_run`), then a second run (another
    seed) that `stop` interrupts as it writes.

    Returns the folders, their files after the first run, the second process and its stderr.
    """
    copy_outputs(first_run, root)
    folders = outputs.OutputFolders(root / "figures" / "quick", root / "results" / "quick")
    before = snapshot(folders)
    process = start_task2(mnist_dir, root, "--quick", "--seed", "1", platform=platform)
    wait_for_staged_figure(folders.figures, process)
    stop(process)
    _, stderr = process.communicate(timeout=60)
    return folders, before, process, stderr


# Every stop signal of this system, and those of Windows (SIGINT, SIGTERM) on the simulation,
# where they are held back by another means than on POSIX systems.
STOPS = [("posix", signum) for signum in outputs.STOP_SIGNALS]
STOPS += [("windows", signal.SIGINT), ("windows", signal.SIGTERM)]


@pytest.mark.parametrize(
    ("platform", "signum"), STOPS, ids=[f"{p}-{signal.Signals(s).name}" for p, s in STOPS]
)
def test_a_run_stopped_while_writing_leaves_the_old_set_whole(
    platform: str, signum: int, quick_task2: Callable[[str], Path], mnist_dir: Path, tmp_path: Path
) -> None:
    folders, before, process, stderr = interrupt_while_writing(
        quick_task2(platform),
        mnist_dir,
        tmp_path,
        lambda process: process.send_signal(signum),
        platform,
    )
    assert process.returncode == 1
    assert stderr.strip().splitlines() == [
        f"task2.py: stopped ({signal.Signals(signum).name}); the previous outputs are unchanged"
    ]
    assert snapshot(folders) == before
    assert outputs.output_set_problem("task2", folders, allow_quick=True) is None
    assert leftovers(tmp_path) == []


def test_a_run_killed_outright_leaves_the_old_set_and_its_debris_is_cleared(
    quick_task2: Callable[[str], Path], mnist_dir: Path, tmp_path: Path
) -> None:
    folders, before, _, _ = interrupt_while_writing(
        quick_task2("posix"), mnist_dir, tmp_path, subprocess.Popen.kill
    )
    assert {name: data for name, data in snapshot(folders).items() if "/." not in name} == before
    assert outputs.output_set_problem("task2", folders, allow_quick=True) is None
    assert leftovers(tmp_path)  # kill -9 allows no clean-up ...
    run_task2(mnist_dir, tmp_path, "--quick", "--seed", "1")
    assert leftovers(tmp_path) == []  # ... the next run clears it
    assert snapshot(folders) != before


@pytest.fixture
def sigterm_stops() -> Iterator[None]:
    """SIGTERM stops the test's process as it stops a task script (run_main's handler)."""
    previous = signal.signal(signal.SIGTERM, outputs._stop_on_signal)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("sender", ["this thread", "the process, beside another thread"])
def test_signals_held_back_arrive_right_after_the_block(sender: str, sigterm_stops) -> None:
    """Also when the system hands the signal to another thread (tqdm's monitor thread runs
    beside a task's main thread): its handler would still run in the main thread."""
    done, stop = [], threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"), outputs._signals_held():
            if sender == "this thread":
                signal.raise_signal(signal.SIGTERM)
            else:
                os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # time for the handler to run, were it not held back
            done.append("the rest of the block")
    finally:
        stop.set()
        other.join()
    assert done == ["the rest of the block"]
    assert signal.getsignal(signal.SIGTERM) is outputs._stop_on_signal


def test_a_signal_as_the_staging_folder_appears_leaves_nothing_behind(
    sigterm_stops, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race a real run loses now and then, made certain: the stop signal arrives the
    instant tempfile.mkdtemp has made the folder, before the run could arrange its removal."""
    folders = outputs.OutputFolders(tmp_path / "figures", tmp_path / "results")
    folders.check_writable()
    make_folder = outputs.tempfile.mkdtemp

    def make_folder_then_stop(*args, **kwargs) -> str:
        folder = make_folder(*args, **kwargs)
        signal.raise_signal(signal.SIGTERM)
        return folder

    monkeypatch.setattr(outputs.tempfile, "mkdtemp", make_folder_then_stop)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        outputs.write_output_set("task2", folders, [], [], quick=True)
    assert sorted(tmp_path.rglob("*")) == [folders.figures, folders.results]


def test_a_figure_held_open_by_a_viewer_is_named_and_no_staging_folder_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows refuses to replace a file another program holds open: one line names it."""
    folders = outputs.OutputFolders(tmp_path / "figures", tmp_path / "results")
    folders.check_writable()
    replace = os.replace

    def locked(source, target) -> None:
        if Path(target).name == "a.pdf":
            raise PermissionError(13, "Permission denied")
        replace(source, target)

    monkeypatch.setattr(os, "replace", locked)
    figure = plt.figure()
    with pytest.raises(outputs.OutputError) as error:
        outputs.write_output_set("task2", folders, [(figure, "a.png")], [], quick=True)
    plt.close(figure)
    assert str(error.value).startswith(f"cannot replace {folders.figures / 'a.pdf'} (Permission")
    assert not (folders.results / "task2.json").exists()  # the set is not claimed complete
    assert leftovers(tmp_path) == []


@pytest.fixture(scope="module")
def full_task2_run(mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a full `python task2.py` (a few seconds): figures/, results/; made once."""
    root = tmp_path_factory.mktemp("full_task2")
    run_task2(mnist_dir, root)
    return root


@pytest.fixture
def full_task2(full_task2_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The outputs of a full `python task2.py`, copied into folders under tmp_path to change."""
    copy_outputs(full_task2_run, tmp_path)
    monkeypatch.setenv("FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    return outputs.OutputFolders(tmp_path / "figures", tmp_path / "results")


def test_a_full_run_is_one_consistent_set_that_make_report_keeps(full_task2) -> None:
    results = json.loads((full_task2.results / "task2.json").read_text(encoding="utf-8"))
    assert results["schema"] == outputs.RESULTS_SCHEMA and results["quick"] is False
    pdfs = [name.replace(".png", ".pdf") for name in TASK2_FIGURES]
    assert sorted(results["figures"]) == sorted(TASK2_FIGURES + pdfs)
    for name, digest in results["figures"].items():
        assert outputs.sha256(full_task2.figures / name) == digest
    assert outputs.output_set_problem("task2", full_task2) is None
    assert "task2" not in check_outputs.stale_tasks(full_task2)
    assert not (full_task2.figures / "quick").exists()


@pytest.mark.parametrize(
    ("changed", "stale"),
    [
        ("task2.py", {"task2"}),
        ("task3.py", {"task3"}),  # task4.py states its own settings: no task imports another
        ("experiment.py", {"task2", "task3", "task4", "task5"}),
        ("two_layer_network.py", {"task5"}),
        ("trainer.py", {"task2", "task3", "task4", "task5"}),
        ("task5_trainer.py", {"task5"}),  # Task 5's options: not those of Tasks 2 to 4
        ("requirements.txt", {"task2", "task3", "task4", "task5"}),
        ("image_transforms.py", {"task5"}),
        ("support/outputs.py", {"task2", "task3", "task4", "task5"}),
        ("reporting/report_helpers.py", set()),  # the report's code: the notebook runs afresh
    ],
)
def test_results_older_than_their_code_are_stale(
    changed: str, stale: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Which tasks run again after an edit: those whose script imports the file, at any depth."""
    folders = outputs.OutputFolders(tmp_path / "figures", tmp_path / "results")
    folders.results.mkdir(parents=True)
    complete = {task: None for task in check_outputs.REPORT_TASKS}
    monkeypatch.setattr(outputs, "output_set_problem", lambda task, folders: complete[task])
    code = {path for task in complete for path in check_outputs.code_files(task)}
    code |= {outputs.REPO / "reporting" / "report_helpers.py", check_outputs.REQUIREMENTS}
    newest = max(path.stat().st_mtime for path in code)
    for task in check_outputs.REPORT_TASKS:
        results = folders.results / f"{task}.json"
        results.write_text("{}", encoding="utf-8")
        os.utime(results, (newest + 10, newest + 10))
    assert check_outputs.stale_tasks(folders) == {}
    edited = outputs.REPO / changed
    original = edited.stat()
    try:
        os.utime(edited, (newest + 20, newest + 20))
        found = check_outputs.stale_tasks(folders)
    finally:
        os.utime(edited, ns=(original.st_atime_ns, original.st_mtime_ns))
    assert set(found) == stale
    name = Path(changed).name
    assert all(problem.endswith(f"is older than {name}") for problem in found.values())


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        ("delete a figure", r"task2e_shuffle\.png is missing"),
        ("swap in another run's figure", r"task2e_shuffle\.png was drawn by another run"),
        ("truncate the results", r"task2\.json is not valid JSON"),
        ("an older results layout", r"task2\.json was written by an older version"),
    ],
)
def test_a_broken_set_is_named_rerun_by_make_and_refused_by_the_build(
    damage: str, problem: str, full_task2: outputs.OutputFolders, tmp_path: Path, capsys
) -> None:
    figure, results = full_task2.figures / "task2e_shuffle.png", full_task2.results / "task2.json"
    if damage == "delete a figure":
        figure.unlink()
    elif damage == "swap in another run's figure":
        figure.write_bytes((full_task2.figures / "task2b_curves.png").read_bytes())
    elif damage == "truncate the results":
        results.write_text(results.read_text(encoding="utf-8")[:100], encoding="utf-8")
    else:
        old = json.loads(results.read_text(encoding="utf-8"))
        results.write_text(json.dumps({"runs": old["runs"]}), encoding="utf-8")
    check_outputs.main([])
    printed = capsys.readouterr().out
    assert re.search(problem + r".*`python task2\.py` will make them anew", printed)
    assert re.search(problem, check_outputs.stale_tasks(full_task2)["task2"])
    with pytest.raises(build_report.ReportError) as error:
        build_report.build(output=tmp_path / "report.pdf")
    message = str(error.value)
    assert re.search(problem, message) and "`python task2.py`" in message
    assert "\x1b[" not in message and "\n" not in message
    assert not (tmp_path / "report.pdf").exists()


@pytest.mark.parametrize("variable", ["FIGURES_DIR", "RESULTS_DIR"])
def test_an_output_folder_that_cannot_be_written_fails_before_training(
    variable: str, mnist_dir: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("in the way", encoding="utf-8")
    env = {**os.environ, "FIGURES_DIR": str(tmp_path / "f"), "RESULTS_DIR": str(tmp_path / "r")}
    env[variable] = str(blocker / "outputs")
    result = run_script("task3.py", "--data-dir", str(mnist_dir), env=env)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"task3.py: error: cannot write to the output folder {blocker}")
    assert f"set {variable} to a folder you can write to" in line
    assert result.stdout == ""  # nothing trained, nothing written
    assert blocker.read_text(encoding="utf-8") == "in the way"


def test_a_penalty_that_makes_training_diverge_is_named(mnist_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "FIGURES_DIR": str(tmp_path), "RESULTS_DIR": str(tmp_path)}
    result = run_script("task5.py", "--quick", "--l2", "1e6", "--data-dir", str(mnist_dir), env=env)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "the L2 penalty may be the cause" in line and "--l2" in line


def summary_run(
    name: str, first_loss: float, last_loss: float, stopped_at_step: int | None = 1_234_567
) -> Run:
    record = {
        "name": name, "epochs": 10_000, "steps": 1_234_567, "stopped_at_step": stopped_at_step,
        "stopped_at_epoch": 7913.89, "early_stopping_patience": 10, "best_step": 1_234_000,
        "train_accuracy": 1.0, "val_accuracy": 0.99999, "test_accuracy": 1.0,
        "test_loss": 12345.6789, "seconds": 123456.7, "train_loss": last_loss,
        "history": {"batch_loss": [first_loss, last_loss]},  # the first: at the initial weights
    }  # fmt: skip
    return Run(record, None)


def test_summary_keeps_columns_apart_and_flags_a_run_that_did_not_learn(capsys) -> None:
    utils.print_summary([summary_run("a_long_run_name_of_thirty_chars", 0.69, 0.1),
                         summary_run("diverging", 0.69, 40.0, stopped_at_step=None)])  # fmt: skip
    *table, warning = capsys.readouterr().out.splitlines()
    for line in table:  # nine columns, at least two spaces apart
        assert len(re.split(r"\s{2,}", line.strip())) == 9, line
    # Early stopping keeps the weights of the lowest validation loss, also after all epochs.
    assert "stopped, kept 1234000" in table[1] and "ran all, kept 1234000" in table[2]
    assert warning.startswith("warning: diverging: the training loss ended at 40")
    assert "far above where it started (0.69)" in warning
    assert "a_long_run_name" not in warning
