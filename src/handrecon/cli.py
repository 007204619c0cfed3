"""The `handrecon` command: thin dispatch to the subcommands, no logic of its own."""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> module providing `add_arguments(parser)` and `run(args) -> int`.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("handrecon.commands.demo", "reconstruct the bundled sample image and print where the outputs are"),
    "reconstruct": ("handrecon.commands.reconstruct", "3D hands from photos and videos"),
    "synth": ("handrecon.commands.synth", "generate labelled synthetic hand images"),
    "train": ("handrecon.commands.train", "train a network from a recipe"),
    "evaluate": ("handrecon.commands.evaluate", "evaluate a trained network on a dataset"),
    "export": ("handrecon.commands.export", "export a trained network to ONNX"),
    "data": ("handrecon.commands.data", "inspect datasets and pack them into WebDataset shards"),
    "detect": ("handrecon.commands.detect", "pseudo-labels (2D keypoints, sigma, side, box) of photos and videos"),
}


def chosen_command(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first word that is not an option), if any."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `only`, the other subcommands' options are not loaded (their modules import
    torch and more: start-up pays only for the command that runs)."""
    parser = argparse.ArgumentParser(prog="handrecon", description="3D hand reconstruction from RGB images and videos.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        if only is not None and name != only:
            continue
        try:
            importlib.import_module(module).add_arguments(p)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            p.set_defaults(_missing=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # a command's options only: `handrecon --help` and unknown commands load none
    args = build_parser(only=chosen_command(argv) or "").parse_args(argv)
    if getattr(args, "_missing", False):
        print(f"handrecon {args.command}: not available in this installation", file=sys.stderr)
        return 2
    from handrecon.io.native_stderr import silence_native_stderr

    silence_native_stderr()
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except KeyboardInterrupt:
        # files being written are removed by their atomic writers on the way out; finished ones stay
        print(f"handrecon {args.command}: interrupted", file=sys.stderr)
        return 130


# Commands whose process ends without the interpreter's teardown (~1.1 s of CPU once torch is loaded, after
# every file is written and closed): those that only write through the project's atomic writers. Training
# and the data commands keep the normal exit (their loggers and writers may finish work in destructors).
QUICK_EXIT_COMMANDS = frozenset({"reconstruct"})


def run_command() -> None:
    """The `handrecon` console command: `main`, then for `QUICK_EXIT_COMMANDS` (whose process is the command's
    own: `process_exit.claim_process`) the process ends at once
    (`process_exit.end_process`: threads joined, atexit handlers run, output flushed). In-process callers
    use `main`, which returns."""
    argv = sys.argv[1:]
    quick_exit = chosen_command(argv) in QUICK_EXIT_COMMANDS
    if quick_exit:
        from handrecon.pipeline.process_exit import claim_process

        claim_process()
    code = main(argv)
    if not quick_exit:
        sys.exit(code)
    from handrecon.pipeline.process_exit import end_process

    end_process(code)


if __name__ == "__main__":
    run_command()
