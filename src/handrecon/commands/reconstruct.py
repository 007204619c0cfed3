"""`handrecon reconstruct`: photos and videos in, meshes + JSON + overlays out.

Bad inputs never stop a batch: each failure is reported on one line ("<path>: <reason>"), the other
inputs go on, the failures are listed at the end and the exit status is 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
VIDEO_EXTS = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".flv"}


def add_camera_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("camera (default: EXIF focal length, else a 60-degree field of view)")
    g.add_argument("--fx", type=float, help="focal length in pixels (x)")
    g.add_argument("--fy", type=float, help="focal length in pixels (y; defaults to fx)")
    g.add_argument("--cx", type=float, help="principal point x in pixels (default: image centre)")
    g.add_argument("--cy", type=float, help="principal point y in pixels (default: image centre)")
    g.add_argument("--fov", type=float, help="field of view in degrees along the longer image side")


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("hand model")
    g.add_argument("--model", choices=("openhand", "mano"), default="openhand", help="hand model (default: openhand)")
    g.add_argument("--mano-dir", type=Path, help="folder with MANO_RIGHT.pkl / MANO_LEFT.pkl (for --model mano)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", type=Path, help="image or video files, or folders of them")
    p.add_argument(
        "--out", "-o", type=Path, default=Path("handrecon_out"), help="output folder (default: handrecon_out)"
    )
    add_model_arguments(p)
    add_camera_arguments(p)
    p.add_argument(
        "--detector",
        choices=("thorough", "fast"),
        default="thorough",
        help="hand detector for photos: thorough (default; palm, tile and body proposals verified by the landmark "
        "model; finds small, gloved and touching hands; extra time on large photos with people) or fast "
        "(MediaPipe's palm detector alone); videos use MediaPipe's tracking either way",
    )
    p.add_argument(
        "--max-hands", type=int, default=None, help="most hands per image (default: every hand found; fast: 2)"
    )
    p.add_argument("--min-confidence", type=float, default=0.5, help="detector confidence threshold (default: 0.5)")
    p.add_argument(
        "--tta", type=int, default=0, help="augmented detector passes for the 2D uncertainty (default: 0, one pass)"
    )
    p.add_argument(
        "--init", choices=("ik", "network"), default=None,
        help="the fit's start: network (the shipped landmark network, then a few fit steps; default for photos) "
        "or ik (inverse kinematics on the detector's landmarks, then the full fit; default for a video's new "
        "tracks, steadier); given, it applies to both",
    )  # fmt: skip
    p.add_argument("--no-texture", action="store_true", help="skip the texture (faster)")
    p.add_argument("--formats", default="obj,ply,glb", help="mesh formats, comma separated (default: obj,ply,glb)")
    p.add_argument("--no-overlay", action="store_true", help="do not write overlay and side-view images")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument(
        "--ray", metavar="ADDRESS",
        help='run on a Ray cluster ("auto", "ray://HOST:10001", or "local" for this machine); inputs and --out '
        'must be on a file system every node sees; needs pip install "handrecon[ray]"',
    )  # fmt: skip
    p.add_argument(
        "--workers", "-j", type=int, default=None,
        help="inputs processed in parallel, each worker process with its own models (default: $HANDRECON_WORKERS, "
        "else the machine's cores)",
    )  # fmt: skip


# PipelineConfig / camera setting -> the flag that sets it, for messages
FLAG_OF = {
    "detector": "--detector",
    "max_hands": "--max-hands",
    "min_detection_confidence": "--min-confidence",
    "tta_passes": "--tta",
    "init": "--init",
    "fx": "--fx",
    "fy": "--fy",
    "cx": "--cx",
    "cy": "--cy",
    "fov": "--fov",
}


def collect_inputs(paths: list[Path]) -> list[Path]:
    """Files as given; folders expanded (sorted, recursive) to the images and videos they hold."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_EXTS | VIDEO_EXTS)
        else:
            out.append(p)
    return out


def check_arguments(args: argparse.Namespace) -> tuple[str, ...]:
    """Refuse flags out of range before any work (`SettingError` naming the flag); returns the mesh formats."""
    from handrecon.io import SettingError, check_camera_settings
    from handrecon.pipeline.detection_settings import check_detection_settings

    formats = tuple(f.strip().lower() for f in args.formats.split(",") if f.strip())
    bad = [f for f in formats if f not in ("obj", "ply", "glb")]
    if bad:
        raise SettingError("--formats", f"unknown mesh format(s) {bad}; choose from obj, ply, glb")
    if args.workers is not None and args.workers < 1:
        raise SettingError("--workers", f"must be a whole number of at least 1, got {args.workers}")
    if args.model == "mano" and args.mano_dir is None:
        raise SettingError("--model mano", "needs --mano-dir (the folder with MANO_RIGHT.pkl / MANO_LEFT.pkl)")
    try:
        check_camera_settings(args.fx, args.fy, args.cx, args.cy, args.fov)
        check_detection_settings(  # PipelineConfig's own check, without importing the pipeline (torch)
            detector=args.detector,
            max_hands=args.max_hands,
            min_detection_confidence=args.min_confidence,
            tta_passes=args.tta,
        )  # --init is limited by its choices
    except SettingError as e:
        raise SettingError(FLAG_OF.get(e.path, e.path), e.reason) from e
    return formats


def reconstructor_settings(args: argparse.Namespace) -> dict:
    """Keywords of `HandReconstructor` (picklable: each worker process builds its own)."""
    return {
        "model": args.model,
        "mano_dir": args.mano_dir,
        "detector": args.detector,
        "max_hands": args.max_hands,
        "min_detection_confidence": args.min_confidence,
        "tta_passes": args.tta,
        "texture": not args.no_texture,
        "init": args.init,
        "fx": args.fx,
        "fy": args.fy,
        "cx": args.cx,
        "cy": args.cy,
        "fov": args.fov,
    }


def build_reconstructor(**settings):
    """`HandReconstructor(**settings)`, imported on use: a pool's parent never loads the models' code."""
    from handrecon.api import HandReconstructor

    return HandReconstructor(**settings)


def make_reconstructor(args: argparse.Namespace):
    return build_reconstructor(**reconstructor_settings(args))


def _pool_likely(args: argparse.Namespace) -> bool:
    """Several workers and more than one input or a folder, judged before anything heavy is imported."""
    from handrecon.pipeline.batch import WORKERS_ENV

    if getattr(args, "ray", None) or not (len(args.inputs) > 1 or any(p.is_dir() for p in args.inputs)):
        return False
    if args.workers is not None:
        return args.workers > 1
    env = os.environ.get(WORKERS_ENV, "").strip()
    return (int(env) > 1) if env.isdigit() else (os.cpu_count() or 1) > 1


def run(args: argparse.Namespace) -> int:
    if _pool_likely(args):
        # its fork server imports torch and MediaPipe while this process imports its own and checks arguments
        from handrecon.pipeline.batch import start_worker_server

        start_worker_server(build_reconstructor, reconstructor_settings(args))
    from handrecon.io import InputError, SettingError, prepare_output_dir, remove_stale_temporaries

    def usage_error(message: str) -> int:
        print(f"handrecon reconstruct: {message}", file=sys.stderr)
        return 2

    try:
        formats = check_arguments(args)
    except SettingError as e:
        return usage_error(str(e))
    ray_actors = args.workers  # on Ray: the cluster's CPUs unless given
    if args.workers is None:
        from handrecon.pipeline.batch import default_workers

        try:
            args.workers = default_workers()
        except SettingError as e:
            return usage_error(str(e))
    inputs = collect_inputs(args.inputs)
    if not inputs:
        return usage_error("no input files")
    try:
        prepare_output_dir(args.out)
    except InputError as e:
        return usage_error(f"--out {e}")
    remove_stale_temporaries(args.out)  # left by an earlier run that was killed
    from handrecon.pipeline.batch import BatchJob
    from handrecon.pipeline.predetect import predetect_enabled

    job = BatchJob(
        build_reconstructor, reconstructor_settings(args), args.out, formats, overlay=not args.no_overlay,
        predetect=predetect_enabled(),
    )  # fmt: skip
    workers = min(args.workers, len(inputs))
    ray_address = getattr(args, "ray", None)
    try:
        # unusable MANO files: one clear error, not one per worker
        if (workers > 1 or ray_address) and args.model == "mano":
            from handrecon.hand import HandModel

            HandModel(side="right", model="mano", mano_dir=args.mano_dir)
        failures, written = _reconstruct_all(
            job, inputs, workers, args.quiet, lambda job: make_reconstructor(args), ray_address, ray_actors
        )
    except InputError as e:  # settings out of range, unusable MANO files
        return usage_error(str(e))
    print(f"{written} of {len(inputs)} input(s) reconstructed into {one_line(args.out)}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} failure(s):", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    return 0


def one_line(x: object) -> str:
    """`handrecon.io.one_line`, imported on use: the parser is built without importing torch."""
    from handrecon.io import one_line as _one_line

    return _one_line(x)


def _reconstruct_all(
    job,
    inputs: list[Path],
    workers: int,
    quiet: bool,
    rec_factory,
    ray_address: str | None = None,
    ray_actors: int | None = None,
) -> tuple[list[str], int]:
    """Every input, in this process, in `workers` processes or on a Ray cluster (`--ray`, where the
    workers are the cluster's CPUs unless --workers is given); one line per result or failure, one
    progress bar. Returns (failure lines in input order, inputs written). A failure to build the
    reconstructor (before any input) raises."""
    from contextlib import closing

    from tqdm import tqdm

    from handrecon.pipeline.batch import run_batch
    from handrecon.pipeline.naming import output_stems

    failures: dict[int, list[str]] = {}
    written = 0
    stems = output_stems(inputs)
    if ray_address:
        from handrecon.pipeline.ray_batch import run_on_ray

        outcomes = run_on_ray(job, inputs, stems, ray_address, actors=ray_actors)
    else:
        outcomes = run_batch(job, inputs, stems, workers=workers, progress=not quiet, rec_factory=rec_factory)
    # closing(): on Ctrl-C the batch stops its workers and removes their temporaries before we return
    with closing(outcomes), tqdm(total=len(inputs), desc="files", unit="file", disable=quiet, file=sys.stderr) as bar:
        for outcome in outcomes:
            failures[outcome.index] = outcome.failures
            written += outcome.written
            bar.write(outcome.message)
            bar.update(1)
    return [line for i in sorted(failures) for line in failures[i]], written
