"""One loader for candidate files (pipeline.rul.sweeps): the recipe (`prognos rul`) and sweeps (`prognos
search`) read the same shape with the same checks; the recipe's presets and "auto" values still work."""

import pytest

from prognos.edge_runtime.errors import ConfigError

SWEEP = """[base.data]
window = 40
rul_cap = "auto"
[base.train]
epochs = 3
[preset.cmapss.data]
rul_cap = 125.0
[[candidate]]
name = "a"
doc = "a small LSTM"
model = { name = "lstm", hparams = { units = [8] } }
[[candidate]]
name = "b"
data = { window = 60 }
train = { epochs = 5 }
"""


def test_recipe_and_search_read_one_file_with_one_loader(tmp_path):
    from prognos.pipeline.rul.recipe import candidate_configs, load_recipe
    from prognos.pipeline.rul.search import candidates

    path = tmp_path / "s.toml"
    path.write_text(SWEEP)
    recipe = dict(candidate_configs(load_recipe(path), None, {"rul_cap": 80.0, "window_cap": 50}, {"data_dir": "d"}))
    assert (recipe["a"].data.rul_cap, recipe["a"].data.window, recipe["b"].data.window) == (80.0, 40, 50)
    assert recipe["b"].train.epochs == 5 and recipe["a"].model.hparams == {"units": [8]}
    preset = dict(candidate_configs(load_recipe(path), "cmapss", {"rul_cap": 80.0, "window_cap": 50}, {}))
    assert preset["a"].data.rul_cap == 125.0
    with pytest.raises(ConfigError, match=r"s.toml: candidate 'a': .*rul_cap = 'auto' \(str\); expected float"):
        candidates([path])  # "auto" is decided by the recipe on the data, not by a search
    path.write_text(SWEEP.replace('rul_cap = "auto"\n', ""))
    found = {n: c for n, c, _ in candidates([path], only=["b"], seeds=[2])}
    assert sorted(found) == ["b", "b_s2"] and found["b_s2"].train.seed == 2 and found["b"].data.window == 60


@pytest.mark.parametrize(
    "extra, message",
    [
        ('[[candidate]]\nname = "a"\n', r"candidates \['a'\] named twice"),
        ('[[candidate]]\nname = "c"\nmodels = {}\n', r"candidate 'c': expected keys name, doc, data, model, train"),
    ],
)
def test_both_refuse_the_same_mistakes(tmp_path, extra, message):
    from prognos.pipeline.rul.recipe import load_recipe
    from prognos.pipeline.rul.search import candidates

    path = tmp_path / "s.toml"
    path.write_text(SWEEP + extra)
    for load in (load_recipe, lambda p: candidates([p])):
        with pytest.raises(ConfigError, match=message):
            load(path)
