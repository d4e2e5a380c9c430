"""The task scripts' outputs, written so that nothing is ever lost or half-written.

A task writes its figures and results/<task>.json as one set (`write_output_set`): into hidden
staging folders first, then moved into place, the JSON last, with the stop signals held back
during the moves; the JSON records each figure's SHA-256, so that `output_set_problem` can tell
a set that an interruption split. `atomic_write` does the same for a single file (the report).
A student need not read this module: the task scripts reach it through `utils.finish`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from matplotlib.figure import Figure

REPO = Path(__file__).resolve().parents[1]  # the repository's top folder
RESULTS_SCHEMA = 3  # version of the results files' layout; older files are re-made

# The signals that stop a run cleanly, as Ctrl-C does: those of them the platform has (Windows
# has no SIGHUP; only Windows has SIGBREAK, its Ctrl-Break).
STOP_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")
    if hasattr(signal, name)
)


class OutputError(RuntimeError):
    """An output folder cannot be written, or an output file replaced; the message says which
    and what to do."""


def _stop_on_signal(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_on_signals() -> None:
    """Make the STOP_SIGNALS (SIGTERM, SIGHUP where it exists, Ctrl-Break on Windows) stop the
    program as Ctrl-C (SIGINT) does, so that the clean-up in `finally` blocks runs."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop_on_signal)


def figures_dir() -> Path:
    """Where figures go: $FIGURES_DIR, else figures/ beside this file."""
    return Path(os.environ.get("FIGURES_DIR") or REPO / "figures")


def results_dir() -> Path:
    """Where metrics go: $RESULTS_DIR, else results/ beside this file."""
    return Path(os.environ.get("RESULTS_DIR") or REPO / "results")


@dataclass(frozen=True)
class OutputFolders:
    """Where one task script writes: the report's folders, or quick/ inside them for --quick."""

    figures: Path
    results: Path

    @classmethod
    def for_run(cls, quick: bool) -> OutputFolders:
        """The folders of a run; a --quick trial never replaces the outputs the report reads."""
        if quick:
            return cls(figures_dir() / "quick", results_dir() / "quick")
        return cls(figures_dir(), results_dir())

    def check_writable(self) -> None:
        """Create the folders if needed and try a file in each: fail now, not after training."""
        for folder, variable in ((self.figures, "FIGURES_DIR"), (self.results, "RESULTS_DIR")):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryFile(dir=folder):
                    pass
            except OSError as exc:
                raise OutputError(
                    f"cannot write to the output folder {folder} ({exc.strerror}); make it "
                    f"writable or set {variable} to a folder you can write to"
                ) from exc
            remove_leftovers(folder)


def sha256(path: Path) -> str:
    """Hex SHA-256 of the file at `path`."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


STAGING_PREFIX = ".staging-"


def remove_leftovers(folder: Path) -> None:
    """Remove the staging folders that runs killed outright (kill -9) left behind in `folder`.

    A staging folder is named after the process that made it; those of running processes (a
    task writing beside this one) are kept.
    """
    for leftover in folder.glob(f"{STAGING_PREFIX}*"):
        pid = leftover.name.removeprefix(STAGING_PREFIX).split("-")[0]
        if not (pid.isdigit() and process_alive(int(pid))):
            shutil.rmtree(leftover, ignore_errors=True)


def _posix_process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0 only checks that the process exists
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists but is another user's, or the check is refused: keep its folder
    return True


PROCESS_QUERY_LIMITED_INFORMATION = 0x1000  # the access right the Windows check needs
STILL_ACTIVE = 259  # the "exit code" of a Windows process that has not exited


def _windows_process_alive(pid: int) -> bool:
    # On Windows os.kill(pid, 0) would send Ctrl-C (signal 0 is CTRL_C_EVENT there): ask the
    # process's exit code instead, through the interpreter's own Windows API module.
    import _winapi

    try:
        handle = _winapi.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    except PermissionError:
        return True  # another user's process
    except OSError:
        return False  # no such process
    try:
        return _winapi.GetExitCodeProcess(handle) == STILL_ACTIVE
    finally:
        _winapi.CloseHandle(handle)


def process_alive(pid: int) -> bool:
    """Whether the process `pid` is running, on POSIX systems and on Windows."""
    if os.name == "nt":
        return _windows_process_alive(pid)
    return _posix_process_alive(pid)


@contextmanager
def _staging(folder: Path) -> Iterator[Path]:
    """A hidden folder inside `folder` (same file system, so files move in by renaming).

    It is removed however the block ends. The stop signals are held back from its creation
    until its removal is arranged: one arriving in between would leave it behind.
    """
    with ExitStack() as cleanup:
        with _signals_held():
            staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=folder))
            cleanup.callback(shutil.rmtree, staging, ignore_errors=True)
        yield staging


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold back the STOP_SIGNALS for the block: the first that arrives is raised after it.

    For the block, their handlers are replaced by one that only notes them. This works on every
    platform, and whichever thread the system hands a signal to: Python runs the handlers in the
    main thread. (Blocking them with pthread_sigmask, where it exists, blocks them only for the
    thread that calls it: a signal for the process then reaches another thread, such as tqdm's
    monitor, and its handler still runs in the main thread, in the block.) Only the main thread
    may change handlers: elsewhere the block runs as it is, and signals stop the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []

    def note(signum: int, frame: object) -> None:
        arrived.append(signum)

    previous = {}
    try:
        for signum in STOP_SIGNALS:
            handler = signal.getsignal(signum)
            if handler is not None:  # None: set outside Python, it could not be put back
                previous[signum] = handler
                signal.signal(signum, note)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if arrived:
            signal.raise_signal(arrived[0])


def write_output_set(
    task: str,
    folders: OutputFolders,
    figures: Sequence[tuple[Figure, str]],
    records: Sequence[dict[str, Any]],
    quick: bool,
    extra: dict[str, Any] | None = None,
) -> list[Path]:
    """Write a task's figures and results/<task>.json as one set; return the paths written.
    `extra` holds entries of the results file beside the runs (e.g. the gradient check).

    Everything is first written into hidden staging folders, then moved into place with the
    JSON last; the JSON records each figure's SHA-256, so that `output_set_problem` can tell a
    set that an interruption (even kill -9) split. The moves run with the STOP_SIGNALS held
    back, so those always leave either the complete old set or the complete new one.
    """
    results = {"schema": RESULTS_SCHEMA, "task": task, "quick": quick, "figures": {}}
    with _staging(folders.figures) as figure_stage, _staging(folders.results) as result_stage:
        for fig, filename in figures:
            # PNG for the notebook and the HTML page, PDF (vector) for the PDF report.
            for name in (filename, Path(filename).with_suffix(".pdf").name):
                fig.savefig(figure_stage / name, dpi=150, bbox_inches="tight")
                results["figures"][name] = sha256(figure_stage / name)
        results.update(extra or {})
        results["runs"] = list(records)
        (result_stage / f"{task}.json").write_text(
            json.dumps(results, indent=1) + "\n", encoding="utf-8"
        )
        moves = [(figure_stage / name, folders.figures / name) for name in results["figures"]]
        moves.append((result_stage / f"{task}.json", folders.results / f"{task}.json"))
        with _signals_held():
            for staged, final in moves:
                os.chmod(staged, NEW_FILE_MODE)
                replace(staged, final)
    return [final for _, final in moves]


def task_arguments(task: str) -> list[str]:
    """The script and flags that write the outputs of `task` ("task5_search": task5.py --search)."""
    script, _, variant = task.partition("_")
    return [f"{script}.py", *([f"--{variant}"] if variant else [])]


def rerun_command(task: str) -> str:
    """The command that writes the outputs of `task`, e.g. "python task5.py --search"."""
    return " ".join(["python", *task_arguments(task)])


def output_set_problem(
    task: str, folders: OutputFolders | None = None, allow_quick: bool = False
) -> str | None:
    """What is wrong with the outputs of `task` as one complete set from a full run, or None.

    `allow_quick` accepts a set from a --quick trial run (for tests).
    """
    folders = folders or OutputFolders.for_run(quick=False)
    path = folders.results / f"{task}.json"
    if not path.is_file():
        return f"{path} is missing"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"{path} is not valid JSON ({exc})"
    if not isinstance(results, dict) or results.get("schema") != RESULTS_SCHEMA:
        return f"{path} was written by an older version of the scripts"
    if not (isinstance(results.get("figures"), dict) and isinstance(results.get("runs"), list)):
        return f"{path} is incomplete: it lacks its list of figures or of runs"
    if results.get("quick") and not allow_quick:
        return f"{path} holds a --quick trial run, not the full run"
    for filename, digest in results["figures"].items():
        figure = folders.figures / filename
        if not figure.is_file():
            return f"{figure} is missing"
        if sha256(figure) != digest:
            return f"{figure} was drawn by another run than {path}"
    return None


def _new_file_mode() -> int:
    """Permissions of a newly created file: 0666 minus the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


NEW_FILE_MODE = _new_file_mode()


def check_can_write(path: Path) -> None:
    """Raise OutputError, naming `path`, if no file can be written in its folder."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise OutputError(
            f"cannot write {path}: its folder {path.parent} is not writable ({exc.strerror}); "
            "make it writable or write elsewhere"
        ) from exc


@contextmanager
def atomic_write(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; it replaces `path` only when the block succeeds.

    Text is written as UTF-8. A folder that cannot be written, or a `path` that cannot be
    replaced (on Windows: open in another program, such as a PDF viewer), raise OutputError
    naming the file and what to do; the temporary file never stays behind.
    """
    check_can_write(path)
    encoding = None if "b" in mode else "utf-8"
    with ExitStack() as cleanup:
        with _signals_held():
            fd, temporary = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
            )
            cleanup.callback(_remove_if_present, Path(temporary))
        with os.fdopen(fd, mode, encoding=encoding) as file:
            yield file
        os.chmod(temporary, NEW_FILE_MODE)  # mkstemp makes the file private (0600)
        replace(Path(temporary), path)


def replace(source: Path, target: Path) -> None:
    """Move `source` over `target`; OutputError, naming `target`, if `target` cannot be replaced
    (on Windows: a file that another program, such as a viewer, holds open)."""
    try:
        os.replace(source, target)
    except PermissionError as exc:
        raise OutputError(
            f"cannot replace {target} ({exc.strerror}): close the program that has it open (a "
            "PDF or image viewer?) or make it writable, then run again"
        ) from exc


def _remove_if_present(path: Path) -> None:
    path.unlink(missing_ok=True)
