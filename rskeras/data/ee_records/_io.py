"""File helpers of the Earth Engine readers and writers: globbing, compression, the first record, read errors.

Paths go through ``tf.io.gfile``, so local paths and ``gs://`` URLs both work (atomic writes: rskeras.io).
Every error names the file at fault, and the record where it is known.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import struct
import zlib
from typing import BinaryIO, Iterator, Sequence

import tensorflow as tf
from google.protobuf.message import DecodeError

from rskeras.data.ee_records.example_codec import feature_lengths

GZIP_MAGIC = b"\x1f\x8b"
#: File names of TFRecords as Earth Engine writes them: plain, or GZIP with ``.gz``.
TFRECORD_SUFFIXES = (".tfrecord", ".tfrecord.gz")
_CHUNK = 1 << 20  # bytes read at a time from a record of unknown (possibly corrupt) length


def expand_files(files: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """Expand a pattern, a path or a list of either into a sorted-per-pattern list of files.

    Raises:
        FileNotFoundError: a pattern or path that matches nothing (named in the message).
        ValueError: a folder instead of files.
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
        elif not tf.io.gfile.exists(item):
            raise FileNotFoundError(f"TFRecord file {item!r} does not exist")
        else:
            out.append(item)
    folders = [p for p in out if tf.io.gfile.isdir(p)]
    if folders:
        raise ValueError(f"{folders[0]} is a folder; give its TFRecord files (a pattern such as "
                         f"{os.path.join(folders[0], '*.tfrecord.gz')!r})")
    return out


def detect_compression(path: str) -> str:
    """``"GZIP"`` when the file starts with the GZIP magic bytes, else ``""`` (plain TFRecord)."""
    with tf.io.gfile.GFile(path, "rb") as f:
        return "GZIP" if f.read(2) == GZIP_MAGIC else ""


def compression_type(compression: str | None) -> str:
    """``"GZIP"`` or ``""`` (plain) from ``"GZIP"`` / ``"gzip"`` / ``""`` / None."""
    value = (compression or "").upper()
    if value not in ("", "GZIP"):
        raise ValueError(f"compression must be 'auto', 'GZIP' or None/'' (plain), got {compression!r}")
    return value


def brief(paths: Sequence[str]) -> str:
    """The first three of ``paths`` and how many more, for messages."""
    return ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def resolve_compression(paths: Sequence[str], compression: str | None) -> str:
    """The one compression type of ``paths``, detected from their first bytes.

    Args:
        compression: ``"auto"``, or the expected ``"GZIP"`` / ``""`` / None (plain), which the
            files must then have.

    Raises:
        ValueError: the files mix GZIP and plain records, or are not what ``compression`` says.
    """
    kinds = {p: detect_compression(p) for p in paths}
    gz = [p for p, k in kinds.items() if k]
    plain = [p for p, k in kinds.items() if not k]
    if gz and plain:
        hint = ("narrow the pattern to the TFRecord files" if any(not p.lower().endswith(TFRECORD_SUFFIXES) for p in plain)
                else "read them separately")
        raise ValueError(f"files mix GZIP ({brief(gz)}) and plain TFRecord ({brief(plain)}); {hint}")
    found = "GZIP" if gz else ""
    if compression != "auto" and compression_type(compression) != found:
        raise ValueError(f"compression={compression!r} but {brief(paths)} {'are GZIP' if gz else 'are not GZIP'}; "
                         "leave compression='auto'")
    return found


def output_compression(path: str | os.PathLike, compression: str | None = "auto") -> str:
    """The compression a TFRecord output gets: GZIP for a ``.gz`` name, else plain.

    Raises:
        ValueError: ``compression`` given and contradicting the name.
    """
    gz = os.fspath(path).lower().endswith(".gz")
    if compression == "auto":
        return "GZIP" if gz else ""
    value = compression_type(compression)
    if bool(value) != gz:
        hint = "name it *.tfrecord.gz" if value else "name it *.tfrecord (without .gz)"
        raise ValueError(f"compression={compression!r} does not match the file name {os.fspath(path)}: {hint} "
                         "or leave compression='auto' (GZIP exactly when the name ends in .gz)")
    return value


def read_json_object(path: str, what: str) -> dict:
    """The JSON object in ``path`` (local or ``gs://``); ``what`` names the file in errors.

    Raises:
        ValueError: a folder, not JSON, or JSON that is not an object.
    """
    if tf.io.gfile.isdir(path):
        raise ValueError(f"{what} {path} is a folder; give the file")
    with tf.io.gfile.GFile(path, "rb") as f:
        try:
            data = json.loads(f.read().decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{what} {path} is not JSON ({err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{what} {path} holds {type(data).__name__}, not a JSON object")
    return data


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` as it is (a temporary path of an atomic write; local or ``gs://``)."""
    with tf.io.gfile.GFile(os.fspath(path), "w") as f:
        f.write(text)


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


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes, read in chunks (a corrupt length must not allocate its size)."""
    parts, left = [], n
    while left > 0:
        part = stream.read(min(left, _CHUNK))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def read_first_record(path: str, compression: str) -> bytes | None:
    """The first record of a TFRecord file, or None when the file holds none.

    TFRecord framing: 8 bytes length (little-endian), 4 bytes CRC of it, the data, 4 bytes CRC.

    Raises:
        ValueError: the file is truncated, corrupt or no TFRecord file (named in the message).
    """
    kind = "GZIP " if compression == "GZIP" else ""
    try:
        with tf.io.gfile.GFile(path, "rb") as raw:
            stream = gzip.GzipFile(fileobj=raw) if compression == "GZIP" else raw
            header = _read_exactly(stream, 12)
            if not header:
                return None
            length = struct.unpack("<Q", header[:8])[0] if len(header) == 12 else None
            data = _read_exactly(stream, length) if length is not None else b""
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as err:
        raise ValueError(f"{kind}TFRecord file {path} is truncated or corrupt: record 0 cannot be read ({err})") from err
    if length is None or len(data) < length:
        raise ValueError(f"TFRecord file {path} is truncated or is no {kind}TFRecord file: record 0 announces "
                         f"{length if length is not None else 'a length in'} bytes but the file ends first")
    return data


def first_record(paths: Sequence[str], compression: str) -> tuple[str, dict[str, tuple[str, int]]]:
    """The first record found in ``paths``: ``(file, {feature: (kind, length)})`` (see ``feature_lengths``).

    Raises:
        ValueError: a file is truncated or corrupt before its first record ends, its first record is
            no ``tf.train.Example``, or every file is empty (for example a split that received no patches).
    """
    for path in paths:
        record = read_first_record(path, compression)
        if record is None:
            continue
        try:
            return path, feature_lengths(record)
        except DecodeError as err:
            raise ValueError(f"record 0 of {path} is not a tf.train.Example (is it an Earth Engine TFRecord export?)") from err
    raise ValueError(f"no patches: the {len(paths)} TFRecord file(s) [{brief(paths)}] hold no records (an empty split or export?)")


_ASSERT = re.compile(r"assertion failed: (.*)", re.S)
_LENGTH = re.compile(r"Name: (.*?), Key: (.*?), Index: \d+\.\s+Number of float values != expected\.\s+"
                     r"Values size: (\d+) but output shape: \[(\d+)\]")


def read_error_message(err: tf.errors.OpError, paths: Sequence[str]) -> str:
    """One line for a TensorFlow error met while reading ``paths``, naming the file (and record) at fault."""
    text = err.message
    found = _LENGTH.search(text)
    if found:
        name, key, size, expected = found.groups()
        return f"{name}: feature {key!r} holds {size} values where the first record's size is {expected} (patches of different sizes?)"
    found = _ASSERT.search(text)
    if found:  # tf.debugging.Assert's data, each item in brackets
        return " ".join(item.strip() for item in re.findall(r"\[(.*?)\]", found.group(1).split("\n")[0]))
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return f"reading TFRecord file(s) {brief(list(paths))} failed: {first}"


@contextlib.contextmanager
def named_read_errors(paths: Sequence[str]) -> Iterator[None]:
    """Turn TensorFlow's read and parse errors inside the block into a ``ValueError`` naming the file."""
    try:
        yield
    except tf.errors.OpError as err:
        raise ValueError(read_error_message(err, paths)) from err
