"""Merge the EuroSAT search's outputs into one JSON file (``benchmarks/results/eurosat_search.json``).

    python3 benchmarks/eurosat_search/collect.py --results OUT/results.jsonl --cpu-cost CPU.json \\
        --note "..." --out benchmarks/results/eurosat_search.json

Per run: its configuration, seed, device, parameters, CPU cost (in epochs of today's recipe, from
``search.CPU_COST`` and from ``search.CPU_COST_MAC``; the budget is ``search.BUDGET``), every epoch's
validation accuracy (with TTA, EMA and both where evaluated) and the last epoch's figures;
``cpu_cost`` holds ``cpu_cost.py``'s measurements.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

KEYS = ("val_acc", "val_acc_tta", "ema_acc", "ema_acc_tta")


def collect(results: list[Path], cpu_costs: list[Path], notes: list[str]) -> dict:
    from benchmarks.eurosat_search.search import (
        BUDGET,
        CPU_COST,
        CPU_COST_MAC,
        VALIDATION_COST,
        cpu_cost,
    )

    runs: dict[str, dict] = {}
    for path in results:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            config = row["config"]
            run = runs.setdefault(row["name"], {
                "config": config, "seed": config["seed"], "device": row["device"], "parameters": row["parameters"],
                "cpu_cost": round(cpu_cost(config), 2), "cpu_cost_mac": round(cpu_cost(config, CPU_COST_MAC), 2),
                "epochs_planned": row["epochs"], "epochs": []})
            run["within_budget"] = run["cpu_cost"] <= BUDGET * 1.02
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
                       "batch 64) including a validation pass per epoch, from the measured CPU costs (cpu_cost_mac: "
                       "from multiply-accumulates)",
        "budget": {"cpu_cost": BUDGET, "meaning": "today's 26 epochs in the 60-minute budget on 2 CPU cores",
                   "relative_epoch_cost_measured": {f"{a}@{s}": c for (a, s), c in CPU_COST.items()},
                   "relative_epoch_cost_mac": {f"{a}@{s}": c for (a, s), c in CPU_COST_MAC.items()},
                   "validation_cost": VALIDATION_COST,
                   "epochs_at_64_in_budget": {a: int(BUDGET / (c * (1 + VALIDATION_COST)))
                                              for (a, s), c in CPU_COST.items() if s == 64}},
        "notes": notes,
        "cpu_cost": [json.loads(path.read_text()) for path in cpu_costs],
        "runs": dict(sorted(runs.items())),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, nargs="+", required=True, help="results.jsonl file(s) of search.py")
    p.add_argument("--cpu-cost", type=Path, nargs="*", default=[], help="cpu_cost.py --out file(s)")
    p.add_argument("--note", action="append", default=[], help="a note to keep with the results")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    args.out.write_text(json.dumps(collect(args.results, args.cpu_cost, args.note), indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
