"""`handrecon train RECIPE [key=value ...]`: train a bundled recipe (or a recipe YAML file).

Overrides address any field of the recipe (`data.batch_size=8`, `optim.lr=1e-4`) and any keyword of
Lightning's Trainer as `trainer.<flag>=<value>` (`trainer.devices=4 trainer.strategy=ddp
trainer.precision=16-mixed`). `--list` names the bundled recipes; `--resume CKPT` continues a run exactly.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", nargs="?", help="a bundled recipe name (see --list) or a recipe .yaml file")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. trainer.max_epochs=2 data.batch_size=8")
    p.add_argument("--list", action="store_true", help="name the bundled recipes and exit")
    p.add_argument("--resume", metavar="CKPT", help="continue from this checkpoint (last.ckpt of a run)")
    p.add_argument("--print-config", action="store_true", help="print the resolved recipe and exit")


def run(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    from handrecon.io.errors import InputError
    from handrecon.train.config import load_recipe, recipe_names

    if args.list:
        print("\n".join(recipe_names()))
        return 0
    if not args.recipe:
        print("handrecon train: name a recipe (handrecon train --list names the bundled ones)", file=sys.stderr)
        return 2
    try:
        cfg = load_recipe(args.recipe, args.overrides)
    except InputError as e:
        print(f"handrecon train: {e}", file=sys.stderr)
        return 2
    if args.print_config:
        print(OmegaConf.to_yaml(cfg, resolve=True))
        return 0
    from handrecon.train.run import fit, run_dir

    fit(cfg, resume=args.resume)
    print(f"checkpoints, recipe.yaml and logs in {run_dir(cfg)}")
    return 0
