"""``rskeras models``: the registered model families, their papers and their options with defaults."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list the model families: kind, paper and options with their defaults",
        description="List the model families of rskeras.models.MODELS (the names a training configuration's "
        "model.name takes) with their kind (pixel, patch, dense, multi-input), the paper each follows, the tasks "
        "it takes and its options with their defaults, written as a configuration's model.options. Every builder "
        "also takes input_shape, task, n_outputs, class_names, band_names, band_stats, weights and name.",
    )
    p.add_argument("name", nargs="?", help="show only this family")
    p.set_defaults(func=run)


def _yaml_value(value) -> str:
    """``value`` as YAML flow text (tuples as lists)."""
    import yaml

    if isinstance(value, tuple):
        value = list(value)
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def describe(family) -> str:
    """Lines describing one :class:`rskeras.models.ModelFamily`."""
    options = ", ".join(f"{name}: {_yaml_value(default)}" for name, default in family.options().items())
    lines = [f"{family.name} ({family.kind}): {family.description}",
             f"    paper:   {family.paper}",
             f"    tasks:   {', '.join(family.tasks)}"]
    if family.inputs:
        lines.append(f"    inputs:  {', '.join(family.inputs)} (input_shape, band_names, band_stats and "
                     "data.bands are keyed by input)")
    lines.append(f"    options: {{{options}}}")
    if family.renamed_options:
        renamed = ", ".join(f"{old} -> {new}" for old, new in family.renamed_options.items())
        lines.append(f"    renamed: {renamed} (old names still accepted, deprecated)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from rskeras.models import MODELS, get_model_family

    families = [get_model_family(args.name)] if args.name else list(MODELS.values())
    print("\n\n".join(describe(family) for family in families))
    if not args.name:
        print("\nIn a training configuration: model: {name: NAME, options: {...}}; "
              "in Python: rskeras.models.build_model(NAME, input_shape, task=..., **options)")
    return 0
