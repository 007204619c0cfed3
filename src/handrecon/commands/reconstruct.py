"""`handrecon reconstruct`: photos and videos in, meshes + JSON + overlays out.

Bad inputs never stop a batch: each failure is reported on one line ("<path>: <reason>"), the other
inputs go on, the failures are listed at the end and the exit status is 1.
"""

from __future__ import annotations

import argparse
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
    p.add_argument("--no-texture", action="store_true", help="skip the texture (faster)")
    p.add_argument("--formats", default="obj,ply,glb", help="mesh formats, comma separated (default: obj,ply,glb)")
    p.add_argument("--no-overlay", action="store_true", help="do not write overlay and side-view images")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def collect_inputs(paths: list[Path]) -> list[Path]:
    """Files as given; folders expanded (sorted, recursive) to the images and videos they hold."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_EXTS | VIDEO_EXTS)
        else:
            out.append(p)
    return out


def make_reconstructor(args: argparse.Namespace):
    from handrecon.api import HandReconstructor

    if args.model == "mano" and args.mano_dir is None:
        raise SystemExit("handrecon reconstruct: --model mano needs --mano-dir (the folder with MANO_RIGHT.pkl)")
    return HandReconstructor(
        model=args.model,
        mano_dir=args.mano_dir,
        detector=args.detector,
        max_hands=args.max_hands,
        min_detection_confidence=args.min_confidence,
        tta_passes=args.tta,
        texture=not args.no_texture,
        fx=args.fx,
        fy=args.fy,
        cx=args.cx,
        cy=args.cy,
        fov=args.fov,
    )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from handrecon.io import InputError
    from handrecon.pipeline.outputs import write_image_outputs
    from handrecon.pipeline.video import reconstruct_video_file

    formats = tuple(f.strip().lower() for f in args.formats.split(",") if f.strip())
    bad = [f for f in formats if f not in ("obj", "ply", "glb")]
    if bad:
        print(f"handrecon reconstruct: unknown mesh format(s) {bad}; choose from obj, ply, glb", file=sys.stderr)
        return 2
    inputs = collect_inputs(args.inputs)
    if not inputs:
        print("handrecon reconstruct: no input files", file=sys.stderr)
        return 2
    try:
        rec = make_reconstructor(args)
    except (InputError, ValueError, FileNotFoundError) as e:
        print(f"handrecon reconstruct: {e}", file=sys.stderr)
        return 2
    failures: list[str] = []
    written = 0
    bar = tqdm(inputs, desc="files", unit="file", disable=args.quiet, file=sys.stderr)
    for path in bar:
        try:
            if path.suffix.lower() in VIDEO_EXTS:
                summary = reconstruct_video_file(
                    rec,
                    path,
                    args.out / path.stem,
                    formats=formats,
                    overlay=not args.no_overlay,
                    progress=not args.quiet,
                )
                failures += [f"{path} frame {i}: {reason}" for i, reason in summary.frame_failures]
                written += 1
                continue
            rgb, K, k_source = rec.load(path)
            hands = rec.reconstruct(rgb, K=K)
            if not hands:
                raise InputError(path, "no hand found")
            files = write_image_outputs(
                args.out, path.stem, str(path), rgb, hands, K.numpy(), formats, overlay=not args.no_overlay,
                extra={"camera_source": k_source},
            )  # fmt: skip
            written += 1
            bar.write(f"{path}: {len(hands)} hand(s) -> {files.json}")
        except InputError as e:
            failures.append(str(e))
            bar.write(f"error: {e}")
        except KeyboardInterrupt:
            raise
        except Exception as e:  # one bad input must not stop the batch
            failures.append(f"{path}: {type(e).__name__}: {e}")
            bar.write(f"error: {path}: {type(e).__name__}: {e}")
    rec.close()
    print(f"{written} of {len(inputs)} input(s) reconstructed into {args.out}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} failure(s):", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    return 0
