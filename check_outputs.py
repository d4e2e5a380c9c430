"""Check that each task's results and figures are one complete set, written by a full run.

    python check_outputs.py [--mark-stale]

Prints a line for each task whose outputs are missing, incomplete, from a --quick trial, from
an older version of the scripts, or inconsistent (a figure drawn by another run than the
results file beside it), with the command that makes them anew. With --mark-stale it dates
those results files back to 1970, so that make sees them as older than their code and runs
their scripts again (`make figures` does this first); nothing is deleted.
"""

from __future__ import annotations

import argparse
import os

import utils
from report_helpers import REPORT_TASKS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mark-stale", action="store_true", help="date stale results files back for make"
    )
    args = parser.parse_args(argv)
    folders = utils.OutputFolders.for_run(quick=False)
    for folder in (folders.figures, folders.results):
        utils.remove_leftovers(folder)
    for task in REPORT_TASKS:
        problem = utils.output_set_problem(task, folders)
        if problem is None:
            continue
        print(f"{problem}: `{utils.rerun_command(task)}` will make them anew")
        results = folders.results / f"{task}.json"
        if args.mark_stale and results.is_file():
            os.utime(results, (0, 0))


if __name__ == "__main__":
    main()
