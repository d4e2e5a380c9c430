"""Which tasks must run again: their outputs are not one complete set from a full run of the
current code.

    python -m reporting.check_outputs

Prints a line for each task whose outputs are missing, incomplete, from a --quick trial, from
an older version of the scripts, inconsistent (a figure drawn by another run than the results
file beside it) or older than the code that makes them, with the command that makes them anew.
make_report.py (`make report`, `make figures`) runs exactly those tasks.
"""

from __future__ import annotations

import support.require_python  # noqa: F401 (first: an older Python stops here, in one line)

# isort: split

import argparse
import ast
from pathlib import Path

from reporting.report_helpers import REPORT_TASKS
from support import outputs

# Besides the code: a change of the requirements (new versions of NumPy, ...) re-runs every task.
REQUIREMENTS = outputs.REPO / "requirements.txt"


def code_files(task: str) -> list[Path]:
    """The script of `task` ("task5_search": task5.py) and every module of this repository it
    imports, directly or through another, found by reading their import statements."""
    found: set[Path] = set()
    todo = [task.partition("_")[0]]
    while todo:
        path = module_file(todo.pop())
        if path is None or path in found:
            continue  # a module from elsewhere (the standard library, NumPy, ...)
        found.add(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                # `from package import module` imports a module; `from module import name`
                # a name, for which no file is found.
                todo += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return sorted(found)


def module_file(name: str) -> Path | None:
    """The file of the module `name` ("support.outputs": support/outputs.py) if it is one of
    this repository's, else None."""
    base = outputs.REPO.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def newer_input(task: str, results: Path) -> Path | None:
    """A file that `task`'s outputs depend on and that changed after `results` was written."""
    written = results.stat().st_mtime
    for path in [*code_files(task), REQUIREMENTS]:
        if path.is_file() and path.stat().st_mtime > written:
            return path
    return None


def stale_tasks(folders: outputs.OutputFolders | None = None) -> dict[str, str]:
    """The tasks of the report that must run again, each with what is wrong with its outputs."""
    folders = folders or outputs.OutputFolders.for_run(quick=False)
    stale = {}
    for task in REPORT_TASKS:
        problem = outputs.output_set_problem(task, folders)
        if problem is None:
            results = folders.results / f"{task}.json"
            newer = newer_input(task, results)
            if newer is not None:
                problem = f"{results} is older than {newer.name}"
        if problem is not None:
            stale[task] = problem
    return stale


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    folders = outputs.OutputFolders.for_run(quick=False)
    for folder in (folders.figures, folders.results):
        outputs.remove_leftovers(folder)
    for task, problem in stale_tasks(folders).items():
        print(f"{problem}: `{outputs.rerun_command(task)}` will make them anew")


if __name__ == "__main__":
    main()
