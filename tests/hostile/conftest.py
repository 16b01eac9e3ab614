"""The hostile-user harness: run an entry point the way a user makes a mistake, then check what it left.

Every case of ``tests/hostile/`` states an input, the expected exit (an error whose text names the
fault, or success) and checks that

- the inputs are unchanged (:func:`checksums` before and after),
- no partial or temporary file remains (:func:`leftovers`),
- a CLI error is one line on stderr, exit status 2, no traceback (:func:`run_cli`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: Substrings of file names that only temporary or partial outputs carry.
TEMPORARY_MARKS = (".tmp", ".rskeras-tmp", ".partial", "~")


def checksums(*paths: str | os.PathLike) -> dict[str, str]:
    """SHA-256 of every file under ``paths`` (files or folders), keyed by path."""
    found = {}
    for path in map(Path, paths):
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            found[str(file)] = hashlib.sha256(file.read_bytes()).hexdigest()
    return found


def leftovers(folder: str | os.PathLike) -> list[str]:
    """Files and folders under ``folder`` whose names mark them temporary or partial."""
    return sorted(str(p) for p in Path(folder).rglob("*") if any(mark in p.name for mark in TEMPORARY_MARKS))


@dataclass
class CliResult:
    """What one ``rskeras`` command did."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def error(self) -> str:
        """The last non-empty line of stderr (the one-line error)."""
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def run_cli(*args: str | os.PathLike, cwd: str | os.PathLike | None = None, timeout: float = 300,
            env: dict | None = None) -> CliResult:
    """Run ``rskeras ARGS`` in a fresh process (as a user would) and capture its output."""
    environment = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    done = subprocess.run([sys.executable, "-m", "rskeras.cli", *map(str, args)], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=timeout)
    return CliResult(done.returncode, done.stdout, done.stderr)


def assert_cli_error(result: CliResult, *needles: str) -> None:
    """Exit status 2, no traceback, and an error line that contains every needle (case-insensitive)."""
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    for needle in needles:
        assert needle.lower() in result.error.lower(), (needle, result.stderr[-2000:])


@pytest.fixture
def unchanged():
    """``with unchanged(path, ...):`` asserts the files under the paths have the same checksums afterwards."""
    import contextlib

    @contextlib.contextmanager
    def check(*paths):
        before = checksums(*paths)
        yield
        assert checksums(*paths) == before, "an input was modified"

    return check


@pytest.fixture
def cli(capsys):
    """``cli(*args)`` runs ``rskeras ARGS`` in this process (TensorFlow loads once, so cases stay fast) and
    returns a :class:`CliResult`; cases about signals, hangs and exit codes of a fresh process use :func:`run_cli`."""
    from rskeras.cli import main

    def run(*args: str | os.PathLike) -> CliResult:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit_:  # usage errors and --help
            code = exit_.code if isinstance(exit_.code, int) else 1
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run
