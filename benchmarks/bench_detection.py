"""The detector front ends on the hard_dev split (real in-the-wild photos with hand boxes), scored with the
scorer that comes with it, side by side with MediaPipe Hands alone, with per-image times.

- thorough: `handrecon.detect.multi_source.ThoroughHands` (the default of `handrecon reconstruct`);
- fast: `handrecon.detect.mediapipe_hands.MediaPipeHands` (`--detector fast`, MediaPipe's palm detector);
- the scorer's own MediaPipe Hands run (legacy API, 4 hands) is printed by the scorer beside them.

The front ends' 2D landmarks are scored (the fit that follows moves them little). `--sweep` also prints
recall / precision / handedness of the thorough detector over hand-presence thresholds (the rule that sets
`handrecon.detect.verify.PRESENCE_THRESHOLD`). Times are wall seconds per image in one process, both
detectors on the same machine in the same run (compare ratios: a shared machine makes absolute times noisy).

Run: python benchmarks/bench_detection.py [--hard-dev PATH] [--sweep] [--per-image]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def default_hard_dev() -> Path | None:
    from handrecon.data.devdata import default_devdata_dir

    base = default_devdata_dir()
    return base / "hard_dev" if base is not None and (base / "hard_dev" / "annotations.json").is_file() else None


def write_outputs(folder: Path, stem: str, dets) -> None:
    """`handrecon reconstruct`-like JSON (what the scorer reads) with the detector's landmarks."""
    hands = [
        {"handedness": d.handedness, "joints_2d_px": np.asarray(d.keypoints).tolist(), "detector": dict(d.report)}
        for d in dets
    ]
    (folder / f"{stem}.json").write_text(json.dumps({"hands": hands}))


def run_detector(detector, images: list[tuple[str, np.ndarray]], folder: Path) -> list[float]:
    folder.mkdir(parents=True, exist_ok=True)
    detector.detect(images[0][1])  # warm-up (model loading)
    times = []
    for stem, rgb in images:
        t0 = time.perf_counter()
        dets = detector.detect(rgb)
        times.append(time.perf_counter() - t0)
        write_outputs(folder, stem, dets)
    return times


def load_scorer(hard_dev: Path):
    spec = importlib.util.spec_from_file_location("score_detections", hard_dev / "score_detections.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def sweep(hard_dev: Path, images, thresholds=(0.5, 0.6, 0.7, 0.8, 0.9, 0.95)) -> None:
    """Thorough detector with every verified hand kept, then filtered by presence: recall / precision."""
    from handrecon.detect.multi_source import ThoroughHands, ThoroughSettings

    scorer = load_scorer(hard_dev)
    ann = json.loads((hard_dev / "annotations.json").read_text())
    lowest = min(thresholds)
    with ThoroughHands(settings=dataclasses.replace(ThoroughSettings(), presence_threshold=lowest)) as det:
        raw = {stem: det.detect(rgb) for stem, rgb in images}
    print(f"\npresence threshold sweep (thorough, every hand verified at >= {lowest}, then filtered):")
    for thr in thresholds:
        preds = {
            stem: [
                {"side": d.handedness, "joints": d.keypoints.tolist(), "box": scorer.box_of(d.keypoints)}
                for d in dets
                if d.report["presence"] >= thr
            ]
            for stem, dets in raw.items()
        }
        t, _ = scorer.evaluate(ann, preds)
        print(
            f"  presence >= {thr:.2f}: recall {100 * t['recall']:5.1f} %  precision {100 * t['precision']:5.1f} %  "
            f"handedness {100 * t['handedness_acc']:5.1f} %  FP {t['fp']}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hard-dev", type=Path, default=default_hard_dev())
    ap.add_argument("--sweep", action="store_true", help="also sweep the hand-presence threshold")
    ap.add_argument("--per-image", action="store_true", help="per-image hits from the scorer")
    ap.add_argument("--out", type=Path, help="keep the JSON outputs here (default: a temporary folder)")
    a = ap.parse_args()
    if a.hard_dev is None or not (a.hard_dev / "annotations.json").is_file():
        print("hard_dev not found (../shared/devdata/hard_dev); pass --hard-dev", file=sys.stderr)
        return 2
    from handrecon.detect.mediapipe_hands import MediaPipeHands
    from handrecon.detect.multi_source import ThoroughHands

    ann = json.loads((a.hard_dev / "annotations.json").read_text())
    images = [
        (Path(im["file"]).stem, np.asarray(Image.open(a.hard_dev / im["file"]).convert("RGB"))) for im in ann["images"]
    ]
    out = a.out or Path(tempfile.mkdtemp(prefix="bench_detection_"))
    with ThoroughHands() as det:
        t_thorough = run_detector(det, images, out / "thorough")
    with MediaPipeHands() as det:
        t_fast = run_detector(det, images, out / "fast")
    cmd = [sys.executable, str(a.hard_dev / "score_detections.py"), str(a.hard_dev / "annotations.json")]
    cmd += ["--handrecon", str(out / "thorough"), "--handrecon-name", "handrecon --detector thorough"]
    cmd += ["--handrecon", str(out / "fast"), "--handrecon-name", "handrecon --detector fast"]
    if a.per_image:
        cmd.append("--per-image")
    subprocess.run(cmd, check=True)
    print("\nper-image time [s] (same process, same machine): thorough | fast | ratio  (image size)")
    for (stem, rgb), tt, tf in zip(images, t_thorough, t_fast, strict=True):
        print(f"  {stem:40s} {tt:7.3f} | {tf:6.3f} | {tt / tf:6.1f}x  ({rgb.shape[1]}x{rgb.shape[0]})")
    mt, mf = statistics.median(t_thorough), statistics.median(t_fast)
    print(
        f"  median: thorough {mt:.3f} s, fast {mf:.3f} s; "
        f"total: thorough {sum(t_thorough):.1f} s, fast {sum(t_fast):.1f} s"
    )
    if a.sweep:
        sweep(a.hard_dev, images)
    return 0


if __name__ == "__main__":
    sys.exit(main())
