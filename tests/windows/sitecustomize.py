"""Windows, as far as this project's code can tell, on a POSIX system.

Python imports this module at start-up when its folder is on PYTHONPATH, before any of the
project's code (the tests run scripts so: tests/test_outputs.py, tests/test_platforms.py).
`signal` loses what Windows lacks: SIGHUP, SIGKILL and the other POSIX signals, and the
functions that block or wait for signals (pthread_sigmask, ...). `os.kill(pid, 0)` raises, as it
does on Windows for a process that has exited (for a running one it sends Ctrl-C there, since
signal 0 is CTRL_C_EVENT). Other signals still reach os.kill, so that tests can stop the process.

Only this project's code is simulated: a script, `python -c`, and pytest. Other modules run with
`-m` (the Jupyter kernel, JupyterLab) are left as they are: on Windows they would take their
Windows code paths, which this simulation cannot give them (sys.platform stays what it is).
"""

import os
import signal
import sys

# What Windows' `signal` module has besides its functions signal, getsignal, raise_signal,
# set_wakeup_fd, strsignal, valid_signals and default_int_handler.
WINDOWS_NAMES = {"SIGABRT", "SIGFPE", "SIGILL", "SIGINT", "SIGSEGV", "SIGTERM", "SIG_DFL"}
WINDOWS_NAMES.add("SIG_IGN")
POSIX_FUNCTIONS = (
    "alarm", "getitimer", "pause", "pidfd_send_signal", "pthread_kill", "pthread_sigmask",
    "setitimer", "siginterrupt", "sigpending", "sigtimedwait", "sigwait", "sigwaitinfo",
)  # fmt: skip
_posix_kill = os.kill


def _kill(pid, signum):
    if signum == 0:
        raise OSError(22, "Invalid argument (simulated Windows: signal 0 is CTRL_C_EVENT)")
    _posix_kill(pid, signum)


def simulated():
    """Whether this process runs the project's code (not another module run with -m)."""
    arguments = sys.orig_argv[1:]
    if "-m" in arguments[:-1]:
        return arguments[arguments.index("-m") + 1] == "pytest"
    return True


if simulated():
    for name in dir(signal):
        if name.isupper() and name.startswith(("SIG", "ITIMER")) and name not in WINDOWS_NAMES:
            delattr(signal, name)
    for name in POSIX_FUNCTIONS:
        if hasattr(signal, name):
            delattr(signal, name)
    os.kill = _kill
