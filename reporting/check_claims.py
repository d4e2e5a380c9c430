"""Check that every statement of the report holds, here and wherever the runs are repeated.

    python -m reporting.check_claims            # the current results/ (or RESULTS_DIR)
    python -m reporting.check_claims --rerun    # the full runs again, three times (`reruns`)

A statement of the model answer must hold on every machine a student may rebuild it on, not
only on the one it was written on: another BLAS kernel changes the last bits of every matrix
product, and a statement that flips with them is about noise. With --rerun, every task script
runs again into a folder of its own (--keep FOLDER keeps them) under each rerun: two OpenBLAS
kernels other than the machine's (KERNELS, checked with threadpoolctl), and other seeds for the
shuffling of Tasks 2-4 and for Task 5. The notebook is executed on each set of results, and
every statement that does not hold is printed with the rerun it fails on. Exit status 1 if any
does (CI runs this).
"""

from __future__ import annotations

import support.require_python  # noqa: F401 (first: an older Python stops here, in one line)

# isort: split

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import utils
from reporting import build_report, claims, make_report, report_helpers
from reporting.report_helpers import MissingResultsError
from support.mnist_files import MNISTError, find_data_dir


@dataclass(frozen=True)
class Rerun:
    """One repetition of all the runs: its name, its environment and its flags."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()

    @property
    def kernel(self) -> str | None:
        """The OpenBLAS kernel it asks for, if any."""
        return self.env.get("OPENBLAS_CORETYPE")


# The OpenBLAS kernels of most laptops (AVX2), of older processors (AVX) and, should the machine
# run one of those itself, of older ones still (SSE4.2): the first two that differ from the
# machine's own are used.
KERNELS = ("Haswell", "Sandybridge", "Nehalem")
OTHER_SEEDS = Rerun("seed 3 (Tasks 2-4 shuffle, Task 5 seeds 3-5)", flags=("--seed", "3"))
KERNEL_PROBE = (
    "import json, numpy, threadpoolctl; print(json.dumps([i.get('architecture') for i in "
    "threadpoolctl.threadpool_info() if i.get('internal_api') == 'openblas']))"
)


class CheckError(RuntimeError):
    """The check cannot run; the message says why."""


def openblas_kernel(env: dict[str, str]) -> str:
    """The OpenBLAS kernel that NumPy uses in a process with the environment `env`."""
    probe = subprocess.run(
        [sys.executable, "-c", KERNEL_PROBE],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )
    if probe.returncode != 0:
        raise CheckError(f"cannot ask threadpoolctl for the BLAS kernel: {probe.stderr.strip()}")
    kernels = json.loads(probe.stdout)
    if not kernels:
        raise CheckError("NumPy does not use OpenBLAS here, so its kernel cannot be chosen")
    return kernels[0]


@contextmanager
def results_in(folder: Path) -> Iterator[None]:
    """RESULTS_DIR and FIGURES_DIR set to `folder`/results and `folder`/figures for the block."""
    saved = {name: os.environ.get(name) for name in ("RESULTS_DIR", "FIGURES_DIR")}
    os.environ |= {"RESULTS_DIR": str(folder / "results"), "FIGURES_DIR": str(folder / "figures")}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def reruns(own_kernel: str) -> list[Rerun]:
    """Two OpenBLAS kernels other than `own_kernel`, the machine's, then other seeds."""
    kernels = [kernel for kernel in KERNELS if kernel.lower() != own_kernel.lower()][:2]
    return [
        *(Rerun(f"OpenBLAS {kernel} kernel", {"OPENBLAS_CORETYPE": kernel}) for kernel in kernels),
        OTHER_SEEDS,
    ]


def check_current_results() -> dict[str, Any]:
    """The box of statements (claims.box_contents) for the results that RESULTS_DIR names."""
    build_report.check_results()
    notebook = build_report.read_report()
    build_report.execute(notebook)
    return claims.box_contents(notebook)


def rerun(run: Rerun, folder: Path, jobs: int) -> dict[str, Any]:
    """Every task script again into `folder` under `run`, then the notebook on its results."""
    env = {**os.environ, **run.env}
    if run.kernel:
        default, used = openblas_kernel(dict(os.environ)), openblas_kernel(env)
        if used.lower() != run.kernel.lower():
            raise CheckError(f"{run.name}: OpenBLAS runs {used}, not {run.kernel}, on this machine")
        if default.lower() == run.kernel.lower():
            raise CheckError(f"{run.name}: {used} is this machine's own kernel; choose another")
        print(f"{run.name}: OpenBLAS runs {used} (here by default: {default})", flush=True)
    env |= {"RESULTS_DIR": str(folder / "results"), "FIGURES_DIR": str(folder / "figures")}
    order = [task for task in make_report.LONGEST_FIRST if task in report_helpers.REPORT_TASKS]
    failed_tasks = make_report.run_tasks(order, jobs, env=env, flags=run.flags)
    if failed_tasks:
        raise CheckError(f"{run.name}: {', '.join(failed_tasks)} failed (output above)")
    with results_in(folder):
        return check_current_results()


def report(name: str, box: dict[str, Any], seconds: float | None = None) -> None:
    """Print the outcome of one set of results (its box of statements): a line per statement
    that does not hold or cannot be checked."""
    took = f" in {seconds:.0f} s" if seconds is not None else ""
    failed = box["failed"]
    print(
        f"{name}: {box['checked']} statements checked{took}, {len(failed)} do not hold",
        flush=True,
    )
    for statement in failed:
        print(f"  {name}: {build_report.describe(statement, box)}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rerun", action="store_true", help="repeat the full runs under other kernels and seeds"
    )
    parser.add_argument("--keep", type=Path, help="with --rerun: keep the reruns' outputs here")
    parser.add_argument(
        "--jobs",
        type=utils.positive_int,
        default=make_report.available_cores(),
        help="task scripts run at once (default: the cores, %(default)s)",
    )
    args = parser.parse_args(argv)
    name = "check_claims.py"
    reruns_failed = 0
    try:
        if not args.rerun:
            box = check_current_results()
            report("these results", box)
            sys.exit(1 if box["failed"] else 0)
        os.environ["MNIST_DIR"] = str(find_data_dir())
        planned = reruns(openblas_kernel(dict(os.environ)))
        with tempfile.TemporaryDirectory(prefix="check-claims-") as temporary:
            root = args.keep or Path(temporary)
            for index, run in enumerate(planned):
                start = time.monotonic()
                box = rerun(run, root / f"rerun{index + 1}", args.jobs)
                report(run.name, box, time.monotonic() - start)
                reruns_failed += bool(box["failed"])
    except (CheckError, MNISTError, build_report.ReportError, MissingResultsError) as exc:
        sys.exit(f"{name}: error: {exc}")
    print(f"reruns: {len(planned) - reruns_failed} passed, {reruns_failed} failed")
    sys.exit(1 if reruns_failed else 0)


if __name__ == "__main__":
    main()
