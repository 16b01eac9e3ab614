"""models.config: TF Serving's model config file, written and updated atomically."""

from __future__ import annotations

import pytest

from rskeras.serving import model_names, update_models_config


def test_created_then_updated_keeping_other_models(tmp_path):
    path = update_models_config(tmp_path, "landcover")
    assert path == tmp_path / "models.config"
    assert path.read_text() == (
        "model_config_list {\n"
        "  config {\n"
        '    name: "landcover"\n'
        '    base_path: "/models/landcover"\n'
        '    model_platform: "tensorflow"\n'
        "  }\n"
        "}\n"
    )
    update_models_config(tmp_path, "ndvi", container_root="/srv/models/")
    update_models_config(tmp_path, "landcover")  # listed once only
    assert model_names(path) == ["landcover", "ndvi"]
    assert 'base_path: "/srv/models/ndvi"' in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["models.config"]  # no temporary file left


def test_hand_edits_of_other_models_survive(tmp_path):
    path = tmp_path / "models.config"
    path.write_text(
        "# served models\n"
        "model_config_list {\n"
        "  config {\n"
        '    name: "roads"  # the road model\n'
        '    base_path: "/models/roads"\n'
        '    model_platform: "tensorflow"\n'
        "    model_version_policy { specific { versions: 2 versions: 3 } }\n"
        '    version_labels { key: "stable" value: 2 }\n'
        "  }\n"
        "}\n"
    )
    update_models_config(tmp_path, "landcover")
    text = path.read_text()
    assert model_names(path) == ["roads", "landcover"]
    assert "model_version_policy { specific { versions: 2 versions: 3 } }" in text
    assert 'version_labels { key: "stable" value: 2 }' in text
    assert text.count("{") == text.count("}")


def test_malformed_file_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "models.config"
    path.write_text('model_config_list { config { name: "a" }')
    with pytest.raises(ValueError, match=r"models.config: unbalanced"):
        update_models_config(tmp_path, "b")
    path.write_text("model_config_list { something { } }")
    with pytest.raises(ValueError, match=r"unexpected block"):
        update_models_config(tmp_path, "b")
    path.write_text("not a config")
    with pytest.raises(ValueError, match="is not a TF Serving model config"):
        update_models_config(tmp_path, "b")
    assert path.read_text() == "not a config"
    with pytest.raises(ValueError, match="model name 'a/b'"):
        update_models_config(tmp_path, "a/b")
