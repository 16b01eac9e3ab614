"""File helpers shared by the Earth Engine readers and writers: globbing and compression (atomic writes: rskeras.io).

Paths go through ``tf.io.gfile``, so local paths and ``gs://`` URLs both work.
"""

from __future__ import annotations

import os
import struct
from typing import Sequence

import tensorflow as tf

GZIP_MAGIC = b"\x1f\x8b"


def expand_files(files: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """Expand a pattern, a path or a list of either into a sorted-per-pattern list of files.

    Raises:
        FileNotFoundError: a pattern or path that matches nothing (named in the message).
    """
    items = [files] if isinstance(files, (str, os.PathLike)) else list(files)
    if not items:
        raise FileNotFoundError("no TFRecord files given (an empty list)")
    out: list[str] = []
    for item in items:
        item = os.fspath(item)
        if any(c in item for c in "*?["):
            matched = sorted(tf.io.gfile.glob(item))
            if not matched:
                raise FileNotFoundError(f"the file pattern {item!r} matches no file")
            out.extend(matched)
        elif tf.io.gfile.exists(item):
            out.append(item)
        else:
            raise FileNotFoundError(f"TFRecord file {item!r} does not exist")
    return out


def detect_compression(path: str) -> str:
    """``"GZIP"`` when the file starts with the GZIP magic bytes, else ``""`` (plain TFRecord)."""
    with tf.io.gfile.GFile(path, "rb") as f:
        return "GZIP" if f.read(2) == GZIP_MAGIC else ""


def resolve_compression(paths: Sequence[str], compression: str | None) -> str:
    """The one compression type of ``paths``: given (``"GZIP"``, ``""``/None) or detected (``"auto"``)."""
    if compression != "auto":
        value = (compression or "").upper()
        if value not in ("", "GZIP"):
            raise ValueError(f"compression must be 'auto', 'GZIP' or None/'' (plain), got {compression!r}")
        return value
    kinds = {p: detect_compression(p) for p in paths}
    if len(set(kinds.values())) > 1:
        gz = [p for p, k in kinds.items() if k]
        plain = [p for p, k in kinds.items() if not k]
        raise ValueError(f"files mix GZIP ({gz[:3]}...) and plain TFRecord ({plain[:3]}...); read them separately")
    return next(iter(kinds.values()))


def stream_size(path: str, compression: str) -> int:
    """Bytes of the TFRecord stream in ``path``: the file size, or for GZIP the trailer's ISIZE.

    ISIZE is the uncompressed size modulo 2**32 (RFC 1952), read from the last 4 bytes.
    """
    size = tf.io.gfile.stat(path).length
    if compression != "GZIP":
        return size
    if size < 18:
        return -1  # too short to be a complete GZIP file: cannot match any stream length
    with tf.io.gfile.GFile(path, "rb") as f:
        f.seek(size - 4)
        return struct.unpack("<I", f.read(4))[0]
