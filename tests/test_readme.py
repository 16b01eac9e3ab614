"""Every code block of README.md, pipelines/README.md and colab/README.md runs as written, on the real data.

- Blocks are read in order, per file. ```python blocks run in one namespace per file, as in a reader's session;
  ```bash blocks run command by command in ``bash``, where ``python`` and ``rskeras`` are this interpreter and this
  checkout; ```yaml blocks must parse. A fence without a language is text (the layout tree), not code.
- Each file runs in its own copy of the working folder of ``tests/readme_fixtures.py``: the files the blocks name
  (``scene.tif``, ``field.csv``, ``eurosat.yaml``, ``unet.keras``, the Earth Engine exports of ``gs://`` buckets),
  made from ``../shared/data``. The only changes to what a block says: ``readme_fixtures.SUBSTITUTIONS``
  (``gs://`` -> the local folder ``gs/``), :data:`SERVING_URL` -> a TF Serving test double
  (tests/serving/fake_tf_serving.py) serving the models earlier blocks exported to ``saved_models/``, and
  ``readme_fixtures.TRAINING_OVERRIDES`` (the README's training YAML block, written as ``eurosat.yaml``, trains one
  epoch on a subset). Earth Engine is reached only through the pipelines' ``--dry-run``.
- After a block ran, every file it names (a string or argument with a file extension or a ``/``) exists.
- A block whose first line is ``# not run by the tests: <why>`` is skipped with that reason (``pytest -rs`` lists
  them). A block in another language that is not marked fails.
- ``make demo`` and ``make test`` are not re-run here: they run the whole demo and this whole suite (the demo's
  workflows are tested in tests/workflows/ and tests/test_cli.py). Other commands of their block still run.
"""

from __future__ import annotations

import ast
import glob
import io
import os
import re
import shlex
import subprocess
import time
import tokenize
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.readme_fixtures import REPO, command_shims, copy_folder, prepare_folder, substitute
from tests.serving.fake_tf_serving import FakeTFServing

READMES = ("README.md", "pipelines/README.md", "colab/README.md")
NOT_RUN_MARK = "# not run by the tests:"
#: A TF Serving URL in a block is replaced by the URL of tests/serving/fake_tf_serving.py serving saved_models/.
SERVING_URL = "http://localhost:8501"
#: Commands that are not re-run inside the test, with the reason given.
NOT_RERUN = {"make ": "make targets run the whole demo or the whole test suite, not re-run inside it"}
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<language>[\w+-]*)\s*$")
FILE_EXTENSIONS = (".tif", ".csv", ".geojson", ".gpkg", ".keras", ".json", ".yaml", ".yml", ".tfrecord", ".gz",
                   ".png", ".py")
PATH_LIKE = re.compile(r"^(?![-/])(?!\w+:)[\w.*/-]+$")  # relative, no URL, no shell or format syntax
COMMAND_TIMEOUT_S = 300
SHELLS = ("bash", "sh")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a README."""

    readme: str
    line: int  # of the opening fence, 1-based
    language: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.readme}:{self.line}:{self.language}"

    @property
    def not_run_reason(self) -> str | None:
        """Why the block is not run: its ``# not run by the tests:`` first line, or only commands of
        :data:`NOT_RERUN`; None when it runs."""
        first = self.text.lstrip().splitlines()[0] if self.text.strip() else ""
        if first.startswith(NOT_RUN_MARK):
            return first[len(NOT_RUN_MARK):].strip()
        if self.language in SHELLS:
            reasons = [not_rerun_reason(command) for command in shell_commands(self.text)]
            if reasons and all(reasons):
                return "; ".join(sorted(set(reasons)))
        return None


def read_blocks(readme: str) -> list[Block]:
    """The fenced blocks of ``readme`` that have a language, in order."""
    blocks, opening, lines = [], None, []
    for number, line in enumerate((REPO / readme).read_text().splitlines(), start=1):
        fence = FENCE.match(line)
        if opening is None and fence:
            opening, lines = (number, fence["indent"], fence["language"]), []
        elif opening is not None and line.strip() == "```":
            start, _, language = opening
            if language:
                blocks.append(Block(readme, start, language, "\n".join(lines) + "\n"))
            opening = None
        elif opening is not None:
            lines.append(line.removeprefix(opening[1]))
    return blocks


BLOCKS = [block for readme in READMES for block in read_blocks(readme)]


def training_block() -> str:
    """The README's training configuration: the YAML block with ``data`` and ``model`` sections."""
    for block in BLOCKS:
        if block.language == "yaml" and {"data", "model"} <= set(yaml.safe_load(block.text) or {}):
            return block.text
    raise AssertionError("no README holds a training configuration (a ```yaml block with data: and model:)")


def shell_commands(text: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, comment-only and blank lines dropped."""
    commands, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        commands.append((current + line).strip())
        current = ""
    return commands


def python_strings(text: str) -> list[str]:
    """The plain string literals of Python ``text`` (f-strings left out)."""
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    found = []
    for token in tokens:
        if token.type == tokenize.STRING and not token.string.lstrip("rRbB").lower().startswith("f"):
            found.append(ast.literal_eval(token.string))
    return found


def named_paths(block: Block) -> list[str]:
    """The files a block names: strings (Python) or arguments (shell) that look like relative paths."""
    text = substitute(block.text)
    if block.language == "python":
        words = python_strings(text)
    else:
        words = [word for command in shell_commands(text) for word in shlex.split(command, comments=True)]
    return [w for w in words if PATH_LIKE.match(w) and ("/" in w or w.endswith(FILE_EXTENSIONS))]


@dataclass
class ReadmeSession:
    """What the blocks of one README share: the working folder, the Python namespace, the TF Serving stand-in."""

    folder: Path
    shims: Path
    namespace: dict = field(default_factory=lambda: {"__name__": "__main__"})
    failed: str | None = None  # the id of the block that failed, if one did
    resources: ExitStack = field(default_factory=ExitStack)
    serving_url: str | None = None

    def source(self, block: Block) -> str:
        """The block's text as it runs: :data:`SUBSTITUTIONS`, and :data:`SERVING_URL` -> the test double."""
        text = substitute(block.text)
        return text.replace(SERVING_URL, self.serving()) if SERVING_URL in text else text

    def serving(self) -> str:
        """The URL of a TF Serving test double serving the models in ``saved_models/`` (started on first use)."""
        if self.serving_url is None:
            exported = [p for p in (self.folder / "saved_models").glob("*/") if any(p.glob("[0-9]*/saved_model.pb"))]
            assert exported, f"a block calls {SERVING_URL}, but no earlier block exported a model to saved_models/"
            self.serving_url = self.resources.enter_context(FakeTFServing({p.name: p for p in exported})).url
        return self.serving_url


def run_python(block: Block, session: ReadmeSession) -> None:
    """Execute the block in the session's namespace (in the working folder)."""
    exec(compile(session.source(block), block.id, "exec"), session.namespace)  # noqa: S102 (the README's code)


def not_rerun_reason(command: str) -> str | None:
    """Why ``command`` is not re-run here (:data:`NOT_RERUN`), else None."""
    return next((why for start, why in NOT_RERUN.items() if command.startswith(start)), None)


def run_shell(block: Block, session: ReadmeSession) -> None:
    """Run each command of the block in ``bash`` in the working folder (those of :data:`NOT_RERUN` excepted)."""
    env = dict(os.environ, PATH=f"{session.shims}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(REPO),
               TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
    for command in shell_commands(session.source(block)):
        reason = not_rerun_reason(command)
        if reason:
            print(f"{block.id}: `{command}` not re-run: {reason}")
            continue
        start = time.perf_counter()
        done = subprocess.run(["bash", "-c", command], check=False, cwd=session.folder, env=env, capture_output=True,
                              text=True, timeout=COMMAND_TIMEOUT_S)
        assert done.returncode == 0, f"{block.id}: `{command}` exited {done.returncode}:\n{done.stderr[-3000:]}"
        print(f"{block.id}: `{command}` ran in {time.perf_counter() - start:.1f} s")


def parse_yaml(block: Block, session: ReadmeSession) -> None:
    """A YAML block shows a file: it must parse."""
    yaml.safe_load(block.text)


RUNNERS: dict[str, Callable[[Block, ReadmeSession], None]] = {
    "python": run_python, "yaml": parse_yaml, **dict.fromkeys(SHELLS, run_shell),
}


@pytest.fixture(scope="module")
def session_for(shared_data, tmp_path_factory) -> Iterator[Callable[[str], ReadmeSession]]:
    """``session_for(readme)``: the session of that README, its folder copied from one prepared folder."""
    template = prepare_folder(tmp_path_factory.mktemp("readme_template"), shared_data, training_block())
    shims = command_shims(tmp_path_factory.mktemp("readme_bin"))
    sessions: dict[str, ReadmeSession] = {}

    def get(readme: str) -> ReadmeSession:
        if readme not in sessions:
            root = tmp_path_factory.mktemp(readme.replace("/", "_"))
            sessions[readme] = ReadmeSession(copy_folder(template, root), shims)
        return sessions[readme]

    yield get
    for session in sessions.values():
        session.resources.close()


def test_blocks_are_found():
    """The reader finds README.md's Python and shell blocks (and would find any new one)."""
    languages = {block.language for block in BLOCKS if block.readme == "README.md"}
    assert {"python", "bash", "yaml"} <= languages, languages


def test_not_run_reasons():
    """A block is not run for its mark's reason, or when all its commands are make targets; else it runs."""
    assert Block("x.md", 1, "bash", "# not run by the tests: needs Docker\ndocker run x\n").not_run_reason == (
        "needs Docker")
    assert Block("x.md", 1, "bash", "make demo  # the job\nmake test\n").not_run_reason == NOT_RERUN["make "]
    assert Block("x.md", 1, "bash", "make demo\nrskeras demo --help\n").not_run_reason is None
    assert shell_commands("rskeras predict a.keras \\\n    b.tif c.tif\n# note\n") == [
        "rskeras predict a.keras      b.tif c.tif"]


@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: block.id)
def test_block_runs(block: Block, session_for, monkeypatch):
    """The block runs as written in its README's session, and the files it names exist afterwards."""
    if block.not_run_reason is not None:
        pytest.skip(f"{block.id}: {block.not_run_reason}")
    runner = RUNNERS.get(block.language)
    assert runner is not None, (
        f"{block.id}: a ```{block.language} block is neither run by this test nor marked with a first line "
        f"'{NOT_RUN_MARK} <why>'"
    )
    session = session_for(block.readme)
    if session.failed is not None:
        pytest.skip(f"{block.id}: an earlier block of {block.readme} failed ({session.failed})")
    monkeypatch.chdir(session.folder)
    session.failed, start = block.id, time.perf_counter()
    runner(block, session)
    session.failed = None
    print(f"{block.id}: ran in {time.perf_counter() - start:.1f} s")
    missing = [path for path in named_paths(block) if not glob.glob(path)]
    assert not missing, f"{block.id} names {missing}, which do not exist after it ran"


def test_serving_url_reaches_the_test_double(tmp_path, monkeypatch):
    """A block's TF Serving URL is answered by the test double, serving what earlier blocks exported."""
    session = ReadmeSession(tmp_path, tmp_path)
    export = Block("test", 1, "python", (
        "import rskeras\n"
        "model = rskeras.models.ann(4, task='multiclass', class_names=['water', 'forest', 'urban'])\n"
        "rskeras.export_saved_model(model, 'saved_models/landcover')\n"
    ))
    query = Block("test", 5, "python", (
        f"client = rskeras.serving.Client('{SERVING_URL}', 'landcover')\n"
        "answer = client.predict(inputs={'pixels': [[812.0, 1034.0, 1170.0, 2950.0]]})\n"
    ))
    monkeypatch.chdir(tmp_path)
    with session.resources:
        for block in (export, query):
            run_python(block, session)
    assert session.serving_url != SERVING_URL
    assert set(session.namespace["answer"]) == {"probabilities", "classes"}
