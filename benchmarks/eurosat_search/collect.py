"""Merge the EuroSAT search's outputs into one JSON file (``benchmarks/results/eurosat_search.json``).

    python3 benchmarks/eurosat_search/collect.py --results OUT/results.jsonl --cpu-cost CPU.json \\
        --note "..." --out benchmarks/results/eurosat_search.json

Per run: its configuration, seed, device, parameters, CPU cost (in epochs of today's recipe; the budget
is ``search.BUDGET``), every epoch's validation accuracy (with TTA, EMA and both where evaluated) and the
last epoch's figures; ``cpu_cost`` holds ``cpu_cost.py``'s measurement.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

KEYS = ("val_acc", "val_acc_tta", "ema_acc", "ema_acc_tta")


def collect(results: list[Path], cpu_cost: Path | None, notes: list[str]) -> dict:
    from benchmarks.eurosat_search.search import BUDGET, CPU_COST, VALIDATION_COST

    runs: dict[str, dict] = {}
    for path in results:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            run = runs.setdefault(row["name"], {
                "config": row["config"], "seed": row["config"]["seed"], "device": row["device"],
                "parameters": row["parameters"], "cpu_cost": row["cpu_cost"],
                "within_budget": row["cpu_cost"] <= BUDGET * 1.02, "epochs_planned": row["epochs"], "epochs": []})
            run["epochs"].append({k: row[k] for k in ("epoch", "size", "train_loss", *KEYS, "seconds", "elapsed")
                                  if k in row})
    for run in runs.values():
        last = run["epochs"][-1]
        run["finished"] = last["epoch"] == run["epochs_planned"]
        run["last"] = {k: last[k] for k in ("epoch", *KEYS) if k in last}
    return {
        "description": "EuroSAT RGB from scratch, recipe search (benchmarks/eurosat_search): validation accuracy "
                       "(5,400 images) per epoch of each configuration, plain, with 8-fold dihedral TTA, with the "
                       "EMA of the weights, and both; cpu_cost in epochs of today's recipe (compact_resnet 64x64, "
                       "batch 64) including a validation pass per epoch",
        "budget": {"cpu_cost": BUDGET, "meaning": "today's 26 epochs in the 60-minute budget on 2 CPU cores",
                   "relative_epoch_cost": {f"{a}@{s}": c for (a, s), c in CPU_COST.items()},
                   "validation_cost": VALIDATION_COST},
        "notes": notes,
        "cpu_cost": json.loads(cpu_cost.read_text()) if cpu_cost else None,
        "runs": dict(sorted(runs.items())),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, nargs="+", required=True, help="results.jsonl file(s) of search.py")
    p.add_argument("--cpu-cost", type=Path, default=None, help="cpu_cost.py --out file")
    p.add_argument("--note", action="append", default=[], help="a note to keep with the results")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    args.out.write_text(json.dumps(collect(args.results, args.cpu_cost, args.note), indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
