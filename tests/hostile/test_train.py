"""Hostile cases of ``rskeras train``, the library's ``train`` and ``export_saved_model``, on real EuroSAT patches.

One tiny run (a compact ResNet of 8/16 filters and a 16-filter stem, 32 training and 16 validation patches, one epoch) is trained
once per module in a folder whose name has spaces and a non-ASCII character; the cases resume it,
rerun it, change its configuration or break its inputs. Cases that change a run work on a copy.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rskeras import export_saved_model
from rskeras.training import ConfigError, load_config, train
from tests.hostile.conftest import REPO, assert_cli_error, leftovers

CONFIG = """\
data:
  root: {root}
  bands: rgb
  batch_size: 16
  limit: 32
  validation_limit: 16
  stats_samples: 32
model:
  name: compact_resnet
  options: {{widths: [8, 16], blocks: [1, 1], stem_filters: 16}}
task: multiclass
training:
  epochs: 1
  verbose: 0
  label_smoothing: 0.1
output:
  run_dir: {run}
  export: {export}
  tensorboard: false
"""


def _write_config(path: Path, root: Path, run: Path, export: Path, **replace: str) -> Path:
    text = CONFIG.format(root=root, run=run, export=export)
    for old, new in replace.items():
        text = text.replace(old, new)
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def trained(eurosat_dir, tmp_path_factory):
    """``(folder, config, result)`` of one finished one-epoch run under ``mein Lauf ü/``."""
    folder = tmp_path_factory.mktemp("mein Lauf ü")
    config = _write_config(folder / "tiny run.yaml", eurosat_dir, folder / "run", folder / "saved models" / "tiny")
    return folder, config, train(config)


def _copy_run(trained, tmp_path) -> tuple[Path, Path]:
    """A copy of the trained run folder and a config that points at it (and at a new export folder)."""
    folder, config, _ = trained
    shutil.copytree(folder / "run", tmp_path / "run")
    text = config.read_text().replace(str(folder / "run"), str(tmp_path / "run"))
    text = text.replace(str(folder / "saved models" / "tiny"), str(tmp_path / "export" / "tiny"))
    (tmp_path / "c.yaml").write_text(text)
    return tmp_path / "run", tmp_path / "c.yaml"


def test_a_run_records_its_config_once_and_exports_once(trained):
    folder, config, result = trained
    run = folder / "run"
    for name in ("config.yaml", "model.keras", "best.keras", "log.csv", "export.json", "evaluation/metrics.json",
                 "evaluation/confusion_matrix.png", "checkpoints/state.json"):
        assert (run / name).exists(), name
    assert yaml.safe_load((run / "config.yaml").read_text()) == result.config.to_dict()
    assert sorted(p.name for p in (folder / "saved models" / "tiny").iterdir()) == ["1", "tiny.keras"]
    assert result.export == folder / "saved models" / "tiny" / "1" and leftovers(folder) == []


def test_a_finished_run_is_neither_retrained_nor_reexported(cli, trained, eurosat_dir, unchanged):
    folder, config, _ = trained
    with unchanged(folder, eurosat_dir / "train.csv"):
        result = cli("train", config)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(f"rskeras train: run {folder / 'run'} has finished 1 epoch(s)")
    assert "nothing to train or export" in result.stdout
    assert sorted(p.name for p in (folder / "saved models" / "tiny").iterdir()) == ["1", "tiny.keras"]


def test_a_changed_model_on_resume_is_refused_in_one_line(cli, trained, unchanged):
    folder, config, _ = trained
    with unchanged(folder):
        result = cli("train", config, "--set", "model.options.widths=[4, 8]")
    assert_cli_error(result, f"{config}, --set model.options.widths=[4, 8]: run folder {folder / 'run'} was trained "
                     "1 epoch(s) with another configuration", "model.options.widths: [8, 16] -> [4, 8]")
    assert len(result.stderr) < 800 and "kernel" not in result.stderr


def test_a_changed_value_in_the_yaml_names_its_line(cli, trained, tmp_path, unchanged):
    run, config = _copy_run(trained, tmp_path)
    config.write_text(config.read_text().replace("label_smoothing: 0.1", "label_smoothing: 0.2"))
    with unchanged(run):
        result = cli("train", config)
    assert_cli_error(result, f"{config}, line 15: ", "training.label_smoothing: 0.1 -> 0.2")


def test_more_epochs_resume_the_run_and_say_so_first(cli, trained, tmp_path):
    run, config = _copy_run(trained, tmp_path)
    result = cli("train", config, "--set", "training.epochs=2", "--set", "output.export=null",
                 "--set", "output.evaluate=false")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[0] == f"rskeras train: resuming run {run} after epoch 1 of 2"
    assert [row.split(",")[0] for row in (run / "log.csv").read_text().splitlines()[1:]] == ["0", "1"]
    assert yaml.safe_load((run / "config.yaml").read_text())["training"]["epochs"] == 1  # recorded once
    assert (run / "model.keras").stat().st_mtime > (run / "export.json").stat().st_mtime and leftovers(tmp_path) == []


@pytest.mark.parametrize("bands, where", [
    ("[red, green, nir]", "line 3"),   # the RGB archive has no near infrared
    ("all", "line 3"),
])
def test_bands_missing_from_the_folder_are_refused_before_anything_is_read(cli, trained, tmp_path, eurosat_dir, bands,
                                                                           where):
    config = _write_config(tmp_path / "c.yaml", eurosat_dir, tmp_path / "run", tmp_path / "export",
                           **{"bands: rgb": f"bands: {bands}"})
    start = time.perf_counter()
    result = cli("train", config)
    assert_cli_error(result, f"{config}, {where}: data.bands: bands ", "need the 13-band archive (.tif)",
                     f"but {eurosat_dir} holds the RGB archive (.jpg) with bands red, green, blue")
    assert time.perf_counter() - start < 5 and list(tmp_path.iterdir()) == [config]


def test_bands_set_on_the_command_line_are_named_as_such(cli, tmp_path, eurosat_dir):
    config = _write_config(tmp_path / "c.yaml", eurosat_dir, tmp_path / "run", tmp_path / "export")
    result = cli("train", config, "--set", "data.bands=all")
    assert_cli_error(result, f"{config}, --set data.bands=all: data.bands: bands 'all' need the 13-band archive")
    assert list(tmp_path.iterdir()) == [config]


@pytest.mark.parametrize("text, needle", [
    ("data:\n  bands: [red, green\nmodel: {name: cnn}\n", "line 3: malformed YAML: expected ',' or ']', but got "
     "':' (while parsing a flow sequence started on line 2)"),
    ("training:\n  epochs: 3\n  epochs: 5\n", "line 3: key training.epochs appears twice (first on line 2)"),
    ("training:\n  epochs: 0\n", "line 2: training.epochs must be a positive integer, got 0"),
    ("training:\n  epochs: ten\n", "line 2: training.epochs must be an integer, got 'ten'"),
    ("training:\n  optimiser: adam\n", "line 2: unknown key(s) 'optimiser' in section 'training'"),
    ("trainig:\n  epochs: 3\n", "line 1: unknown section(s) 'trainig'"),
    ("model:\n  name: alexnet\n", "line 2: model.name: unknown model 'alexnet'"),
    ("- data\n- model\n", "a configuration is a mapping with sections data, model"),
])
def test_config_errors_name_the_file_and_line(cli, tmp_path, text, needle):
    config = tmp_path / "my config.yaml"
    config.write_text(text)
    result = cli("train", config)
    assert_cli_error(result, f"{config}", needle)
    assert list(tmp_path.iterdir()) == [config]


@pytest.mark.parametrize("override, needle", [
    ("training.epochs=-1", "--set training.epochs=-1: training.epochs must be a positive integer, got -1"),
    ("training.epochs", "--set expects SECTION.KEY=VALUE, got 'training.epochs'"),
    ("epochs=3", "--set expects SECTION.KEY=VALUE, got 'epochs=3'"),
    ("data.bands=[red", "--set data.bands=[red: the value is not valid YAML"),
])
def test_bad_overrides_are_named(cli, tmp_path, eurosat_dir, override, needle):
    config = _write_config(tmp_path / "c.yaml", eurosat_dir, tmp_path / "run", tmp_path / "export")
    assert_cli_error(cli("train", config, "--set", override), needle)
    assert list(tmp_path.iterdir()) == [config]


def test_a_config_that_is_not_text(cli, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    assert_cli_error(cli("train", config), f"{config}: not a YAML text file (not UTF-8)")
    assert_cli_error(cli("train", tmp_path / "missing.yaml"), "configuration file", "missing.yaml does not exist")


def test_a_run_folder_that_is_a_file_or_inside_the_data(cli, tmp_path, eurosat_dir, unchanged):
    (tmp_path / "run").write_text("a file")
    config = _write_config(tmp_path / "c.yaml", eurosat_dir, tmp_path / "run", tmp_path / "export")
    assert_cli_error(cli("train", config), f"output.run_dir {tmp_path / 'run'} is an existing file; give a folder")
    inside = _write_config(tmp_path / "d.yaml", eurosat_dir, eurosat_dir / "runs", tmp_path / "export")
    with unchanged(eurosat_dir / "train.csv", eurosat_dir / "label_map.json"):
        result = cli("train", inside)
    assert_cli_error(result, f"output.run_dir {eurosat_dir / 'runs'} and the input {eurosat_dir} would be inside "
                     "each other")
    assert not (eurosat_dir / "runs").exists()


def test_sigterm_at_a_random_point_leaves_no_temporaries_and_the_run_continues(trained, tmp_path):
    _, config = _copy_run(trained, tmp_path)
    shutil.rmtree(tmp_path / "run")  # a new run of three epochs
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    overrides = ["training.epochs=3", "output.export=null", "output.evaluate=false"]
    proc = subprocess.Popen([sys.executable, "-m", "rskeras.cli", "train", str(config),
                             *(arg for item in overrides for arg in ("--set", item))],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (tmp_path / "run" / "config.yaml").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(random.uniform(0, 2))  # somewhere in the three epochs (or after)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 128 + signal.SIGTERM), err.decode()[-2000:]
    assert b"Traceback" not in err, err.decode()
    assert leftovers(tmp_path) == []
    rerun = train(load_config(config, overrides=overrides))
    assert rerun.run.saved_epoch() == 3 and (tmp_path / "run" / "model.keras").exists()
    assert [r["epoch"] for r in rerun.run.log_rows()] == ["0", "1", "2"] and leftovers(tmp_path) == []


def test_library_errors_of_a_dict_config_say_so(eurosat_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"^<dict>: training.epochs must be a positive integer, got 0$"):
        train({"data": {"root": str(eurosat_dir)}, "training": {"epochs": 0}})
    with pytest.raises(ConfigError, match=r"^<dict>: data.root '.*nowhere' is not a folder"):
        train({"data": {"root": str(tmp_path / "nowhere")}, "output": {"run_dir": str(tmp_path / "run")}})
    assert list(tmp_path.iterdir()) == []


# export_saved_model


def test_export_into_a_file_or_with_a_bad_version_is_refused(trained, tmp_path):
    model = trained[2].model
    (tmp_path / "landcover").write_text("a file")
    with pytest.raises(ValueError, match="base_dir .*landcover is an existing file; give a folder"):
        export_saved_model(model, tmp_path / "landcover")
    with pytest.raises(ValueError, match="version=-1 must be an integer >= 0"):
        export_saved_model(model, tmp_path / "other", version=-1)
    with pytest.raises(ValueError, match="model name 'land cover' must use only letters"):
        export_saved_model(model, tmp_path / "land cover")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landcover"]


def test_an_interrupted_export_leaves_nothing_and_a_killed_one_is_cleaned_up(trained, tmp_path, monkeypatch):
    import keras

    model, base = trained[2].model, tmp_path / "tiny"
    stale = base / ".1.rskeras-tmp-999999999-0123abcd"  # what an export killed by SIGKILL leaves behind
    (stale / "variables").mkdir(parents=True)
    archive = type(keras.export.ExportArchive())  # the backend's class
    original = archive.write_out

    def interrupted(self, path, **kwargs):
        original(self, path, **kwargs)
        raise KeyboardInterrupt  # Ctrl-C after the SavedModel was written, before the version appears

    monkeypatch.setattr(archive, "write_out", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_saved_model(model, base, models_config=False)
    assert list(base.iterdir()) == []  # neither the version nor a temporary (the stale one was removed)
    monkeypatch.setattr(archive, "write_out", original)
    assert export_saved_model(model, base, models_config=False) == base / "1"
    assert sorted(p.name for p in base.iterdir()) == ["1"]
