"""Where the real data lives: an explicit folder, ``$RSKERAS_DATA``, or ``shared/data`` found upwards."""

from __future__ import annotations

import os
from pathlib import Path


def find_data(data: str | os.PathLike | None = None, must_contain: str | os.PathLike | None = None) -> Path:
    """The folder of real data (rasters/, eurosat_rgb/, ...).

    Looks, in order, at ``data``, at ``$RSKERAS_DATA``, and at a ``shared/data`` folder
    in the working folder or any folder above it, then above this package (a checkout
    with ``../shared/data`` beside it). With ``must_contain`` (e.g. ``"rasters"``) only a
    folder holding that path counts.

    Raises:
        FileNotFoundError listing every place looked at.
    """
    candidates = [Path(data)] if data else []
    if os.environ.get("RSKERAS_DATA"):
        candidates.append(Path(os.environ["RSKERAS_DATA"]))
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        candidates += [folder / "shared" / "data" for folder in (start, *start.parents)]
    for folder in candidates:
        if folder.is_dir() and (must_contain is None or (folder / must_contain).exists()):
            return folder
    wanted = f" holding {must_contain}" if must_contain else ""
    looked = ", ".join(dict.fromkeys(str(c) for c in candidates))
    raise FileNotFoundError(f"no data folder{wanted} found; looked at: {looked}. Pass a folder or set RSKERAS_DATA")
