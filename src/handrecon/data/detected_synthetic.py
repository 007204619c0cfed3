"""Synthetic hands seen through the real detector: what the network initialiser of the fit trains on.

For each sample index the synthetic engine renders a single-hand image with exact labels, and the
pipeline's own landmark model (MediaPipe, read from the installed wheel) is run on the render. A record
keeps the detector's output for the labelled hand (2D keypoints, metric world landmarks, handedness) beside
the labels (parameters, 3D joints), so the input noise a network sees in training is the detector's real
error on hands whose truth is known, never a guessed noise model (and never a photo of ../shared/devdata).

Rendering and detecting cost ~0.25 s per sample on one core, so records are computed once per chunk of
`CHUNK` indices and cached (`~/.cache/handrecon/detected_synth/<key>/`, the key a hash of the synthetic
configuration, the detector and the MediaPipe version): the first read of a range generates it, later
reads are instant. `python -m handrecon.data.detected_synthetic --length N` fills the cache ahead.

As a dataset (`open_dataset("detected_synthetic", split=..., length=...)`) each record is one right hand in
the sample schema's tensor form: a hand the detector calls left is mirrored (x -> -x in the camera frame,
its keypoints about the principal point, its labels by `HandParams.mirrored`), and records whose detected
side differs from the true side are left out (their mirrored labels would be the other hand).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from handrecon.data.sample import HandLabel, Sample
from handrecon.fit.initialize import place_landmarks
from handrecon.hand.params import HandParams
from handrecon.synth.config import SynthConfig

CHUNK = 250
DETECTOR = "fast"  # the landmark model is the same in every detector; the fast front end finds single hands
# Disjoint index ranges of one seed per split (the synthetic benchmark uses other seeds altogether).
SPLIT_STARTS = {"train": 0, "val": 1_000_000_000}
DEFAULT_CONFIG = {"size": 224, "seed": 7, "ego_prob": 0.3, "two_hand_prob": 0.0}
FIELDS = ("index", "slot", "K", "det_keypoints", "det_world", "det_left", "det_score", "true_left", "global_orient",
          "hand_pose", "betas", "transl", "joints_3d", "joints_2d")


def cache_root() -> Path:
    return Path(os.environ.get("HANDRECON_CACHE", Path.home() / ".cache" / "handrecon")) / "detected_synth"


def cache_key(config: SynthConfig) -> str:
    from handrecon.detect.mediapipe_hands import import_mediapipe

    mediapipe = import_mediapipe()
    blob = json.dumps({"synth": asdict(config), "detector": DETECTOR, "mediapipe": mediapipe.__version__},
                      sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def _match(keypoints: list[np.ndarray], uv: np.ndarray, taken: set[int] = frozenset()) -> int | None:
    """The detection (not in `taken`) whose keypoints lie closest to the true 2D joints uv (21, 2), if
    within half the hand."""
    errs = [float(np.linalg.norm(k - uv, axis=1).mean()) if j not in taken else np.inf
            for j, k in enumerate(keypoints)]
    if not errs or not np.isfinite(min(errs)):
        return None
    k = int(np.argmin(errs))
    return k if errs[k] < 0.5 * float(np.ptp(uv, 0).max()) else None


def generate_chunk(config: SynthConfig, start: int, count: int, engine=None, detector=None) -> dict[str, np.ndarray]:
    """Records (arrays named `FIELDS`, one row per detected primary hand) of engine indices [start, start+count)."""
    from handrecon.detect.front_end import make_detector
    from handrecon.synth.engine import SynthEngine

    engine = engine or SynthEngine(config)
    detector = detector or make_detector(DETECTOR, 2, 0.5)
    rows: dict[str, list] = {k: [] for k in FIELDS}
    for i in range(start, start + count):
        s = engine.sample(i)
        dets, taken = None, set()
        for slot in range(len(s.side)):  # both hands of a two-hand scene: each a record (same index)
            if s.side[slot] < 0:
                continue
            dets = detector.detect(s.image) if dets is None else dets
            k = _match([d.keypoints for d in dets], s.joints2d[slot], taken)
            if k is None:
                continue
            taken.add(k)
            d = dets[k]
            for name, v in (("index", i), ("slot", slot), ("K", s.K), ("det_keypoints", d.keypoints),
                            ("det_world", d.world), ("det_left", d.handedness == "left"),
                            ("det_score", d.handedness_score), ("true_left", bool(s.side[slot] == 1)),
                            ("global_orient", s.global_orient[slot]), ("hand_pose", s.hand_pose[slot]),
                            ("betas", s.betas[slot]), ("transl", s.transl[slot]),
                            ("joints_3d", s.joints3d[slot]), ("joints_2d", s.joints2d[slot])):
                rows[name].append(np.asarray(v))
    if not rows["index"]:
        return {k: np.zeros((0,)) for k in FIELDS}
    return {k: np.stack(v) for k, v in rows.items()}


def load_records(config: SynthConfig, start: int, length: int) -> dict[str, np.ndarray]:
    """Records of engine indices [start, start+length), generating and caching missing chunks."""
    folder = cache_root() / cache_key(config)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"synth": asdict(config), "detector": DETECTOR}, default=str))
    parts, engine, detector = [], None, None
    first = start - start % CHUNK
    for c in range(first, start + length, CHUNK):
        path = folder / f"chunk_{c:010d}.npz"
        if not path.is_file():
            if engine is None:
                from handrecon.detect.front_end import make_detector
                from handrecon.synth.engine import SynthEngine

                engine, detector = SynthEngine(config), make_detector(DETECTOR, 2, 0.5)
            rec = generate_chunk(config, c, CHUNK, engine, detector)
            tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
            np.savez(tmp, **rec)
            os.replace(tmp, path)
        with np.load(path) as z:  # chunks written before two-hand scenes hold the primary hand only
            rec = {k: z[k] if k in z.files else np.zeros(len(z["index"]), np.int64) for k in FIELDS}
        if len(rec["index"]):
            keep = (rec["index"] >= start) & (rec["index"] < start + length)
            parts.append({k: v[keep] for k, v in rec.items()})
    if not parts:
        return {k: np.zeros((0,)) for k in FIELDS}
    return {k: np.concatenate([p[k] for p in parts]) for k in FIELDS}


def mirror_keypoints(uv: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixels of the mirror image (x -> -x in the camera frame): reflected about the principal point."""
    out = np.array(uv, dtype=np.float64, copy=True)
    out[..., 0] = 2 * K[0, 2] - out[..., 0]
    return out


class DetectedSyntheticDataset(torch.utils.data.Dataset):
    """Records as one-slot tensors of the sample schema plus `det_keypoints` (21, 2) pixels, `det_world`
    (21, 3) metres, wrist-relative, turned into the camera by PnP against the keypoints
    (`fit.initialize.place_landmarks`, as the pipeline does), `flipped` and `index`; the hand is always a right
    hand (see the module docstring)."""

    yields_tensors = True  # already in the batch form: the training crops are not made for it

    def __init__(self, records: dict[str, np.ndarray], roll_deg: float = 0.0) -> None:
        keep = records["det_left"].astype(bool) == records["true_left"].astype(bool) if len(records["index"]) else []
        self.records = {k: v[keep] for k, v in records.items()}
        self.roll_deg = float(roll_deg)
        self._items: dict[int, dict] = {}

    def __len__(self) -> int:
        return len(self.records["index"])

    def __getitem__(self, i: int) -> dict:
        if i not in self._items:
            self._items[i] = self._item(i)
        if not self.roll_deg:
            return self._items[i]
        angle = float(np.radians(np.random.uniform(-self.roll_deg, self.roll_deg)))
        return rolled(self._items[i], angle)

    def _item(self, i: int) -> dict:
        r = {k: v[i] for k, v in self.records.items()}
        K = r["K"].astype(np.float64)
        det_kp, det_world = r["det_keypoints"].astype(np.float64), r["det_world"].astype(np.float64)
        params = HandParams.from_numpy(r["global_orient"], r["hand_pose"], r["betas"], r["transl"])
        j3, uv = r["joints_3d"].astype(np.float64), r["joints_2d"].astype(np.float64)
        flipped = bool(r["det_left"])
        if flipped:
            det_kp, uv = mirror_keypoints(det_kp, K), mirror_keypoints(uv, K)
            det_world = det_world * np.array([-1.0, 1.0, 1.0])
            j3 = j3 * np.array([-1.0, 1.0, 1.0])
            params = params.mirrored()
        p = params.numpy()
        hand = HandLabel(side="right", keypoints_2d=np.concatenate([uv, np.ones((21, 1))], 1), joints_3d=j3,
                         hand_model="openhand", global_orient=p["global_orient"], hand_pose=p["hand_pose"],
                         betas=p["betas"], transl=p["transl"])
        t = Sample(np.zeros((1, 1, 3), np.uint8), K, [hand], None, "detected_synthetic", str(int(r["index"]))
                   ).to_tensors(max_hands=1)
        t.pop("mask")
        t.pop("has_mask")
        # the landmarks turned into the camera by PnP against the 2D keypoints, as the pipeline places them
        placed = place_landmarks(det_world, det_kp, K)
        t["det_keypoints"] = torch.from_numpy(det_kp.astype(np.float32))
        t["det_world"] = torch.from_numpy((placed - placed[:1]).astype(np.float32))
        t["flipped"] = torch.tensor(flipped)
        t["index"] = int(r["index"])
        return t


def rolled(item: dict, angle: float) -> dict:
    """A record turned by `angle` (radians) about the camera's optical axis: the same hand seen with the
    camera rolled, so every input and label turns with it (keypoints about the principal point in normalised
    coordinates; the landmark model's world landmarks are in camera-aligned axes, so they turn as well)."""
    from handrecon.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle

    c, s = np.cos(angle), np.sin(angle)
    Rz = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float32)
    K = item["K"]

    def turn_pixels(uv: torch.Tensor) -> torch.Tensor:
        n = torch.stack([(uv[..., 0] - K[0, 2]) / K[0, 0], (uv[..., 1] - K[1, 2]) / K[1, 1]], -1)
        n = n @ Rz[:2, :2].T
        return torch.stack([n[..., 0] * K[0, 0] + K[0, 2], n[..., 1] * K[1, 1] + K[1, 2]], -1)

    out = dict(item)
    out["det_keypoints"] = turn_pixels(item["det_keypoints"])
    out["det_world"] = item["det_world"] @ Rz.T
    kp = item["keypoints_2d"].clone()
    kp[..., :2] = turn_pixels(kp[..., :2])
    out["keypoints_2d"] = kp
    j = item["joints_3d"]
    out["joints_3d"] = j @ Rz.T
    go = item["global_orient"]
    out["global_orient"] = matrix_to_axis_angle(Rz @ axis_angle_to_matrix(go.double()).float()).to(go.dtype)
    wrist = j[:, 0]  # the root joint turns about the camera's origin: t' = Rz J0 - J0 + t
    out["transl"] = item["transl"] + wrist @ Rz.T - wrist
    return out


def open_detected_synthetic(root=None, split: str = "train", length: int = 1000, start: int | None = None,
                            roll_deg: float = 0.0, ranges: list | None = None, sources: list | None = None,
                            **synth_options) -> DetectedSyntheticDataset:
    """`open_dataset("detected_synthetic", split=, length=)`: records of `length` engine indices of the split
    from `start` (about 70 % of them give a record), or of several index ranges `ranges` [[start, length],
    ...] (a cache filled by several processes); `roll_deg`: random camera roll of up to that many degrees
    per read (augmentation); `synth_options` override `DEFAULT_CONFIG` (`SynthConfig` fields). `sources`:
    several configurations in one dataset, each a dict of `ranges` and its own `SynthConfig` overrides (on
    top of `synth_options`), e.g. single-hand and two-hand renders."""
    if split not in SPLIT_STARTS:
        raise ValueError(f"split must be one of {sorted(SPLIT_STARTS)}, got {split!r}")
    wanted = [({**synth_options}, ranges or [[start or 0, length]])] if sources is None else [
        ({**synth_options, **{k: v for k, v in dict(src).items() if k != "ranges"}}, dict(src)["ranges"])
        for src in sources]
    parts = [load_records(SynthConfig(**{**DEFAULT_CONFIG, **options}), SPLIT_STARTS[split] + int(a), int(n))
             for options, rngs in wanted for a, n in rngs]
    records = {k: np.concatenate([p[k] for p in parts if len(p["index"])]) for k in FIELDS} if any(
        len(p["index"]) for p in parts) else parts[0]
    return DetectedSyntheticDataset(records, roll_deg)


def main() -> None:
    ap = argparse.ArgumentParser(description="fill the cache of detector records on synthetic renders")
    ap.add_argument("--split", default="train", choices=sorted(SPLIT_STARTS))
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--length", type=int, default=CHUNK)
    ap.add_argument("--two-hand-prob", type=float, default=DEFAULT_CONFIG["two_hand_prob"],
                    help="share of two-hand scenes (each detected hand of one is a record)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    config = SynthConfig(**{**DEFAULT_CONFIG, "two_hand_prob": args.two_hand_prob})
    first = SPLIT_STARTS[args.split] + args.start
    for c in range(first - first % CHUNK, first + args.length, CHUNK):
        n = len(load_records(config, c, CHUNK)["index"])
        print(f"chunk {c}: {n} records", flush=True)


if __name__ == "__main__":
    main()
