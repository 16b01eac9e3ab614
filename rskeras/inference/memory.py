"""Memory checks before a prediction starts: what is available, and the largest work that fits.

No TensorFlow here (a GPU is asked about only when TensorFlow is already loaded).

The budget is ``max_memory=`` when given, else what the machine has free:

- a GPU that TensorFlow uses: its total memory (``nvidia-smi``) less what TensorFlow
  already holds, times :data:`USABLE_FRACTION`;
- otherwise the host: ``MemAvailable`` of ``/proc/meminfo`` (capped by a cgroup v2
  limit, as in containers), or the physical memory where neither exists, times
  :data:`USABLE_FRACTION`.

:func:`fit_batch` compares an estimate (``estimate(tile, batch) -> bytes``) with
the budget: a batch size that was not given shrinks until it fits; a tile or
batch size that was given and does not fit is refused (ValueError) with the
largest tile and the largest batch that would fit and what they would need.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

USABLE_FRACTION = 0.8  # of the free memory: the model, GDAL's cache and Python need the rest
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6, "mib": 2**20,
          "g": 2**30, "gb": 10**9, "gib": 2**30, "t": 2**40, "tb": 10**12, "tib": 2**40}


def parse_size(value: int | str) -> int:
    """Bytes from an int or a text such as ``"512MiB"``, ``"2 GB"`` or ``"1.5g"`` (binary k/m/g/t)."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
        unit = match.group(2).lower() if match else None
        if unit not in _UNITS:
            raise ValueError(f"max_memory={value!r} is not a size; write e.g. 4GiB, 512MiB or a number of bytes")
        size = int(float(match.group(1)) * _UNITS[unit])
    if size <= 0:
        raise ValueError(f"max_memory must be positive, got {value!r}")
    return size


def format_size(size: float) -> str:
    """``"1.5 GiB"``-style text for a number of bytes."""
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{int(size)} bytes"


def available_memory() -> tuple[int, str]:
    """``(bytes, where)``: the memory a prediction may use and a few words on where it is."""
    gpu = _gpu_free()
    if gpu is not None:
        return int(gpu * USABLE_FRACTION), "free GPU memory"
    return int(_host_free() * USABLE_FRACTION), "free host memory"


def _host_free() -> int:
    """Free host memory in bytes: MemAvailable, capped by a cgroup v2 limit."""
    free = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        match = re.search(r"MemAvailable:\s+(\d+) kB", meminfo.read_text())
        free = int(match.group(1)) * 1024 if match else None
    if free is None:
        free = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit, used = Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")
    if limit.exists() and used.exists() and limit.read_text().strip().isdigit():
        free = min(free, int(limit.read_text()) - int(used.read_text()))
    return free


def _gpu_free() -> int | None:
    """Free memory of the first GPU TensorFlow uses, or None (no GPU, or TensorFlow not loaded)."""
    tf = sys.modules.get("tensorflow")
    if tf is None or not tf.config.list_physical_devices("GPU"):
        return None
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits", "-i", "0"],
                              capture_output=True, text=True, timeout=10, check=True)
        total = int(done.stdout.split()[0]) * 2**20
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None
    return total - tf.config.experimental.get_memory_info("GPU:0")["current"]


def fit_batch(
    estimate: Callable[[int, int], int],
    tile: int,
    batch: int,
    *,
    batch_given: bool,
    tile_given: bool,
    multiple: int,
    budget: int,
    where: str,
    names: tuple[str, str] = ("tile_size", "batch_size"),
) -> tuple[int, list[str]]:
    """The batch size to use for ``tile``, and notes; raises ValueError when what was given does not fit.

    Args:
        estimate: ``(tile, batch) -> bytes`` needed.
        multiple: tile sizes that the model takes are multiples of this; 0 when the tile is fixed.
        budget, where: the bytes available and where they are (for the message).
        names: the names of the tile and batch options in messages.
    """
    need = estimate(tile, batch)
    if need <= budget:
        return batch, []
    fits = _largest(lambda b: estimate(tile, b) <= budget, batch)
    tile_name, batch_name = names
    available = f"{format_size(budget)} of {where}"
    if not batch_given and fits:
        return fits, [f"{batch_name} lowered from {batch} to {fits} to fit in {available}"]
    limit = ("max_memory allows " + format_size(budget)) if where == "max_memory" else \
        f"{available} is available (max_memory= sets the limit)"
    options = [f"{batch_name}={fits} fits ({format_size(estimate(tile, fits))})"] if fits else []
    if multiple and tile_given:
        per_call = batch if batch_given else 1
        k = _largest(lambda k: estimate(k * multiple, per_call) <= budget, tile // multiple)
        if k:
            options.append(f"{tile_name}={k * multiple} fits ({format_size(estimate(k * multiple, per_call))})")
    if not options:
        smallest = multiple or tile
        options.append(f"even {tile_name}={smallest} with {batch_name}=1 needs about "
                       f"{format_size(estimate(smallest, 1))}")
    raise ValueError(f"{tile_name}={tile} with {batch_name}={batch} needs about {format_size(need)}, but {limit}; "
                     + "; ".join(options))


def _largest(fits: Callable[[int], bool], upper: int) -> int:
    """The largest ``n`` in ``1..upper`` with ``fits(n)`` (``fits`` is monotone), or 0."""
    low, high = 0, upper
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low
