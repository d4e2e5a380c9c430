"""The code base stays `ruff check` clean (rules in ruff.toml), and every text read and write
names its encoding."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from support.outputs import REPO

SUBPROCESS_CALLS = {"run", "Popen", "check_output", "check_call", "call"}
COMPRESSION_MODULES = {"gzip", "bz2", "lzma", "io", "codecs"}  # open(path, mode) as a function


def test_ruff_check_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    assert result.returncode == 0, result.stdout


def text_io_without_encoding(source: str) -> list[int]:
    """Lines of `source` that read or write text without naming the encoding.

    The locale's encoding, which Python uses when none is named, is cp1252 on many Windows
    machines: a UTF-8 file read with it comes out wrong. Counted: `open` and `X.open` in a text
    mode, `os.fdopen`, `read_text` and `write_text`, and subprocess calls with text=True.
    """
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        keywords = {keyword.arg: keyword.value for keyword in node.keywords}
        if "encoding" in keywords:
            continue
        function = node.func
        name = function.id if isinstance(function, ast.Name) else getattr(function, "attr", "")
        owner = getattr(function, "value", None)
        owner_name = owner.id if isinstance(owner, ast.Name) else None
        if name in ("read_text", "write_text", "fdopen"):
            lines.append(node.lineno)
        # os.open takes flags, not a mode; pdfplumber.open reads a PDF, in binary
        elif name == "open" and owner_name not in ("os", "pdfplumber"):
            # open(path, mode) and gzip.open(path, mode), but path.open(mode)
            function_of_path = isinstance(function, ast.Name) or owner_name in COMPRESSION_MODULES
            position = 1 if function_of_path else 0
            mode = node.args[position] if len(node.args) > position else keywords.get("mode")
            binary = isinstance(mode, ast.Constant) and "b" in str(mode.value)
            if not binary:
                lines.append(node.lineno)
        elif name in SUBPROCESS_CALLS and owner_name == "subprocess":
            text = keywords.get("text") or keywords.get("universal_newlines")
            if isinstance(text, ast.Constant) and text.value:
                lines.append(node.lineno)
    return sorted(lines)


def test_every_text_read_and_write_names_its_encoding() -> None:
    offenders = []
    for path in sorted(REPO.rglob("*.py")):
        if {".venv", ".git", "fixtures"} & set(path.relative_to(REPO).parts):
            continue
        lines = text_io_without_encoding(path.read_text(encoding="utf-8"))
        offenders += [f"{path.relative_to(REPO)}:{line}" for line in lines]
    assert offenders == [], "name the encoding (encoding='utf-8') at " + ", ".join(offenders)


def test_the_encoding_check_finds_what_it_looks_for() -> None:
    source = Path(__file__).with_name("fixtures") / "text_io_sample.py"
    flagged = text_io_without_encoding(source.read_text(encoding="utf-8"))
    marked = [
        number
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1)
        if line.endswith("# flagged")
    ]
    assert marked and flagged == marked
