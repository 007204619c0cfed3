"""The `handrecon` command: thin dispatch to the subcommands, no logic of its own."""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> module providing `add_arguments(parser)` and `run(args) -> int`.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("handrecon.commands.demo", "reconstruct the bundled sample image and print where the outputs are"),
    "reconstruct": ("handrecon.commands.reconstruct", "3D hands from photos and videos"),
    "synth": ("handrecon.synth.command", "generate labelled synthetic hand images"),
    "train": ("handrecon.commands.train", "train a network from a recipe"),
    "evaluate": ("handrecon.commands.evaluate", "evaluate a trained network on a dataset"),
    "export": ("handrecon.commands.export", "export a trained network to ONNX"),
    "data": ("handrecon.commands.data", "inspect datasets and pack them into WebDataset shards"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="handrecon", description="3D hand reconstruction from RGB images and videos.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        try:
            importlib.import_module(module).add_arguments(p)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            p.set_defaults(_missing=True)
    return parser


def _silence_native_logs() -> None:
    """Send C++-level log lines (MediaPipe, TFLite) to /dev/null; Python's own stderr (messages, progress
    bars) keeps the terminal through a duplicate of the original descriptor. HANDRECON_NATIVE_LOGS=1 keeps them."""
    import os

    if os.environ.get("HANDRECON_NATIVE_LOGS") == "1" or sys.stderr is not sys.__stderr__:
        return  # asked for, or stderr is already redirected (e.g. captured by a test harness)
    try:
        sys.stderr.flush()
        keep = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        sys.stderr = os.fdopen(keep, "w", buffering=1)
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _silence_native_logs()
    if getattr(args, "_missing", False):
        print(f"handrecon {args.command}: not available in this installation", file=sys.stderr)
        return 2
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
