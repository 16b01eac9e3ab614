"""Configuration validation: unknown sections, keys, models, options, bands and values fail before training."""

import pytest

from rskeras.models import MODELS
from rskeras.training import ConfigError, load_config


def _config(**sections):
    base = {"data": {"root": None}, "model": {"name": "cnn"}, "task": "multiclass", "training": {"epochs": 1},
            "output": {"run_dir": "runs/x"}}
    for name, values in sections.items():
        base[name] = {**base[name], **values} if isinstance(base[name], dict) else values
    return base


def test_valid_config_round_trips(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  bands: [red, green]\nmodel:\n  name: compact_resnet\n  options: {widths: [8, 16], "
                    "blocks: [1, 1]}\ntask: multiclass\ntraining:\n  epochs: 3\n  precision: mixed_bfloat16\n")
    config = load_config(path)
    assert config.data.bands == ["red", "green"] and config.model.options["widths"] == [8, 16]
    assert config.task.type == "multiclass" and config.training.epochs == 3 and config.source == str(path)
    assert load_config(config.to_dict()).to_dict() == config.to_dict()


def test_unknown_model_lists_the_models():
    with pytest.raises(ConfigError, match=r"unknown model 'vgg99'; choose one of ann, cnn, compact_resnet") as e:
        load_config(_config(model={"name": "vgg99"}))
    assert all(name in str(e.value) for name in MODELS)


def test_unknown_model_option_lists_the_options():
    with pytest.raises(ConfigError, match=r"unknown option\(s\) 'filterz' for model 'cnn'; valid options: .*widths"):
        load_config(_config(model={"name": "cnn", "options": {"filterz": [8]}}))
    with pytest.raises(ConfigError, match="'n_outputs' come from the data and task sections"):
        load_config(_config(model={"name": "cnn", "options": {"n_outputs": 3}}))


def test_unknown_band_lists_the_bands():
    with pytest.raises(ConfigError, match=r"data.bands: .*no band 'nirr'; bands: B1, B2.*or 'rgb', 'all'"):
        load_config(_config(data={"bands": ["red", "nirr"]}))


@pytest.mark.parametrize("section, values, message", [
    ("training", {"optimiser": "adam"}, r"unknown key\(s\) 'optimiser' in section 'training'; valid keys: epochs"),
    ("training", {"optimizer": "rmsprop"}, r"training.optimizer 'rmsprop' is not one of adam, adamw, sgd"),
    ("training", {"precision": "float16"}, r"training.precision 'float16' is not one of auto, float32"),
    ("training", {"strategy": "horovod"}, r"training.strategy 'horovod' is not one of auto, default, mirrored"),
    ("training", {"epochs": 0}, r"training.epochs must be a positive integer, got 0"),
    ("training", {"validation_freq": 0}, r"training.validation_freq must be a positive integer, got 0"),
    ("training", {"label_smoothing": 1.5}, r"label_smoothing must be in \[0, 1\)"),
    ("task", {"type": "segmentation"}, r"task.type 'segmentation' is not one of regression, binary, multiclass"),
    ("data", {"source": "s3"}, r"data.source 's3' is not one of eurosat, earthengine"),
    ("data", {"root": "/no/such/folder"}, r"data.root '/no/such/folder' is not a folder"),
    ("data", {"split": "train"}, r"unknown key\(s\) 'split' in section 'data'"),
])
def test_bad_values_are_named(section, values, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_config(**{section: values}))


def test_unknown_section_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown section\(s\) 'optimizer'; valid sections: data, model, task"):
        load_config({**_config(), "optimizer": {}})
    with pytest.raises(FileNotFoundError, match="configuration file .*missing.yaml does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_earthengine_source_needs_files_bands_and_label():
    with pytest.raises(ConfigError, match="data.train_files is required for source 'earthengine'"):
        load_config(_config(data={"source": "earthengine", "bands": ["B4"], "label": "lc"}))
    with pytest.raises(ConfigError, match="data.bands must list the band names"):
        load_config(_config(data={"source": "earthengine", "train_files": "a.tfrecord", "label": "lc"}))


def test_errors_name_the_yaml_line_or_the_override(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  batch_size: 16\nmodel:\n  name: cnn\ntraining:\n  epochs: 3\n  schedule: linear\n")
    with pytest.raises(ConfigError, match=rf"^{path}, line 7: training.schedule 'linear' is not one of"):
        load_config(path)
    with pytest.raises(ConfigError, match=rf"^{path}, --set data.batch_size=0: data.batch_size must be a positive"):
        load_config(path, overrides=["training.schedule=cosine", "data.batch_size=0"])
    config = load_config(path, overrides=["training.schedule=cosine", "model.options.filters=[8, 16]"])
    assert config.source == str(path) and config.model.options == {"filters": [8, 16]}
    assert config.origin.where("training.epochs") == f"{path}, line 6"
    assert config.origin.where("model.options.filters") == f"{path}, --set model.options.filters=[8, 16]"


def test_values_of_the_wrong_type_are_named():
    with pytest.raises(ConfigError, match=r"training.augment must be true or false or a list or a mapping, got 'yes'"):
        load_config(_config(training={"augment": "yes"}))
    with pytest.raises(ConfigError, match=r"task.class_names must be a list of strings or null, got \[1, 2\]"):
        load_config(_config(task={"type": "multiclass", "class_names": [1, 2]}))
    with pytest.raises(ConfigError, match=r"training.label_smoothing must be a number, got 'x'"):
        load_config(_config(training={"label_smoothing": "x"}))
