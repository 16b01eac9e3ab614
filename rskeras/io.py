"""Atomic file output: write under a temporary name in the same folder, then rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(dst: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``dst``; rename it to ``dst`` when the block succeeds.

    The temporary name ends in all of ``dst``'s suffixes, so writers that choose a
    format by file name (Keras, GDAL, pyogrio) write the same format.

    On any exception (KeyboardInterrupt included) the temporary file or folder is
    removed and ``dst`` is left as it was, so nothing half-written remains.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    suffixes = "".join(dst.suffixes)  # all of them: Keras wants ``.weights.h5``, GDAL ``.tif``, pyogrio ``.gpkg``
    stem = dst.name[: len(dst.name) - len(suffixes)] if suffixes else dst.name
    tmp = dst.with_name(f".{stem}.{uuid.uuid4().hex[:8]}.tmp{suffixes}")
    try:
        yield tmp
        os.replace(tmp, dst)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(dst: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``dst`` atomically; returns ``dst`` as a Path."""
    with atomic_path(dst) as tmp:
        tmp.write_text(text)
    return Path(dst)
