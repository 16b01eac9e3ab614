"""Safe output: checks before work, temporary names a rerun cleans up, outputs that appear whole or not at all.

The rules every rskeras writer follows (no TensorFlow here unless a path is a URL):

1. Before any work, :func:`check_output` refuses an output that is one of the inputs
   (paths resolved, glob patterns expanded), an existing directory, a name whose
   suffix is not the format written, or a path that cannot be created.
2. Files are written under a temporary name in the destination's folder,
   ``.<stem>.rskeras-tmp-<pid>-<random><suffixes>``, and renamed when complete
   (:func:`atomic_path`; :func:`atomic_paths` for outputs that belong together, such
   as records and their mixer, or a map and its probabilities: all are renamed only
   after all were written, the last one named last).
3. On any exception (``KeyboardInterrupt`` and ``SystemExit`` included; the CLI turns
   SIGTERM into ``SystemExit``, see :func:`exit_on_sigterm`) the temporaries are removed.
   A process killed outright (SIGKILL) cannot clean up: the next write to the same
   destination removes temporaries whose process no longer runs
   (:func:`remove_stale_temporaries`).
4. A process ends even when an exception escapes while a ``tf.data`` pipeline is
   running (:func:`release_pipelines_at_exit`, registered when rskeras is imported).

Outputs may be folders too (a SavedModel version, a report folder): a temporary folder is
renamed over the destination, and an existing destination folder is replaced whole.

Local paths and ``gs://`` URLs work; URLs go through ``tf.io.gfile`` (no stale-file
cleanup there: object stores have no half-written objects to find).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import glob
import os
import shutil
import signal
import sys
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

TEMP_MARK = ".rskeras-tmp-"

PathLike = str | os.PathLike


def is_url(path: PathLike) -> bool:
    """True for ``scheme://...`` paths (``gs://``), which go through ``tf.io.gfile``."""
    return "://" in os.fspath(path)


def _split_name(name: str) -> tuple[str, str]:
    """``("stem", ".all.suffixes")``: Keras wants ``.weights.h5``, GDAL ``.tif``, TFRecord ``.tfrecord.gz``."""
    suffixes = "".join(Path(name).suffixes)
    return name[: len(name) - len(suffixes)] if suffixes else name, suffixes


def temporary_name(dst: PathLike) -> str:
    """A fresh temporary name beside ``dst`` that :func:`remove_stale_temporaries` recognises."""
    dst = os.fspath(dst)
    folder, name = os.path.split(dst)
    stem, suffixes = _split_name(name)
    return os.path.join(folder, f".{stem}{TEMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}{suffixes}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(dst: PathLike) -> list[Path]:
    """Remove temporaries of ``dst`` left by processes that no longer run; returns what was removed."""
    if is_url(dst):
        return []
    folder, name = os.path.split(os.path.abspath(os.fspath(dst)))
    stem, suffixes = _split_name(name)
    removed = []
    for candidate in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(stem)}{TEMP_MARK}*")):
        pid = os.path.basename(candidate)[len(stem) + 1 + len(TEMP_MARK):].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            _remove(candidate)
            removed.append(Path(candidate))
    return removed


def exists(path: PathLike) -> bool:
    """Whether ``path`` (local or ``gs://``) exists."""
    path = os.fspath(path)
    if is_url(path):
        import tensorflow as tf

        return tf.io.gfile.exists(path)
    return os.path.exists(path)


def _remove(path: str) -> None:
    if is_url(path):
        import tensorflow as tf

        if tf.io.gfile.exists(path):
            (tf.io.gfile.rmtree if tf.io.gfile.isdir(path) else tf.io.gfile.remove)(path)
        return
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        for p in (path, f"{path}.aux.xml"):  # GDAL's side-car file
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)


def _rename(tmp: str, dst: str) -> None:
    if is_url(dst):
        import tensorflow as tf

        tf.io.gfile.rename(tmp, dst, overwrite=True)
        return
    if os.path.isdir(dst) and not os.path.islink(dst):  # a folder output replaces the old folder whole
        old = temporary_name(dst)
        os.replace(dst, old)
        os.replace(tmp, dst)
        _remove(old)
        return
    os.replace(tmp, dst)
    if os.path.exists(f"{tmp}.aux.xml"):
        os.replace(f"{tmp}.aux.xml", f"{dst}.aux.xml")


def _make_folder(dst: str) -> None:
    folder = os.path.dirname(dst)
    if not folder:
        return
    if is_url(dst):
        import tensorflow as tf

        tf.io.gfile.makedirs(folder)
    else:
        os.makedirs(folder, exist_ok=True)


@contextlib.contextmanager
def atomic_paths(*dsts: PathLike) -> Iterator[list[Path] | list[str]]:
    """Temporary paths for outputs that belong together; all are renamed to ``dsts`` when the block succeeds.

    The renames happen only after the block returns (every file written and closed),
    in the order given, so name the file that marks completion (a mixer, an index)
    last. On any exception every temporary is removed and no ``dst`` is touched.
    Local destinations yield :class:`~pathlib.Path` objects, URLs strings.
    """
    names = [os.fspath(d) for d in dsts]
    temps = []
    for name in names:
        _make_folder(name)
        remove_stale_temporaries(name)
        temps.append(temporary_name(name))
    try:
        yield [t if is_url(t) else Path(t) for t in temps]
        for tmp, dst in zip(temps, names):
            _rename(tmp, dst)
    except BaseException:
        for tmp in temps:
            _remove(tmp)
        raise


@contextlib.contextmanager
def atomic_path(dst: PathLike) -> Iterator[Path | str]:
    """A temporary path beside ``dst``, renamed to ``dst`` when the block succeeds (see the module's rules).

    The temporary name keeps all of ``dst``'s suffixes, so writers that choose a format
    by file name (Keras, GDAL, pyogrio) write the same format.
    """
    with atomic_paths(dst) as (tmp,):
        yield tmp


def atomic_write_text(dst: PathLike, text: str) -> Path:
    """Write ``text`` to ``dst`` atomically; returns ``dst`` as a Path (or the URL string)."""
    with atomic_path(dst) as tmp:
        if is_url(tmp):
            import tensorflow as tf

            with tf.io.gfile.GFile(tmp, "w") as f:
                f.write(text)
        else:
            Path(tmp).write_text(text)
    return os.fspath(dst) if is_url(dst) else Path(dst)


def expand_inputs(inputs: Iterable[PathLike]) -> list[str]:
    """Input paths with glob patterns expanded (what a writer must never overwrite)."""
    found = []
    for item in inputs:
        item = os.fspath(item)
        if any(c in item for c in "*?["):
            if is_url(item):
                import tensorflow as tf

                found += tf.io.gfile.glob(item)
            else:
                found += glob.glob(item)
        else:
            found.append(item)
    return found


def _same_file(a: str, b: str) -> bool:
    if is_url(a) or is_url(b):
        return a.rstrip("/") == b.rstrip("/")
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def check_output(
    dst: PathLike,
    *,
    suffixes: Sequence[str] = (),
    inputs: Iterable[PathLike] = (),
    what: str = "output",
    folder: bool = False,
) -> None:
    """Refuse ``dst`` before any work is done (rule 1 of the module).

    Args:
        dst: the output path.
        suffixes: the file suffixes of the format written (``(".tif", ".tiff")``); a
            name ending in none of them is refused (case-insensitive). Empty: any name.
        inputs: paths or glob patterns the same call reads.
        what: how the error names the output (``"--out"``, ``"dst"``).
        folder: the output is a folder (a run folder, a report folder): an existing
            file of that name is refused instead of an existing directory.

    Raises:
        ValueError: ``dst`` is an input, an existing directory (an existing file for a
            folder output), has the wrong suffix, or cannot be created (a parent is a file,
            or a folder without write permission).
    """
    name = os.fspath(dst)
    if not is_url(name) and not folder and os.path.isdir(name):
        raise ValueError(f"{what} {name} is an existing directory; give a file name")
    if not is_url(name) and folder and os.path.exists(name) and not os.path.isdir(name):
        raise ValueError(f"{what} {name} is an existing file; give a folder")
    if suffixes and not name.lower().endswith(tuple(s.lower() for s in suffixes)):
        raise ValueError(f"{what} {name} must end in {' or '.join(suffixes)} (the format written)")
    if not is_url(name):
        _check_folder_writable(name, what)
    for source in expand_inputs(inputs):
        if _same_file(name, source):
            raise ValueError(f"{what} {name} is also an input ({source}); write to another "
                             f"{'folder' if folder else 'file'}")
        if folder and not is_url(name) and (_inside(name, source) or _inside(source, name)):
            raise ValueError(f"{what} {name} and the input {source} would be inside each other; "
                             "write to a folder outside the input data")


def _check_folder_writable(name: str, what: str) -> None:
    """Refuse ``name`` when its nearest existing parent is a file or a folder this process cannot write into."""
    parent = os.path.dirname(os.path.abspath(name))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"{what} {name} cannot be created: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {name} cannot be created: no permission to write into {parent}")


def _inside(path: str, folder: str) -> bool:
    """Whether ``path`` lies below the existing folder ``folder`` (paths resolved)."""
    if is_url(folder) or not os.path.isdir(folder):
        return False
    return os.path.realpath(path).startswith(os.path.join(os.path.realpath(folder), ""))


def check_outputs(outputs: Sequence[tuple[PathLike, Sequence[str], str]], inputs: Iterable[PathLike] = (),
                  folder: bool = False) -> None:
    """:func:`check_output` for several outputs ``(dst, suffixes, what)``, which must also differ from each other."""
    inputs = expand_inputs(inputs)
    for i, (dst, suffixes, what) in enumerate(outputs):
        check_output(dst, suffixes=suffixes, inputs=inputs, what=what, folder=folder)
        for other, _, other_what in outputs[:i]:
            if _same_file(os.fspath(dst), os.fspath(other)):
                raise ValueError(f"{what} and {other_what} are the same file ({dst}); give two names")


def _release_pipelines() -> None:
    # An exception that ends the program keeps its traceback (sys.last_traceback) until the
    # interpreter is torn down; its frames hold tf.data iterators. Destroyed that late, an
    # iterator waits for its in-flight elements, and an element that runs Python code
    # (tf.numpy_function) never finishes: the interpreter no longer lets threads take the GIL.
    for name in ("last_exc", "last_type", "last_value", "last_traceback"):
        if hasattr(sys, name):
            setattr(sys, name, None)
    gc.collect()


def release_pipelines_at_exit() -> None:
    """At exit, free what a fatal exception keeps alive, while background threads can still run.

    Without this, a Python script (or the CLI) whose ``tf.data`` pipeline fails while
    elements are in flight prints the error and then hangs forever. Idempotent.
    """
    atexit.unregister(_release_pipelines)
    atexit.register(_release_pipelines)


#: The exit status a SIGTERM asked for (``128 + 15``) once one arrived in this process, else None.
_terminated: int | None = None


def exit_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit(143)`` in this process, so temporaries are removed as on Ctrl-C.

    Only from the main thread (the CLI's ``main``); a no-op elsewhere. The status is also kept for
    :func:`termination_status`: TensorFlow turns an exception raised inside one of its callbacks into
    another error, and the CLI still has to exit as terminated. After a SIGTERM, errors of finalizers
    (``Exception ignored in ...``) are not printed: they come from objects the exit interrupted.
    """
    def handler(signum, frame):
        global _terminated
        _terminated = 128 + signum
        sys.unraisablehook = _quiet_after_termination
        raise SystemExit(_terminated)

    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGTERM, handler)


def _quiet_after_termination(unraisable) -> None:
    """``sys.unraisablehook`` once a SIGTERM arrived: finalizers' errors are not printed.

    The ``SystemExit`` is raised wherever the program was, which can be half-way through building an object
    whose finalizer then fails (TensorFlow's ``AtomicFunction.__del__`` raised ``KeyError`` for a function
    traced when SIGTERM came); its traceback would hide the one line that says the command was terminated.
    """


def termination_status() -> int | None:
    """``128 + signal`` after :func:`exit_on_sigterm`'s handler ran in this process, else None."""
    return _terminated
