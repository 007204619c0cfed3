"""Recipes: bundled list, overrides with types checked, the resolved recipe round trip."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from handrecon.io.errors import InputError
from handrecon.train.config import load_recipe, recipe_from_dict, recipe_names, save_recipe, to_container


def test_bundled_recipes_are_listed():
    assert {"cpu-small", "resnet50-ief", "vit-ief"} <= set(recipe_names())


def test_overrides_reach_nested_fields_lists_and_trainer_flags():
    cfg = load_recipe("cpu-small", ["optim.lr=0.5", "data.val.0.length=7", "trainer.precision=bf16-mixed",
                                    "trainer.accumulate_grad_batches=4", "model.head_opts.hidden=16"])
    assert cfg.optim.lr == 0.5 and isinstance(cfg.optim.lr, float)
    assert cfg.data.val[0].length == 7
    assert cfg.trainer.precision == "bf16-mixed" and cfg.trainer.accumulate_grad_batches == 4
    assert cfg.model.head_opts.hidden == 16
    assert cfg.model.backbone == "mediapipe_hand"  # from the recipe file, over the default


def test_bad_recipes_and_overrides_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="no bundled recipe"):
        load_recipe("no-such-recipe")
    with pytest.raises(InputError, match="optim.lrr|lrr"):
        load_recipe("cpu-small", ["optim.lrr=1"])
    with pytest.raises(InputError):
        load_recipe("cpu-small", ["optim.lr=fast"])
    with pytest.raises(InputError, match="key=value"):
        load_recipe("cpu-small", ["optim.lr"])


def test_resolved_recipe_round_trip(tmp_path):
    cfg = load_recipe("cpu-small", ["seed=7", "loss.weights.pose=2.5"])
    save_recipe(cfg, tmp_path / "recipe.yaml")
    again = load_recipe(str(tmp_path / "recipe.yaml"))
    again.name = cfg.name
    assert to_container(again) == to_container(cfg)
    assert to_container(recipe_from_dict(to_container(cfg))) == to_container(cfg)
    assert OmegaConf.to_yaml(again) == OmegaConf.to_yaml(cfg)
