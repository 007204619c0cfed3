"""The detector front ends on the hard_dev split (real in-the-wild photos with hand boxes), scored with the
scorer that comes with it, side by side with MediaPipe Hands alone, with per-image times.

- thorough: `handrecon.detect.multi_source.ThoroughHands` (the default of `handrecon reconstruct`);
- fast: `handrecon.detect.mediapipe_hands.MediaPipeHands` (`--detector fast`, MediaPipe's palm detector);
- the scorer's own MediaPipe Hands run (legacy API, 4 hands) is printed by the scorer beside them.

The front ends' 2D landmarks are scored (the fit that follows moves them little). `--sweep` also prints
recall / precision / handedness of the thorough detector over hand-presence thresholds (the rule that sets
`handrecon.detect.verify.PRESENCE_THRESHOLD`). Times are wall seconds per image in one process, both
detectors on the same machine in the same run (compare ratios: a shared machine makes absolute times noisy).

`--close-ups N` times both front ends on N one-hand 256x256 close-ups (bench_throughput.py's folder),
interleaved per image, and counts the thorough detector's model runs. `--calibrate-prior N` builds the tuning
data of the verification rules (N synthetic renders and non-hand crops) and prints what the rules give
(`handrecon.detect.hand_prior.PRIOR_LIMITS`, `handrecon.detect.verify.TWO_READ_THRESHOLD`).

`--calibrate-fallbacks N` prints the tuning data of the weak-palm floor (`multi_source.WEAK_PALM_FLOOR`), of the
zoom-out pyramid (`multi_source.ZOOM_PYRAMID`) and of the re-crop give-up (`verify.GIVE_UP_BELOW`).
`--calibrate-neighbours N` prints that of the close-up neighbour rule (`close_up.NEIGHBOUR_MIN_PALM`),
`--calibrate-scan N` that of the scan-window rule (`multi_source.SCAN_SKIP_PRESENCE`), `--calibrate-order N` that
of the fallbacks' order (`multi_source.ZOOM_FIRST`). `--threads BURSTS` measures 1 vs 2 interpreter threads per
model run (`litert.interpreter_threads`).

`--side-by-side close-ups one-hand --baseline-src DIR [--rounds 3]` times the thorough detector of this tree
against a reference tree's (its src folder, e.g. a `git archive` of main), one child process per tree and round,
alternating: per-image wall and CPU medians, their ratio, model runs per image and hands found, on the 28
close-ups of `--close-ups 28` and on the 12 one-hand labelled dev photos of bench_reconstruct.py's speed.

`--finger-order` prints the body finger-order check (`handrecon.detect.finger_order`) on every hand the thorough
detector finds in the dev photos (hard_dev, photos_hamer, labelled sets): each attached hand's verdict and action.

`--two-read` / `--forearm` score the thorough detector with those options on (both off by default).

Run: python benchmarks/bench_detection.py [--hard-dev PATH] [--sweep] [--per-image] [--two-read] [--forearm]
     [--close-ups N] [--calibrate-prior N] [--calibrate-fallbacks N] [--calibrate-neighbours N]
     [--calibrate-scan N] [--calibrate-order N] [--threads BURSTS] [--finger-order]
     [--side-by-side close-ups one-hand --baseline-src DIR [--rounds R]]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
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
    settings = dataclasses.replace(ThoroughSettings(), presence_threshold=lowest, two_read_threshold=None)
    with ThoroughHands(settings=settings) as det:
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


# ---------------------------------------------------------------------------------------------------
# Tuning data for the verification rules: synthetic renders (the project's own engine) and non-hand crops.


def _public_domain_photo() -> np.ndarray | None:
    """matplotlib's sample `grace_hopper.jpg` (U.S. Navy photograph, public domain), also a background of the
    synthetic engine; None without matplotlib."""
    try:
        from matplotlib import cbook

        return np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    except Exception:
        return None


def prior_tuning_set(count: int = 400, seed: int = 0, negatives_per_render: int = 8, size: int = 320):
    """Settled landmark readings on data the project may tune on. Positives: each hand of `count` synthetic
    renders (at least 11 visible joints), read from the crop of its true landmarks and kept when the settled
    landmarks lie within a quarter hand of the truth. Negatives: random turned square crops (0.2-0.6 of the
    image side) of the same renders with under 2 % hand pixels, whose settled landmarks still lie off the
    hands (background, forearm, occluders), and as many crops of the public-domain photo (a face). Each
    reading: (presence, mirrored re-read presence, PriorCheck). Third list: the readings of the two neighbour
    crops of each hand (`proposals.neighbour_rects`) that settled on neither hand nor a part of one, the kind
    of false hand the neighbour crops give on real photos."""
    from handrecon.detect.crops import RotatedRect
    from handrecon.detect.hand_prior import check_landmarks
    from handrecon.detect.landmarks import HandLandmarkModel, rect_from_hand_landmarks
    from handrecon.detect.proposals import Proposal, neighbour_rects
    from handrecon.detect.verify import settle
    from handrecon.synth.config import SynthConfig
    from handrecon.synth.engine import SynthEngine

    model = HandLandmarkModel()
    engine = SynthEngine(SynthConfig(seed=seed, two_hand_prob=0.3, size=size))
    rng = np.random.default_rng(seed)
    pos, neg, near = [], [], []

    def read(rgb, rect):
        lm, _ = settle(model, rgb, Proposal(rect, "scan", 0.0))
        return lm, model(rgb, lm.rect, mirror=True).presence

    def off_hands(mask, lo, hi) -> bool:
        x0, y0 = np.maximum(np.floor(lo).astype(int), 0)
        x1, y1 = np.maximum(np.ceil(hi).astype(int), 0)
        box = mask[y0:y1, x0:x1]
        return box.size == 0 or box.mean() <= 0.02

    def negatives(rgb, hand_mask):
        H, W = rgb.shape[:2]
        mask = np.zeros((H, W), bool) if hand_mask is None else hand_mask
        for _ in range(negatives_per_render):
            side = rng.uniform(0.2, 0.6) * min(H, W)
            cx, cy = rng.uniform(side / 2, W - side / 2), rng.uniform(side / 2, H - side / 2)
            rect = RotatedRect(cx, cy, side, side, rng.uniform(-np.pi, np.pi))
            x0, y0, x1, y1 = rect.bbox()
            if not off_hands(mask, (x0, y0), (x1, y1)):
                continue
            lm, mirrored = read(rgb, rect)
            if off_hands(mask, lm.keypoints.min(0), lm.keypoints.max(0)):  # not walked onto a hand
                neg.append((lm, mirrored))

    for i in range(count):
        s = engine.sample(i)
        for slot in range(s.num_hands):
            truth = s.joints2d[slot]
            if s.visible[slot].sum() < 11:
                continue
            lm, mirrored = read(s.image, rect_from_hand_landmarks(truth))
            if np.linalg.norm(lm.keypoints - truth, axis=1).mean() < 0.25 * float(np.ptp(truth, 0).max()):
                pos.append((lm, mirrored))
            for rect in neighbour_rects(rect_from_hand_landmarks(truth)):  # what the neighbour crops read
                lm, mirrored = read(s.image, rect)
                if not any(_same_or_part(lm.keypoints, s.joints2d[k]) for k in range(s.num_hands)):
                    near.append((lm, mirrored))
        negatives(s.image, s.hand_mask)
    photo = _public_domain_photo()
    if photo is not None:
        for _ in range(count):
            negatives(photo, None)

    def with_checks(readings):
        if not readings:
            return []
        checks = check_landmarks(np.stack([m.keypoints for m, _ in readings]), np.stack([m.world for m, _ in readings]))
        return [(m.presence, mirrored, c) for (m, mirrored), c in zip(readings, checks, strict=True)]

    return with_checks(pos), with_checks(neg), with_checks(near)


def _same_or_part(kp: np.ndarray, truth: np.ndarray) -> bool:
    """A reading of that true hand (landmarks within half a hand of the truth), or of a part of it (half its
    landmarks inside the hand's box): the detector merges or drops those, they are not false hands."""
    size = float(np.ptp(truth, 0).max())
    if np.linalg.norm(kp - truth, axis=1).mean() < 0.5 * size:
        return True
    lo, hi = truth.min(0) - 0.1 * size, truth.max(0) + 0.1 * size
    return bool(np.all((kp >= lo) & (kp <= hi), axis=1).mean() >= 0.5)


def calibrate_prior(count: int, seed: int = 0) -> None:
    """Prints the tuning data's figures and the values the stated rules give (`hand_prior.PRIOR_LIMITS`,
    `verify.TWO_READ_THRESHOLD`)."""
    from handrecon.detect.hand_prior import calibrate_limits
    from handrecon.detect.verify import PRESENCE_THRESHOLD

    pos, far, near = prior_tuning_set(count, seed)
    neg = far + near
    P = np.array([[p, m] for p, m, _ in pos])
    N = np.array([[p, m] for p, m, _ in neg])
    print(
        f"tuning set: {len(pos)} hands read correctly on {count} synthetic renders, {len(neg)} non-hand readings "
        f"({len(far)} crops away from the hands, {len(near)} crops beside a hand that settled off every hand)"
    )
    for name, group in (("away", far), ("beside", near)):
        g = np.array([[p, m] for p, m, _ in group]).reshape(-1, 2)
        print(
            f"  {name}: presence >= 0.9: {int((g[:, 0] >= 0.9).sum())}, >= 0.8: {int((g[:, 0] >= 0.8).sum())}, "
            f">= 0.5: {int((g[:, 0] >= 0.5).sum())}; two-read score >= 0.8: "
            f"{int((np.sqrt(g[:, 0] * g[:, 1]) >= 0.8).sum())}"
        )
    limits = calibrate_limits([c for _, _, c in pos])
    print(f"knowledge-prior limits (99.5th percentile of the hands): {limits}")
    hard = N[:, 0] >= 0.5
    for k in ("bone", "rom", "projection"):
        vp = np.array([c.as_dict()[k] for _, _, c in pos])
        vn = np.array([c.as_dict()[k] for _, _, c in neg])[hard]
        qn = np.quantile(vn, [0.1, 0.5, 0.9]).round(3) if len(vn) else "-"
        print(
            f"  {k:10s} hands q50/q90/q99.5 {np.quantile(vp, [0.5, 0.9, 0.995]).round(3)}; "
            f"non-hands with presence >= 0.5 (n={int(hard.sum())}) q10/q50/q90 {qn}"
        )
    plaus_p = np.array([c.plausible(limits) for _, _, c in pos])
    plaus_n = np.array([c.plausible(limits) for _, _, c in neg])
    print(
        f"  within the limits: hands {plaus_p.mean():.3f}, non-hands with presence >= 0.5 "
        f"{plaus_n[hard].mean() if hard.any() else float('nan'):.3f}"
    )
    base_n = int((N[:, 0] >= PRESENCE_THRESHOLD).sum())
    print(f"presence >= {PRESENCE_THRESHOLD}: hands {np.mean(P[:, 0] >= PRESENCE_THRESHOLD):.3f}, non-hands {base_n}")
    chosen = None
    for t in (0.5, 0.6, 0.7, 0.8, 0.9):
        two_p = (P[:, 0] >= PRESENCE_THRESHOLD) | ((np.sqrt(P[:, 0] * P[:, 1]) >= t) & plaus_p)
        two_n = (N[:, 0] >= PRESENCE_THRESHOLD) | ((np.sqrt(N[:, 0] * N[:, 1]) >= t) & plaus_n)
        print(f"  or two-read score >= {t:.1f} and plausible: hands {two_p.mean():.3f}, non-hands {int(two_n.sum())}")
        if chosen is None and two_n.sum() <= base_n:
            chosen = t
    print(f"rule (lowest two-read threshold admitting no more non-hands than presence alone): {chosen}")


def calibrate_fallbacks(count: int, seed: int = 1) -> None:
    """Tuning data of two rules of the thorough detector (see multi_source.WEAK_PALM_FLOOR, verify.GIVE_UP_BELOW).

    Weak palms: the whole thorough flow, weak floor at the grid's lowest (0.1), on `count` synthetic renders with
    their hands painted grey and `count` crops of a public-domain photo (hand-free: every hand is false), and on
    the renders themselves; for each floor of the grid, the hands the fallback would add. Give-up: the palm and
    neighbour proposals of `count` other renders traced through `settle` without a give-up; for each value of
    the grid, the kept hands (presence >= 0.9) a give-up after the first reading would lose and the runs saved.
    """
    import dataclasses
    import math

    from handrecon.detect.landmarks import HandLandmarkModel, rect_from_hand_landmarks
    from handrecon.detect.multi_source import WEAK_PALM_FLOOR, ThoroughHands, ThoroughSettings
    from handrecon.detect.proposals import neighbour_rects, palm_rect, zoomed_out
    from handrecon.detect.ssd import palm_detector
    from handrecon.synth.config import SynthConfig
    from handrecon.synth.engine import SynthEngine

    grid = (0.1, 0.2, 0.3, 0.4)
    zoom_grid = (2**0.5, 2.0, 2**1.5, 4.0)  # the levels of multi_source.ZOOM_PYRAMID are its first ones
    det = ThoroughHands(settings=dataclasses.replace(ThoroughSettings(), weak_palm_floor=grid[0], zoom_pyramid=()))
    rows: dict[str, list] = {"renders": [], "hand-free": []}
    # per image where no other pass found a hand: whether the weak palms at WEAK_PALM_FLOOR found one, and per
    # pyramid level, the (true, false) hands that level alone gives
    zoom_rows: dict[str, list] = {"renders": [], "hand-free": []}
    others_false = 0

    def weak_hands(rgb, truths, kind):
        nonlocal others_false
        hands, _ = det.verified(rgb)
        is_hand = [any(_same_or_part(h.landmarks.keypoints, t) for t in truths) for h in hands]
        rows[kind] += [(h.proposal.score, ok) for h, ok in zip(hands, is_hand, strict=True) if _weak(h)]
        if kind == "hand-free":
            others_false += sum(h.proposal.source != "palm-weak" for h in hands)
        if all(_weak(h) for h in hands):  # the pyramid runs (at the latest) where the weak palms are tried
            levels = []
            for f in zoom_grid:
                found = det.zoom_pyramid_hands(rgb, (f,))
                ok = [any(_same_or_part(h.landmarks.keypoints, t) for t in truths) for h in found]
                levels.append((sum(ok), len(ok) - sum(ok)))
            weak_found = any(h.proposal.score >= WEAK_PALM_FLOOR for h in hands)
            zoom_rows[kind].append((weak_found, levels))

    engine = SynthEngine(SynthConfig(seed=seed, two_hand_prob=0.3, size=320))
    for i in range(count):
        s = engine.sample(i)
        weak_hands(s.image, [s.joints2d[k] for k in range(s.num_hands) if s.visible[k].sum() >= 11], "renders")
        if s.hand_mask is not None:
            painted = s.image.copy()
            painted[s.hand_mask.astype(bool)] = 128
            weak_hands(painted, [], "hand-free")
    photo = _public_domain_photo()
    rng = np.random.default_rng(seed)
    for _ in range(count if photo is not None else 0):
        H, W = photo.shape[:2]
        side = rng.uniform(0.3, 1.0) * min(H, W)
        x0, y0 = int(rng.uniform(0, W - side)), int(rng.uniform(0, H - side))
        weak_hands(photo[y0 : y0 + int(side), x0 : x0 + int(side)], [], "hand-free")
    print(f"weak palms (the fallback), {count} renders, up to {2 * count} hand-free images:")
    print(f"  false hands of the other passes on the hand-free images: {others_false}")
    for f in grid:
        free = [ok for sc, ok in rows["hand-free"] if sc >= f]
        ren = [ok for sc, ok in rows["renders"] if sc >= f]
        wrong = len(ren) - sum(ren)
        print(f"  floor {f:.1f}: hand-free: {len(free)} false hands; renders: {sum(ren)} hands, {wrong} false")
    print(
        f"zoom-out pyramid (the fallback after the weak palms; levels {[round(f, 2) for f in zoom_grid]}), run on "
        f"{len(zoom_rows['hand-free'])} hand-free images and {len(zoom_rows['renders'])} renders where no other "
        "pass found a hand (weak palms at any floor counted as none):"
    )
    weak_false = sum(sc >= WEAK_PALM_FLOOR and not ok for sc, ok in rows["hand-free"])
    for k in range(1, len(zoom_grid) + 1):
        counts = {}
        for kind, per_image in zoom_rows.items():  # the first of the k levels that gives a hand
            for after_weak in (False, True):
                first = [
                    next((lv for lv in levels[:k] if sum(lv)), (0, 0))
                    for weak_found, levels in per_image
                    if not (after_weak and weak_found)
                ]
                counts[kind, after_weak] = (sum(t for t, _ in first), sum(f for _, f in first))
        print(
            f"  {k} level(s): hand-free: {counts['hand-free', False][1]} false hands alone, "
            f"{counts['hand-free', True][1]} where the weak palms (floor {WEAK_PALM_FLOOR}) found none, so the two "
            f"fallbacks together add {weak_false + counts['hand-free', True][1]}; renders: "
            f"{counts['renders', True][0]} hands gained, {counts['renders', True][1]} false"
        )

    model, palms = HandLandmarkModel(), palm_detector(0.1)
    traces = []

    def trace(rgb, rect, max_rounds=4):  # `settle` without give-up, every reading's presence
        lm, seen = model(rgb, rect), []
        seen.append(lm.presence)
        while len(seen) < max_rounds:
            r = rect_from_hand_landmarks(lm.keypoints)
            moved = math.hypot(r.cx - lm.rect.cx, r.cy - lm.rect.cy) / max(r.size, 1.0)
            if moved < 0.05 and abs(math.log(max(r.size, 1.0) / max(lm.rect.size, 1.0))) < 0.05:
                break
            nxt = model(rgb, r)
            seen.append(nxt.presence)
            if nxt.presence < lm.presence - 0.2:
                break
            lm = nxt
        traces.append((seen, lm.presence))

    engine = SynthEngine(SynthConfig(seed=seed + 1, two_hand_prob=0.3, size=320))
    for i in range(count):
        s = engine.sample(i)
        H, W = s.image.shape[:2]
        for region in (None, zoomed_out(W, H)):
            for d in palms.detect(s.image, region):
                trace(s.image, palm_rect(d))
        for k in range(s.num_hands):
            for r in neighbour_rects(rect_from_hand_landmarks(s.joints2d[k])):
                trace(s.image, r)
    runs = sum(len(t) for t, _ in traces)
    kept = sum(p >= 0.9 for _, p in traces)
    print(f"re-crop give-up: {len(traces)} proposals, {runs} landmark runs, {kept} kept hands")
    for g in (0.05, 0.1, 0.2, 0.3):
        lost = saved = 0
        for t, p in traces:  # stopped at the first reading under g that was not the last
            j = next((j for j, x in enumerate(t[:-1]) if x < g), None)
            if j is not None:
                lost += p >= 0.9
                saved += len(t) - (j + 1)
        print(f"  give up below {g:.2f}: kept hands lost {lost}, runs saved {saved} ({100 * saved / runs:.1f} %)")


def _weak(h) -> bool:
    return h.proposal.source == "palm-weak"


THREADS_CHILD = """
import json, statistics, sys, time
import numpy as np
from handrecon.detect.litert import TFLiteModel
rng = np.random.default_rng(0)
models = {(n, t): TFLiteModel(n, threads=t) for n in ("hand_landmark", "palm_detection") for t in (1, 2)}
xs = {}
for (n, t), m in models.items():
    xs[n] = rng.random((*m.input_size, 3), dtype=np.float32)
    m.run(xs[n])
res = {k: ([], []) for k in models}
for burst in range(int(sys.argv[1])):
    for k in list(models) if burst % 2 == 0 else list(models)[::-1]:
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(5):
            models[k].run(xs[k[0]])
        res[k][0].append((time.perf_counter() - w0) / 5)
        res[k][1].append((time.process_time() - c0) / 5)
print(json.dumps({f"{n}, {t} thread(s)": [1000 * statistics.median(a), 1000 * statistics.median(b)]
                  for (n, t), (a, b) in res.items()}))
"""


def interpreter_threads(bursts: int, rounds: int = 2) -> None:
    """Wall and process CPU per run of the hand-landmark and palm models with 1 and 2 interpreter threads,
    alternated in bursts of 5 runs within each process; one process alone, then two at once (as two workers).
    On a loaded machine the wall times mostly show each process's share of the cores; the CPU per run does not
    depend on the load (see `handrecon.detect.litert.interpreter_threads`)."""
    for r in range(rounds):
        for nproc in (1, 2):
            procs = [
                subprocess.Popen([sys.executable, "-c", THREADS_CHILD, str(bursts)], stdout=subprocess.PIPE, text=True)
                for _ in range(nproc)
            ]
            outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
            for i, o in enumerate(outs):
                cells = "; ".join(f"{k}: wall {v[0]:.1f}, CPU {v[1]:.1f}" for k, v in o.items())
                load = os.getloadavg()[0]
                print(f"round {r + 1}, {nproc} process(es), #{i + 1} [ms per run]: {cells}; load {load:.1f}")


def close_ups(count: int, rounds: int = 3) -> None:
    """Per-image detection time on one-hand 256x256 close-ups (the folder of bench_throughput.py), thorough and
    fast interleaved image by image (a loaded machine slows both alike), and the models each one runs."""
    import collections

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_throughput import make_folder

    from handrecon.data.devdata import default_devdata_dir
    from handrecon.detect import litert
    from handrecon.detect.front_end import make_detector

    root = default_devdata_dir()
    if root is None:
        print("no devdata folder (../shared/devdata): no close-ups to make")
        return
    with tempfile.TemporaryDirectory() as tmp:
        make_folder(root, Path(tmp), count)
        images = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(Path(tmp).glob("*.jpg"))]
    runs: collections.Counter = collections.Counter()
    run = litert.TFLiteModel.run

    def counted(model, x):
        runs[model.name] += 1
        return run(model, x)

    dets = {"thorough": make_detector("thorough"), "fast": make_detector("fast")}
    for d in dets.values():
        d.detect(images[0])
    times: dict[str, list[float]] = {k: [] for k in dets}
    found = dict.fromkeys(dets, 0)
    litert.TFLiteModel.run = counted
    try:
        for r in range(rounds):
            for rgb in images:
                for k in list(dets) if r % 2 == 0 else list(dets)[::-1]:
                    t0 = time.perf_counter()
                    n = len(dets[k].detect(rgb))
                    times[k].append(time.perf_counter() - t0)
                    found[k] += n if r == 0 else 0
    finally:
        litert.TFLiteModel.run = run
    print(f"\n{len(images)} one-hand 256x256 close-ups, {rounds} rounds, thorough and fast interleaved per image:")
    for k, ts in times.items():
        print(
            f"  {k:9s} median {1000 * statistics.median(ts):6.1f} ms  mean {1000 * statistics.mean(ts):6.1f} ms  "
            f"hands found {found[k]}"
        )
    ratio = statistics.median(times["thorough"]) / statistics.median(times["fast"])
    print(f"  thorough / fast (medians): {ratio:.2f}x")
    per = ", ".join(f"{name} {n / (rounds * len(images)):.2f}" for name, n in sorted(runs.items()))
    print(f"  thorough's model runs per image: {per}")


def _close_up(image: np.ndarray, truths: list, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """A 256x256 one-hand close-up of a random one of the true hands, cropped as bench_throughput's folder
    is (box jittered by 8 %, 0.75-1.1 of the hand's extent), and every true hand's keypoints in it."""
    import cv2

    kp = truths[int(rng.integers(len(truths)))]
    lo, hi = kp.min(0), kp.max(0)
    centre = (lo + hi) / 2 + rng.uniform(-0.08, 0.08, 2) * (hi - lo).max()
    half = (hi - lo).max() * rng.uniform(0.75, 1.1)
    scale = 256 / (2 * half)
    M = np.array([[scale, 0, -(centre[0] - half) * scale], [0, scale, -(centre[1] - half) * scale]])
    close = cv2.warpAffine(image, M, (256, 256), flags=cv2.INTER_LINEAR, borderValue=0)
    return close, [t @ M[:, :2].T + M[:, 2] for t in truths]


def _verified_keeping_anchors(det, rgb: np.ndarray) -> tuple:
    """`det.verified(rgb)` and the palm anchors of its whole-image palm runs (the close-up rule's evidence),
    which the detector uses and drops."""
    anchors: list = []
    palm_proposals = det.palm_proposals

    def keeping(rgb_, regions, source, weak=None, anchors_=None):
        return palm_proposals(rgb_, regions, source, weak, anchors if source == "palm" else anchors_)

    det.palm_proposals = keeping
    try:
        return det.verified(rgb), anchors
    finally:
        del det.palm_proposals


def calibrate_neighbours(count: int, seed: int = 11) -> None:
    """Tuning data of the close-up neighbour rule (`handrecon.detect.close_up.NEIGHBOUR_MIN_PALM`).

    Images: `count` synthetic renders (half with two interacting hands), a one-hand close-up crop of each (as
    bench_throughput.py's folder crops the dev photos), and the hard_dev photos. Each goes through the thorough
    flow with every neighbour crop read (rule off); each neighbour crop is then settled on its own against the
    hands known before it, and its palm evidence (`close_up.palm_evidence`) is taken from the whole-image palm
    runs. A crop 'adds a hand' when its settled reading passes the presence threshold, is no known hand and (on
    renders) lies on a true hand; on hard_dev, when it is one of the final hands. For each threshold of the grid:
    the neighbour crops of close-ups (largest final hand >= 1/3 of the shorter side, a wider set than the rule's,
    which looks at the hands found before the neighbour crops) it would skip, the hands lost, the runs saved.
    """

    from handrecon.detect.close_up import palm_evidence
    from handrecon.detect.multi_source import ThoroughHands, ThoroughSettings
    from handrecon.detect.verify import HandVerifier, same_hand, settle
    from handrecon.synth.config import SynthConfig
    from handrecon.synth.engine import SynthEngine

    det = ThoroughHands(settings=dataclasses.replace(ThoroughSettings(), neighbour_min_palm=None))
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    captured: list = []
    verify = HandVerifier.__call__

    def recording(self, rgb, proposals, known=None):
        if proposals and proposals[0].source == "neighbour":
            captured.append((list(proposals), list(known or [])))
        return verify(self, rgb, proposals, known)

    def on_a_truth(kp, truths) -> bool:
        return any(np.linalg.norm(kp - t, axis=1).mean() < 0.5 * float(np.ptp(t, 0).max()) for t in truths)

    def flow(name: str, rgb: np.ndarray, truths: list | None) -> None:
        captured.clear()
        (hands, _), anchors = _verified_keeping_anchors(det, rgb)
        largest = max((h.landmarks.size_px for h in hands), default=0.0) / min(rgb.shape[:2])
        for props, known in captured:
            for p in props:
                lm, rounds = settle(det.verifier.model, rgb, p, known=[k.landmarks for k in known])
                new = lm.presence >= det.verifier.presence_threshold
                new = new and not any(same_hand(lm, k.landmarks) for k in known)
                if truths is None:
                    adds = new and any(same_hand(lm, h.landmarks) for h in hands)
                else:
                    adds = new and on_a_truth(lm.keypoints, truths)
                evidence = palm_evidence(p.rect, anchors, [k.landmarks for k in known])
                rows.append(dict(name=name, close_up=largest >= 1 / 3, adds=adds, runs=rounds, evidence=evidence))

    HandVerifier.__call__ = recording
    try:
        engine = SynthEngine(SynthConfig(seed=seed, two_hand_prob=0.5, size=320))
        for i in range(count):
            s = engine.sample(i)
            truths = [s.joints2d[k] for k in range(s.num_hands) if s.visible[k].sum() >= 11]
            if not truths:
                continue
            flow(f"render {i}", s.image, truths)
            flow(f"close-up {i}", *_close_up(s.image, truths, rng))
            print(f"  {i + 1}/{count} renders, {len(rows)} neighbour crops", flush=True)
        hard_dev = default_hard_dev()
        if hard_dev is not None:
            ann = json.loads((hard_dev / "annotations.json").read_text())
            for im in ann["images"]:
                flow(Path(im["file"]).stem, np.asarray(Image.open(hard_dev / im["file"]).convert("RGB")), None)
    finally:
        HandVerifier.__call__ = verify
    for group in ("render", "close-up", "hard_dev"):
        g = [r for r in rows if (r["name"].startswith(group) if group != "hard_dev" else " " not in r["name"])]
        adds = [r for r in g if r["adds"]]
        n_cu = sum(r["close_up"] for r in g)
        print(f"{group}: {len(g)} neighbour crops ({n_cu} of close-ups), {len(adds)} add a hand")
        for r in adds:
            print(f"  adds a hand: {r['name']}, close-up {r['close_up']}, palm evidence {r['evidence']:.3f}")
    cu = [r for r in rows if r["close_up"]]
    print(f"close-ups, all groups: {len(cu)} neighbour crops, {sum(r['runs'] for r in cu)} landmark runs")
    for t in (0.005, 0.01, 0.02, 0.05, 0.1):
        skip = [r for r in cu if r["evidence"] < t]
        print(
            f"  palm evidence >= {t}: skips {len(skip)} crops, {sum(r['runs'] for r in skip)} runs; "
            f"hands lost {sum(r['adds'] for r in skip)}"
        )


def _fallback_tuning_images(count: int, seed: int):
    """The tuning images of the nothing-found fallbacks, as (kind, rgb, true keypoints): `count` synthetic renders
    ("render"), a one-hand close-up crop of each ("close-up"), the renders with their hands painted grey and
    `count` crops of the public-domain photo ("hand-free": every hand is false), in that order per render."""
    from handrecon.synth.config import SynthConfig
    from handrecon.synth.engine import SynthEngine

    rng = np.random.default_rng(seed)
    engine = SynthEngine(SynthConfig(seed=seed, two_hand_prob=0.3, size=320))
    for i in range(count):
        s = engine.sample(i)
        truths = [s.joints2d[k] for k in range(s.num_hands) if s.visible[k].sum() >= 11]
        yield "render", s.image, truths
        if s.hand_mask is not None:
            painted = s.image.copy()
            painted[s.hand_mask.astype(bool)] = 128
            yield "hand-free", painted, []
        if truths:
            yield ("close-up", *_close_up(s.image, truths, rng))
    photo = _public_domain_photo()
    for _ in range(count if photo is not None else 0):
        H, W = photo.shape[:2]
        side = rng.uniform(0.3, 1.0) * min(H, W)
        x0, y0 = int(rng.uniform(0, W - side)), int(rng.uniform(0, H - side))
        yield "hand-free", photo[y0 : y0 + int(side), x0 : x0 + int(side)], []


def calibrate_scan(count: int, seed: int = 1) -> None:
    """Tuning data of the scan-window rule (`multi_source.SCAN_SKIP_PRESENCE`), and of a per-window rule not
    adopted (windows only where the whole-image palm runs scored an anchor).

    Images: `count` synthetic renders, the same renders with their hands painted grey and `count` crops of the
    public-domain photo (hand-free: every hand is false), as `--calibrate-fallbacks` uses, and a one-hand close-up
    crop of each render (as `--calibrate-neighbours`). Each goes through the thorough flow; where the scan windows
    run (no other pass found a hand), each window's settled reading in the flow counts as adding a hand when it
    passes the presence threshold (on a true hand or, on hand-free images, anywhere). Per window: its palm
    evidence (`close_up.palm_evidence`: the best palm-anchor score of the whole-image palm runs inside it); per
    image: the best presence that a rejected palm proposal read. For each rule of the grids: the windows and
    landmark runs it skips, the true hands and the false hands it takes away.
    """

    from handrecon.detect import verify
    from handrecon.detect.close_up import palm_evidence
    from handrecon.detect.multi_source import ThoroughHands, ThoroughSettings

    det = ThoroughHands(settings=dataclasses.replace(ThoroughSettings(), scan_skip_presence=None))
    images: list[dict] = []
    readings: list = []
    settle_fn = verify.settle

    def logging_settle(model, rgb, prop, *args, **kw):
        lm, rounds = settle_fn(model, rgb, prop, *args, **kw)
        readings.append((prop, lm, rounds))
        return lm, rounds

    def flow(kind: str, rgb: np.ndarray, truths: list) -> None:
        readings.clear()
        _, anchors = _verified_keeping_anchors(det, rgb)
        scan = [(p, lm, r) for p, lm, r in readings if p.source == "scan"]
        if not scan:
            return
        palm_best = max((lm.presence for p, lm, _ in readings if p.source == "palm"), default=0.0)
        windows = []
        for p, lm, rounds in scan:  # each window's settled reading in the flow
            hand = lm.presence >= det.verifier.presence_threshold
            true = hand and any(_same_or_part(lm.keypoints, t) for t in truths)
            ev = palm_evidence(p.rect, anchors, [])
            windows.append(dict(runs=rounds, true=true, false=hand and not true, evidence=ev))
        images.append(dict(kind=kind, palm_best=palm_best, windows=windows))

    verify.settle = logging_settle
    try:
        for n, (kind, rgb, truths) in enumerate(_fallback_tuning_images(count, seed)):
            flow(kind, rgb, truths)
            if (n + 1) % 60 == 0:
                print(f"  {n + 1} images, scan ran on {len(images)}", flush=True)
    finally:
        verify.settle = settle_fn
    for kind in ("render", "close-up", "hand-free"):
        g = [im for im in images if im["kind"] == kind]
        w = [x for im in g for x in im["windows"]]
        n_true, n_false = (sum(any(x[k] for x in im["windows"]) for im in g) for k in ("true", "false"))
        print(
            f"{kind}: scan ran on {len(g)} images, {len(w)} windows, {sum(x['runs'] for x in w)} landmark runs; "
            f"windows reading a true hand {sum(x['true'] for x in w)} (images {n_true}), "
            f"a false hand {sum(x['false'] for x in w)} (images {n_false})"
        )
        for x in w:
            if x["true"]:
                print(f"  true hand from a window: palm evidence {x['evidence']:.4f}")
        for im in g:
            if any(x["true"] for x in im["windows"]):
                print(f"  image with a true hand from the scan: best rejected palm presence {im['palm_best']:.3f}")
    every = [x for im in images for x in im["windows"]]
    runs = sum(x["runs"] for x in every)
    print(f"all groups: {len(images)} images, {len(every)} windows, {runs} landmark runs")
    for t in (0.005, 0.01, 0.02, 0.05, 0.1, 0.2):
        skip = [x for x in every if x["evidence"] < t]
        print(
            f"  windows with palm evidence >= {t}: skips {len(skip)} windows, {sum(x['runs'] for x in skip)} runs; "
            f"true hands lost {sum(x['true'] for x in skip)}, false hands avoided {sum(x['false'] for x in skip)}"
        )
    for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        skip = [im for im in images if im["palm_best"] >= t]
        w = [x for im in skip for x in im["windows"]]
        print(
            f"  no scan after a palm proposal read >= {t}: skips {len(skip)} images, {sum(x['runs'] for x in w)} "
            f"runs; images losing a true hand {sum(any(x['true'] for x in im['windows']) for im in skip)}, "
            f"images with a false hand avoided {sum(any(x['false'] for x in im['windows']) for im in skip)}"
        )


def calibrate_order(count: int, seed: int = 1) -> None:
    """Tuning data of the fallbacks' order (`multi_source.ThoroughSettings.zoom_first`): on the images of
    `--calibrate-scan` (`_fallback_tuning_images`) that reach the nothing-found fallbacks, the hands and model runs
    of the order scan windows -> weak palms -> zoom-out pyramid against the pyramid first (the scan and the weak
    palms only when it finds nothing; there the two orders give the same hands). Hands are true when they lie on a
    true hand of the image (every hand of a hand-free image is false)."""
    import collections

    from handrecon.detect import litert
    from handrecon.detect.multi_source import FALLBACK_SOURCES, ThoroughHands, ThoroughSettings

    det = ThoroughHands(settings=dataclasses.replace(ThoroughSettings(), zoom_first=False))
    runs: collections.Counter = collections.Counter()
    run = litert.TFLiteModel.run
    stage = ["before"]

    def counted(model, x):
        runs[stage[0], model.name] += 1
        return run(model, x)

    scan_stage = det.scan_proposals

    def entering_fallbacks(*args):  # the flow reaches the fallbacks here
        stage[0] = "fallbacks"
        return scan_stage(*args)

    def neighbours(*args):
        stage[0] = "after"
        return ThoroughHands.neighbour_proposals(det, *args)

    det.scan_proposals, det.neighbour_proposals = entering_fallbacks, neighbours
    totals: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)

    def tally(order: str, kind: str, hands, truths) -> None:
        true = sum(any(_same_or_part(h.landmarks.keypoints, t) for t in truths) for h in hands)
        totals[kind][order, "true"] += true
        totals[kind][order, "false"] += len(hands) - true

    litert.TFLiteModel.run = counted
    try:
        for n, (kind, rgb, truths) in enumerate(_fallback_tuning_images(count, seed)):
            runs.clear()
            stage[0] = "before"
            found, _ = det.verified(rgb)
            if "scan_windows" not in det.last_stats:
                continue
            hands = [h for h in found if h.proposal.source in FALLBACK_SOURCES]  # the fallbacks' own hands
            old = {m: runs["fallbacks", m] for m in ("hand_landmark", "palm_detection")}
            runs.clear()
            stage[0] = "fallbacks"
            zoom = det.zoom_pyramid_hands(rgb, det.settings.zoom_pyramid)
            first = {m: runs["fallbacks", m] for m in ("hand_landmark", "palm_detection")}
            t = totals[kind]
            t["images"] += 1
            t["zoom finds"] += bool(zoom)
            tally("present", kind, hands, truths)
            tally("zoom first", kind, zoom if zoom else hands, truths)
            for m in old:
                t["present", m] += old[m]
                t["zoom first", m] += first[m] if zoom else old[m]
            if (n + 1) % 60 == 0:
                print(f"  {n + 1} images, fallbacks reached on {sum(x['images'] for x in totals.values())}", flush=True)
    finally:
        litert.TFLiteModel.run = run
    for kind, t in totals.items():
        print(f"{kind}: {t['images']} images reach the fallbacks; the zoom pyramid finds a hand on {t['zoom finds']}")
        for order in ("present", "zoom first"):
            print(
                f"  {order:10s}: true hands {t[order, 'true']}, false hands {t[order, 'false']}; landmark runs "
                f"{t[order, 'hand_landmark']}, palm runs {t[order, 'palm_detection']}"
            )


def _image_set(name: str) -> list[np.ndarray]:
    """The images of a timing set: "close-ups" (the 28 one-hand 256x256 close-ups of `--close-ups 28`) or
    "one-hand" (the 12 one-hand labelled dev photos, onehand10k + freihand, of bench_reconstruct.py's speed)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_throughput import make_folder

    from handrecon.data.devdata import default_devdata_dir, load_labelled
    from handrecon.io import load_image

    root = default_devdata_dir()
    if root is None:
        return []
    if name == "one-hand":
        return [load_image(it.path).rgb for it in load_labelled(root) if it.dataset in ("onehand10k", "freihand")]
    with tempfile.TemporaryDirectory() as tmp:
        make_folder(root, Path(tmp), 28)
        return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(Path(tmp).glob("*.jpg"))]


def _time_child(images_path: Path, out: Path) -> None:
    """One round of the thorough detector over the saved images (in the tree on PYTHONPATH): wall and process CPU
    per image, hands found, model runs; after a warm-up on the first image."""
    import collections

    from handrecon.detect import litert
    from handrecon.detect.front_end import make_detector

    images = list(np.load(images_path, allow_pickle=True)["images"])
    det = make_detector("thorough")
    det.detect(images[0])
    runs: collections.Counter = collections.Counter()
    run = litert.TFLiteModel.run

    def counted(model, x):
        runs[model.name] += 1
        return run(model, x)

    litert.TFLiteModel.run = counted
    wall, cpu, hands = [], [], []
    for rgb in images:
        w0, c0 = time.perf_counter(), time.process_time()
        hands.append(len(det.detect(rgb)))
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    out.write_text(json.dumps(dict(wall=wall, cpu=cpu, hands=hands, runs=runs)))


def side_by_side(names: list[str], baseline: Path, rounds: int) -> None:
    """Per-image time of the thorough detector, this tree against a baseline tree's src folder (its own default
    thorough detector), each round running one child process per tree in turn (the order alternating between
    rounds), per image the median over rounds; and each tree's model runs per image and hands found."""
    for name in names:
        images = _image_set(name)
        if not images:
            print("no devdata folder (../shared/devdata): nothing to time")
            return
        trees = {"this tree": None, "baseline": baseline.resolve()}
        got: dict[str, list[dict]] = {k: [] for k in trees}
        with tempfile.TemporaryDirectory() as tmp:
            arr = np.empty(len(images), dtype=object)
            arr[:] = images
            np.savez(Path(tmp) / "images.npz", images=arr)
            for r in range(rounds):
                for tree in list(trees) if r % 2 == 0 else list(trees)[::-1]:
                    env = dict(os.environ)
                    if trees[tree] is not None:
                        env["PYTHONPATH"] = os.pathsep.join([str(trees[tree]), env.get("PYTHONPATH", "")])
                    out = Path(tmp) / "out.json"
                    cmd = [sys.executable, __file__, "--time-child", str(Path(tmp) / "images.npz"), str(out)]
                    subprocess.run(cmd, check=True, env=env)
                    got[tree].append(json.loads(out.read_text()))
        print(f"\n{name}: {len(images)} images, {rounds} rounds (trees alternating), thorough detector per image:")
        med = {}
        for tree, res in got.items():
            per = {k: [statistics.median(r[k][i] for r in res) for i in range(len(images))] for k in ("wall", "cpu")}
            med[tree] = {k: 1000 * statistics.median(v) for k, v in per.items()}
            total = {k: 1000 * statistics.mean(v) for k, v in per.items()}
            runs = ", ".join(f"{m} {n / len(images):.2f}" for m, n in sorted(res[0]["runs"].items()))
            print(
                f"  {tree:9s} median wall {med[tree]['wall']:6.1f} ms, CPU {med[tree]['cpu']:6.1f} ms; mean wall "
                f"{total['wall']:6.1f} ms, CPU {total['cpu']:6.1f} ms; hands {sum(res[0]['hands'])}; runs per image: "
                f"{runs}"
            )
        for k in ("wall", "cpu"):
            print(f"  baseline / this tree, median {k}: {med['baseline'][k] / med['this tree'][k]:.2f}x")


def _label_order(kp: np.ndarray, labels: list) -> str:
    """The reading's index and little MCPs against the nearest labelled hand's: "same" or "swapped" ("-" when no
    label lies within half a hand or the label lacks those joints)."""
    size = float(np.ptp(kp, 0).max())
    best = min(labels, key=lambda h: np.linalg.norm(kp[h.visible] - h.keypoints[h.visible], axis=1).mean())
    v = best.visible
    if np.linalg.norm(kp[v] - best.keypoints[v], axis=1).mean() >= 0.5 * size or not (v[5] and v[17]):
        return "-"
    t = best.keypoints
    same = np.linalg.norm(kp[5] - t[5]) + np.linalg.norm(kp[17] - t[17])
    swap = np.linalg.norm(kp[5] - t[17]) + np.linalg.norm(kp[17] - t[5])
    return "same" if same < swap else "swapped"


def _set_name(path: Path) -> str:
    return (path.parent.parent if path.parent.name == "images" else path.parent).name[:12]


def finger_order_check(_: bool) -> None:
    """The body finger-order check (`handrecon.detect.finger_order`) on every hand the thorough detector finds in
    the dev photos with people: hard_dev, photos_hamer and the labelled sets (there also the reading's order
    against the label). Prints each attached hand's verdict and action, and the counts."""
    from collections import Counter

    from handrecon.data.devdata import default_devdata_dir, load_labelled
    from handrecon.detect.multi_source import ThoroughHands

    root = default_devdata_dir()
    if root is None:
        print("devdata not found (../shared/devdata)", file=sys.stderr)
        return
    items = [(p, None) for p in sorted((root / "hard_dev" / "images").glob("*.jpg"))]
    items += [(p, None) for p in sorted((root / "photos_hamer").glob("*.jpg"))]
    items += [(im.path, im.hands) for im in load_labelled(root)]
    counts: Counter = Counter()
    with ThoroughHands() as det:
        for path, labels in items:
            dets = det.detect(np.asarray(Image.open(path).convert("RGB")))
            for k, d in enumerate(dets):
                rec = d.report["finger_order"]
                counts["hands"] += 1
                if rec is None:
                    counts["not attached"] += 1
                    continue
                first = rec.get("first_reading", rec)
                counts[first["body"]] += 1
                counts["re-read" if rec["action"].startswith("re-read") else rec["action"].split(":")[0]] += 1
                label = _label_order(d.keypoints, labels) if labels else ""
                print(
                    f"  {_set_name(path):12s} {path.stem[:36]:36s} {k} {d.handedness:5s} {first['body']:10s} "
                    f"cos {first['cosine']:+.2f} span {first['span_ratio']:.2f} vis {first['visibility']:.2f} "
                    f"| {rec['action']}" + (f" | label: {label}" if label else "")
                )
    print("counts:", dict(counts))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hard-dev", type=Path, default=default_hard_dev())
    ap.add_argument("--sweep", action="store_true", help="also sweep the hand-presence threshold")
    ap.add_argument("--per-image", action="store_true", help="per-image hits from the scorer")
    ap.add_argument("--out", type=Path, help="keep the JSON outputs here (default: a temporary folder)")
    ap.add_argument(
        "--calibrate-prior",
        type=int,
        metavar="N",
        help="only the tuning data: N synthetic renders and non-hand crops, figures of the verification rules",
    )
    ap.add_argument(
        "--calibrate-fallbacks",
        type=int,
        metavar="N",
        help="only the tuning data of the weak-palm floor and the re-crop give-up (N synthetic renders)",
    )
    ap.add_argument(
        "--calibrate-neighbours",
        type=int,
        metavar="N",
        help="only the tuning data of the close-up neighbour rule (N synthetic renders, their close-ups, hard_dev)",
    )
    ap.add_argument(
        "--threads",
        type=int,
        metavar="BURSTS",
        help="only 1 vs 2 interpreter threads: wall and CPU per model run, one process and two at once",
    )
    ap.add_argument(
        "--calibrate-scan",
        type=int,
        metavar="N",
        help="only the tuning data of the scan-window rule (N synthetic renders, their close-ups, hand-free images)",
    )
    ap.add_argument(
        "--calibrate-order",
        type=int,
        metavar="N",
        help="only the tuning data of the fallbacks' order (the images of --calibrate-scan N)",
    )
    ap.add_argument(
        "--side-by-side",
        nargs="+",
        choices=("close-ups", "one-hand"),
        help="only per-image time of the thorough detector, this tree against --baseline-src, on these image sets",
    )
    ap.add_argument("--baseline-src", type=Path, help="a reference tree's src folder (for --side-by-side)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of --side-by-side")
    ap.add_argument("--time-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--two-read", action="store_true", help="thorough detector with the two-read admission on")
    ap.add_argument("--forearm", action="store_true", help="thorough detector with the forearm proposals on")
    ap.add_argument(
        "--finger-order",
        action="store_true",
        help="the body finger-order check on every hand of the dev photos (hard_dev, photos_hamer, labelled)",
    )
    ap.add_argument(
        "--close-ups",
        type=int,
        metavar="N",
        help="only per-image time on N one-hand 256x256 close-ups, thorough and fast interleaved",
    )
    a = ap.parse_args()
    if a.time_child:
        _time_child(*a.time_child)
        return 0
    if a.side_by_side:
        if a.baseline_src is None:
            print("--side-by-side needs --baseline-src", file=sys.stderr)
            return 2
        side_by_side(a.side_by_side, a.baseline_src, a.rounds)
        return 0
    single_jobs = {  # options that run one job on their own and exit
        "close_ups": close_ups,
        "calibrate_prior": calibrate_prior,
        "calibrate_fallbacks": calibrate_fallbacks,
        "threads": interpreter_threads,
        "calibrate_scan": calibrate_scan,
        "calibrate_neighbours": calibrate_neighbours,
        "calibrate_order": calibrate_order,
        "finger_order": finger_order_check,
    }
    for option, job in single_jobs.items():
        if getattr(a, option):
            job(getattr(a, option))
            return 0
    if a.hard_dev is None or not (a.hard_dev / "annotations.json").is_file():
        print("hard_dev not found (../shared/devdata/hard_dev); pass --hard-dev", file=sys.stderr)
        return 2
    from handrecon.detect.mediapipe_hands import MediaPipeHands
    from handrecon.detect.multi_source import ThoroughHands, ThoroughSettings
    from handrecon.detect.verify import TWO_READ_THRESHOLD

    ann = json.loads((a.hard_dev / "annotations.json").read_text())
    images = [
        (Path(im["file"]).stem, np.asarray(Image.open(a.hard_dev / im["file"]).convert("RGB"))) for im in ann["images"]
    ]
    out = a.out or Path(tempfile.mkdtemp(prefix="bench_detection_"))
    settings = ThoroughSettings(two_read_threshold=TWO_READ_THRESHOLD if a.two_read else None, forearm=a.forearm)
    with ThoroughHands(settings=settings) as det:
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
