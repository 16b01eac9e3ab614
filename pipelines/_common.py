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
    """The config file as a dict (YAML, of which JSON is a subset)."""
    path = Path(path)
    if not path.exists():
        raise SystemExit(f"config file {path} does not exist")
    with path.open() as f:
        cfg = yaml.safe_load(f)
    if not isinstance(cfg, dict):
        raise SystemExit(f"config file {path} must hold a mapping, got {type(cfg).__name__}")
    return cfg


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
        raise SystemExit(f"{name}: config {args.config} lacks the setting {err}") from err
    except ValueError as err:
        raise SystemExit(f"{name}: config {args.config}: {err}") from err
    out: dict[str, Any] = {"pipeline": name, "dry_run": args.dry_run, "summary": summary}
    if args.dry_run:
        out["tasks"] = [describe_task(t, show_graph=args.show_graph) for t in tasks]
    else:
        out["started"] = start_tasks(tasks)
    json.dump(out, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0
