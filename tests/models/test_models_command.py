"""``rskeras models``: the registry as users writing configurations read it."""

from rskeras.cli import main
from rskeras.models import MODELS


def test_lists_every_family_with_kind_paper_and_options(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for family in MODELS.values():
        assert f"{family.name} ({family.kind}): {family.description}" in out
        assert family.paper in out
    assert "options: {widths: [32, 64, 128, 256], blocks: [1, 1, 1, 1], stem_filters: 32, dropout: 0.1}" in out
    assert "inputs:  multispectral, multiview" in out and "renamed: filters -> widths, dense_units -> hidden" in out


def test_one_family_and_an_unknown_name(capsys):
    assert main(["models", "unet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("unet (dense)") and "pspnet" not in out
    assert main(["models", "segformer"]) == 2
    assert "unknown model 'segformer'; choose one of ann, cnn" in capsys.readouterr().err
