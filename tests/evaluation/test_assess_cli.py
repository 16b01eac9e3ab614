"""``rskeras design-sample`` and ``rskeras assess`` through ``rskeras.cli.main`` on a real class map."""

from __future__ import annotations

import json

from rskeras.cli import main


def test_design_sample_then_assess(ndvi_class_map, label_points, tmp_path, capsys):
    assert main(["design-sample", str(ndvi_class_map), "--out", str(tmp_path / "sample.gpkg"), "--target-se", "0.02",
                 "--min-per-class", "30", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and (tmp_path / "sample.gpkg").exists() and (tmp_path / "sample.csv").exists()
    labelled = label_points(tmp_path / "sample.csv", tmp_path / "labelled.csv")
    assert main(["assess", str(ndvi_class_map), str(labelled), "--reference", "reference",
                 "--out", str(tmp_path / "assessment")]) == 0
    out = capsys.readouterr().out
    assert "overall accuracy" in out and "dense vegetation" in out
    report = json.loads((tmp_path / "assessment" / "assessment.json").read_text())
    assert report["estimator"] == "Olofsson et al. (2014)" and report["area_unit"] == "ha"
    assert sorted(p.name for p in (tmp_path / "assessment").iterdir()) == [
        "assessment.csv", "assessment.json", "assessment.png"]


def test_cli_errors_name_the_option(ndvi_class_map, tmp_path, capsys):
    assert main(["design-sample", str(ndvi_class_map), "--out", str(tmp_path / "s.gpkg"), "--n", "60"]) == 0
    capsys.readouterr()
    assert main(["assess", str(ndvi_class_map), str(tmp_path / "s.csv"), "--reference", "truth",
                 "--out", str(tmp_path / "a")]) == 2
    assert "--reference 'truth'" in capsys.readouterr().err
    assert main(["assess", str(ndvi_class_map), str(tmp_path / "s.csv"), "--reference", "reference",
                 "--strata-column", "stratum", "--out", str(tmp_path / "a")]) == 2
    assert "--strata-column and --strata go together" in capsys.readouterr().err
    assert main(["design-sample", str(ndvi_class_map), "--out", str(tmp_path / "t.gpkg"), "--target-se", "0.01",
                 "--expected-accuracy", "0=high"]) == 2
    assert "--expected-accuracy takes one value" in capsys.readouterr().err
    # every reference label still empty: nothing to estimate, said so
    assert main(["assess", str(ndvi_class_map), str(tmp_path / "s.csv"), "--reference", "reference",
                 "--out", str(tmp_path / "a")]) == 2
    assert "no point has both a map class and a reference label" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
