"""TF Serving's model config file (``models.config``): serve every model of a folder at once.

The file is a text protobuf ``ModelServerConfig`` read by
``tensorflow_model_server --model_config_file=/models/models.config``::

    model_config_list {
      config {
        name: "landcover"
        base_path: "/models/landcover"
        model_platform: "tensorflow"
      }
    }

:func:`update_models_config` adds one model's block and keeps the text of every
other block, so hand edits (version policies, labels) survive; ``#`` comments are
dropped. No TensorFlow here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from rskeras.io import atomic_write_text

MODELS_CONFIG = "models.config"
CONTAINER_ROOT = "/models"

_NAME = re.compile(r'\bname\s*:\s*"((?:[^"\\]|\\.)*)"')


def _config_blocks(text: str, path: Path) -> list[str]:
    """The ``config { ... }`` blocks inside ``model_config_list { ... }``, verbatim."""
    body = re.match(r"\s*model_config_list\s*\{(.*)\}\s*$", _strip_comments(text), re.S)
    if body is None:
        raise ValueError(f"{path} is not a TF Serving model config (expected 'model_config_list {{ config {{ ... }} }}')")
    blocks, depth, start, in_string, i = [], 0, None, False, 0
    inner = body.group(1)
    while i < len(inner):
        ch = inner[i]
        if in_string:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            if depth == 0:
                head = inner[:i].rstrip()
                if not head.endswith("config"):
                    raise ValueError(f"{path}: unexpected block before '{{' in model_config_list: {head[-40:]!r}")
                start = len(head) - len("config")
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                raise ValueError(f"{path}: unbalanced '}}' in model_config_list")
            if depth == 0:
                blocks.append(inner[start : i + 1])
                inner, i = inner[i + 1 :], -1
        i += 1
    if depth != 0 or in_string:
        raise ValueError(f"{path}: unbalanced braces or quotes in model_config_list")
    if inner.strip():
        raise ValueError(f"{path}: unexpected text in model_config_list: {inner.strip()[:40]!r}")
    return blocks


def _strip_comments(text: str) -> str:
    return "\n".join(re.sub(r'^((?:[^"#]|"(?:[^"\\]|\\.)*")*)#.*$', r"\1", line) for line in text.splitlines())


def model_names(path: str | os.PathLike) -> list[str]:
    """Names of the models a ``models.config`` lists, in order."""
    path = Path(path)
    names = []
    for block in _config_blocks(path.read_text(), path):
        match = _NAME.search(block)
        if match is None:
            raise ValueError(f"{path}: a config block has no name: {block!r}")
        names.append(match.group(1))
    return names


def check_model_name(name: str) -> None:
    """Raise ``ValueError`` unless ``name`` can be a TF Serving model name (it is part of URLs)."""
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise ValueError(f"model name {name!r} must use only letters, digits, '_', '.', '-' (it is part of URLs)")


def _block(name: str, base_path: str) -> str:
    return (
        "config {\n"
        f'    name: "{name}"\n'
        f'    base_path: "{base_path}"\n'
        '    model_platform: "tensorflow"\n'
        "  }"
    )


def update_models_config(
    folder: str | os.PathLike, name: str, container_root: str = CONTAINER_ROOT
) -> Path:
    """Add model ``name`` to ``folder/models.config`` (created when missing), keeping the others.

    Args:
        folder: the folder holding one sub-folder per model (e.g. ``saved_models``).
        name: the model's folder name, also its name in TF Serving's URLs.
        container_root: where ``folder`` is mounted in the serving container;
            the model's ``base_path`` is ``f"{container_root}/{name}"``.

    Returns:
        The path of the config file. A model already listed is left as it is.
    """
    check_model_name(name)
    path = Path(folder) / MODELS_CONFIG
    blocks = _config_blocks(path.read_text(), path) if path.exists() else []
    if path.exists() and name in model_names(path):
        return path
    blocks.append(_block(name, f"{container_root.rstrip('/')}/{name}"))
    text = "model_config_list {\n" + "".join(f"  {b.strip()}\n" for b in blocks) + "}\n"
    return atomic_write_text(path, text)
