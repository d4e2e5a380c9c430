"""The code base stays `ruff check` clean (rules in ruff.toml)."""

import subprocess
import sys

from utils import REPO


def test_ruff_check_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout
