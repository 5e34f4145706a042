import json

import numpy as np
import pytest

from utils import catalog, zoo

REBUILD_TOLERANCE = 0.01  # accuracy: about 5 of the 539 test images


@pytest.mark.parametrize("name", ["digits-convnet"])
def test_rebuild_matches_the_committed_model(name, tmp_path):
    committed = catalog.read_meta(catalog.BUNDLED[name].path)
    meta = zoo.build(name, tmp_path / name)
    # bit-identical on the machine and kernels that built it; other CPU kernels (oneDNN off, another thread count,
    # another instruction set) train to other weights, measured here within a few test images (make robust)
    assert meta["test_accuracy"] == pytest.approx(committed["test_accuracy"], abs=REBUILD_TOLERANCE)
    assert meta["val_accuracy"] == pytest.approx(committed["val_accuracy"], abs=REBUILD_TOLERANCE)
    assert meta["train_accuracy"] == pytest.approx(committed["train_accuracy"], abs=REBUILD_TOLERANCE)
    a, b = np.load(tmp_path / name / catalog.HEAD_FILE), np.load(catalog.BUNDLED[name].path / catalog.HEAD_FILE)
    print("max |head difference|:", float(np.abs(a["kernel"] - b["kernel"]).max()))
    card = (tmp_path / name / catalog.CARD_FILE).read_text()
    assert f"| test | {meta['test_accuracy']:.4f} |" in card and "CC BY 4.0" in card


def test_every_bundled_digits_model_is_committed_with_card_and_meta():
    for name, m in catalog.BUNDLED.items():
        if not (m.committed and isinstance(m.recipe, catalog.DigitsRecipe)):  # byte-lm: tests/test_lm.py
            continue
        meta = json.loads((m.path / catalog.META_FILE).read_text())
        assert meta["name"] == name and meta["input_shape"] == [None, 8, 8, 1]
        assert (m.path / catalog.CARD_FILE).exists() and (m.path / "saved_model.pb").exists()
        assert meta["test_accuracy"] >= (0.97 if m.recipe.epochs >= 60 else 0.85)  # e5, e20: shorter on purpose
        assert meta["recipe"]["epochs"] == m.recipe.epochs


def test_cli_rejects_unknown_names(capsys):
    with pytest.raises(SystemExit):
        zoo.main(["build", "resnet"])
    assert "bundled models: digits-convnet" in capsys.readouterr().err
