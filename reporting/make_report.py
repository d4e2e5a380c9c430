"""Make report.pdf from whatever state the outputs are in: the stale task scripts, then the PDF.

    python -m reporting.make_report [--tasks-only] [--html] [--strict] [--jobs N]

What `make report` runs after its set-up, for every platform, with or without make. The tasks
that check_outputs.py names (outputs missing, incomplete, from a --quick trial, not from one
run, or older than their code) run again, as many at once as the machine has cores (--jobs),
longest first, each with one BLAS thread; each script's output is printed when it finishes.
Then build_report.py executes the notebook and writes report.pdf
(report.html with --html, or when pandoc or xelatex is missing), listing any statement of the
report that does not hold for the results (--strict: failing on it). --tasks-only stops after
the tasks (`make figures`). The MNIST files are found, or downloaded, once, before any task starts.
"""

from __future__ import annotations

import support.require_python  # noqa: F401 (first: an older Python stops here, in one line)

# isort: split

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

import utils
from reporting import build_report, check_outputs
from support import outputs
from support.mnist_files import MNISTError, find_data_dir

# The order in which stale tasks start: the longest first, so that the scripts running side by
# side finish at about the same time.
LONGEST_FIRST = ("task5", "task4", "task3", "task2")
# Two scripts with a BLAS thread per core each, on two cores, slow each other down twenty times
# over (tasks 3 and 4 side by side: 239 s, against 11 s with one thread each). One thread costs
# a script that runs alone about a fifth of its speed, but it is set for every script, alone or
# not: the last bits of a product depend on the number of threads, and the results should not
# depend on which scripts happened to run side by side.
ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# How long an interrupted task may take to stop by itself (Ctrl-C reaches every process of the
# terminal) before it is told to stop.
STOP_SECONDS = 5.0


def available_cores() -> int:
    """The cores this process may use (fewer than the machine's where that is limited)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass
class Running:
    """A task script running, its output going to a temporary file."""

    task: str
    process: subprocess.Popen
    output: IO[bytes]

    def show(self) -> None:
        """Print what the script wrote, as it wrote it (its bytes, in its own encoding)."""
        self.output.seek(0)
        sys.stdout.flush()
        sys.stdout.buffer.write(self.output.read())
        sys.stdout.buffer.flush()
        self.output.close()


def start(task: str, env: dict[str, str], flags: Sequence[str] = ()) -> Running:
    command = [sys.executable, *outputs.task_arguments(task), *flags]
    print(" ".join([outputs.rerun_command(task), *flags]), flush=True)
    output = tempfile.TemporaryFile()  # noqa: SIM115 (closed by Running.show)
    process = subprocess.Popen(
        command, cwd=outputs.REPO, env=env, stdout=output, stderr=subprocess.STDOUT
    )
    return Running(task, process, output)


def stop(running: list[Running]) -> None:
    """End interrupted tasks: each gets STOP_SECONDS to stop by itself, then is terminated."""
    deadline = time.monotonic() + STOP_SECONDS
    for job in running:
        try:
            job.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            job.process.terminate()  # a stop signal on POSIX, which the scripts handle
            job.process.wait()
        job.show()


def run_tasks(
    tasks: list[str], jobs: int, env: dict[str, str] | None = None, flags: Sequence[str] = ()
) -> list[str]:
    """Run the scripts of `tasks`, `jobs` at a time, each with `flags` and the environment
    `env` (default: this process's); return the tasks that failed.

    After a failure no further task starts; those running finish.
    """
    env = {**(os.environ if env is None else env), **ONE_BLAS_THREAD}
    pending, running, failed = list(tasks), [], []
    try:
        while pending or running:
            while pending and len(running) < jobs and not failed:
                running.append(start(pending.pop(0), env, flags))
            time.sleep(0.1)
            for job in [job for job in running if job.process.poll() is not None]:
                running.remove(job)
                job.show()
                if job.process.returncode != 0:
                    failed.append(job.task)
            if failed:
                pending.clear()
    except BaseException:
        stop(running)
        raise
    return failed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tasks-only", action="store_true", help="run the stale tasks, do not build the report"
    )
    parser.add_argument("--html", action="store_true", help="write report.html, not report.pdf")
    parser.add_argument(
        "--strict", action="store_true", help="fail if a statement of the report does not hold"
    )
    parser.add_argument(
        "--jobs",
        type=utils.positive_int,
        default=available_cores(),
        help="task scripts run at once (default: the cores, %(default)s)",
    )
    args = parser.parse_args(argv)
    name = "make_report.py"
    try:
        os.environ["MNIST_DIR"] = str(find_data_dir())  # found or downloaded once, for all
    except MNISTError as exc:
        sys.exit(f"{name}: error: {exc}")
    folders = outputs.OutputFolders.for_run(quick=False)
    for folder in (folders.figures, folders.results):
        if folder.is_dir():
            outputs.remove_leftovers(folder)
    stale = check_outputs.stale_tasks(folders)
    for task, problem in stale.items():
        print(f"{problem}: `{outputs.rerun_command(task)}` runs again")
    order = [task for task in LONGEST_FIRST if task in stale]
    failed = run_tasks(order, args.jobs)
    if failed:
        scripts = ", ".join(f"`{outputs.rerun_command(task)}`" for task in failed)
        sys.exit(f"{name}: error: {scripts} failed (output above); the report was not built")
    if not args.tasks_only:
        flags = [
            flag for flag, wanted in (("--html", args.html), ("--strict", args.strict)) if wanted
        ]
        build_report.main(flags)


if __name__ == "__main__":
    utils.run_main(main)
