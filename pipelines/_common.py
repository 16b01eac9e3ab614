"""Shared command-line handling of the pipeline scripts: config, --dry-run, printing, starting tasks."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import yaml

HERE = Path(__file__).resolve().parent
#: The spectral bands of Sentinel-2 L2A (COPERNICUS/S2_SR_HARMONIZED); B10 (cirrus) is not in L2A.
S2_L2A_BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12")
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing rskeras


def parser(name: str, doc: str) -> argparse.ArgumentParser:
    """Arguments every pipeline takes: --config, --dry-run, --project, --show-graph."""
    p = argparse.ArgumentParser(prog=name, description=doc)
    p.add_argument("--config", default=str(HERE / f"{name}.yaml"), help="YAML or JSON config (default: %(default)s)")
    p.add_argument("--dry-run", action="store_true", help="print the requests as JSON without credentials; start nothing")
    p.add_argument("--project", help="Google Cloud project for Earth Engine (overrides the config's 'project')")
    p.add_argument("--show-graph", action="store_true", help="with --dry-run: include each task's full computation graph")
    return p


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """The config file as a dict (YAML, of which JSON is a subset); errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"config file {path} does not exist" if not path.exists() else f"config file {path} is not a file")
    try:
        with path.open(encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise SystemExit(f"config file {path}{where}: not valid YAML ({getattr(err, 'problem', None) or err})") from None
    except UnicodeDecodeError as err:
        raise SystemExit(f"config file {path} is not UTF-8 text ({err})") from None
    if not isinstance(cfg, dict):
        raise SystemExit(f"config file {path} must hold a mapping, got {type(cfg).__name__}")
    return cfg


def setting(cfg: dict, key: str, default: Any = KeyError) -> Any:
    """The value at a dotted ``key`` (``"format.kernel_size"``); a missing one raises ``KeyError(key)``."""
    value: Any = cfg
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value or value[part] is None:
            if default is KeyError:
                raise KeyError(key)
            return default
        value = value[part]
    return value


def number(cfg: dict, key: str, *, minimum: float = 0.0, integer: bool = False, default: Any = KeyError) -> float:
    """A number setting greater than ``minimum`` (or equal to it for integers); ``ValueError`` names ``key``."""
    value = setting(cfg, key, default)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or (integer and value != int(value)) or (value < minimum if integer else value <= minimum):
        bound = f">= {minimum:g}" if integer else f"> {minimum:g}"
        raise ValueError(f"{key} must be {'a whole number' if integer else 'a number'} {bound}, got {value!r}")
    return int(value) if integer else float(value)


def pixel_pair(cfg: dict, key: str, *, minimum: int, default: Any = KeyError) -> list[int]:
    """An ``[x, y]`` pair of whole pixel counts >= ``minimum``; ``ValueError`` names ``key``."""
    value = setting(cfg, key, default)
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value)):
        raise ValueError(f"{key} must be [x, y] whole pixel counts >= {minimum}, got {value!r}")
    return value


def check_stack(cfg: dict) -> None:
    """The settings every image stack reads (region, dates, scale, Sentinel-2 bands), checked with their names."""
    bbox = setting(cfg, "region.bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)):
        raise ValueError(f"region.bbox must be [west, south, east, north] in degrees, got {bbox!r}")
    w, s, e, n = bbox
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise ValueError(f"region.bbox must have west < east within [-180, 180] and south < north within [-90, 90], got {bbox}")
    start, end = str(setting(cfg, "dates.start")), str(setting(cfg, "dates.end"))
    if not start < end:
        raise ValueError(f"dates.start ({start}) must come before dates.end ({end})")
    number(cfg, "scale")
    unknown = [b for b in setting(cfg, "sentinel2_bands", []) if b not in S2_L2A_BANDS]
    if unknown:
        raise ValueError(f"sentinel2_bands {unknown} are not Sentinel-2 L2A bands; choose from {', '.join(S2_L2A_BANDS)}")


def run(name: str, doc: str, build: Callable[[dict, bool], tuple[list, dict]], argv: list[str] | None = None) -> int:
    """Parse arguments, build the tasks with ``build(cfg, dry_run)`` and print or start them.

    ``build`` returns ``(tasks, summary)``: unstarted ``ee.batch.Task`` objects and a JSON-ready
    summary of what they export. Output is one JSON document on stdout.
    """
    from rskeras.ee_export import describe_task, initialize, offline_session, start_tasks

    args = parser(name, doc).parse_args(argv)
    cfg = load_config(args.config)
    project = args.project or cfg.get("project")
    if args.dry_run:
        offline_session(project or "dry-run")
    else:
        initialize(project)
    try:
        tasks, summary = build(cfg, args.dry_run)
    except KeyError as err:
        raise SystemExit(f"{name}: config {args.config} lacks the setting {err}") from None
    except (ValueError, TypeError) as err:
        raise SystemExit(f"{name}: config {args.config}: {err}") from None
    out: dict[str, Any] = {"pipeline": name, "dry_run": args.dry_run, "summary": summary}
    if args.dry_run:
        out["tasks"] = [describe_task(t, show_graph=args.show_graph) for t in tasks]
    else:
        out["started"] = start_tasks(tasks)
    json.dump(out, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0
