"""Stop at once, in one line, on a Python older than this project needs.

Imported first by every command (the task scripts, and reporting/'s check_outputs.py,
build_report.py and make_report.py), and run by the Makefile before it creates the virtual
environment, so that an old Python says so before anything is installed or trained. Written in
syntax that any Python reads, 2.7 included: a newer construct here would end in a SyntaxError
instead of this message.
"""

import os
import sys

NEEDED = (3, 11)


def problem(version_info=sys.version_info, executable=sys.executable):
    """The one-line complaint about the Python `version_info`, or None if it is new enough."""
    if tuple(version_info[:2]) >= NEEDED:
        return None
    found = ".".join(str(part) for part in version_info[:3])
    needed = "%d.%d" % NEEDED  # noqa: UP031 (old Pythons have no f-strings)
    name = os.path.basename((sys.argv or [""])[0]) or "python"
    return (
        "%s: error: this is Python %s (%s); the project needs Python %s or newer: install it "  # noqa: UP031
        "(python.org, Homebrew or conda) and run this with it (with make: make PYTHON=python%s)"
        % (name, found, executable, needed, needed)
    )


def require(version_info=sys.version_info, executable=sys.executable):
    """Exit with the complaint of `problem` if there is one."""
    message = problem(version_info, executable)
    if message:
        sys.exit(message)


require()
