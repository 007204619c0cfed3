"""FreiHAND's on-disk layout: the writer for synthetic sets (the reader, `handrecon.data.freihand`, serves
FreiHAND and them alike; this module moved here from `handrecon.synth.freihand`).

Layout (FreiHAND v2, https://lmb.informatik.uni-freiburg.de/projects/freihand/):

    ROOT/training/rgb/%08d.jpg        images
    ROOT/training/mask/%08d.jpg       hand masks (white hand on black)
    ROOT/training_xyz.json            N x 21 x 3 joints, camera frame, metres, OpenPose order
    ROOT/training_K.json              N x 3 x 3 intrinsics
    ROOT/training_mano.json           N x [[pose 48, shape 10, translation 3]] (global orient + 15 joints, axis-angle)
    ROOT/training_verts.json          N x V x 3 mesh vertices, camera frame
    ROOT/training_scale.json          N bone lengths (middle MCP to PIP), metres

FreiHAND holds more images than annotations (each capture exists in several colourings): image i uses
annotation i mod N, and the masks exist for the first N images. Synthetic sets add, for the same indices:

    ROOT/training/labels/%08d.png     exact object labels (0 background, 1 primary hand, 2 second hand,
                                      3 occluder, 4 primary forearm, 5 second forearm), lossless
    ROOT/synth_annotations.npz        per-sample arrays (2D joints, visibility, simulated detections and
                                      confidences, handedness, the second hand, ...), first axis = sample
    ROOT/synth_meta.json              configuration, hand model, legends of the codes, licences

The FreiHAND files describe the primary hand (the right hand of a two-hand sample); its mask is the union
of the hands. The writer stages everything in a hidden sibling folder and renames it into place at the
end, so an interrupted run leaves no partial set behind.
"""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from handrecon.data.freihand import META, SIDECAR
from handrecon.io.atomic import save_npz_atomic, write_json_atomic

SHARD_SIZE = 1000
FREIHAND_FILES = ("xyz", "K", "mano", "verts", "scale")


def middle_bone_length(xyz: np.ndarray) -> float:
    """FreiHAND's scale: length of the middle finger's proximal phalanx (OpenPose joints 9 -> 10)."""
    return float(np.linalg.norm(xyz[10] - xyz[9]))


def json_template(shape: tuple[int, ...], wrap: bool = False) -> str:
    """A %-format string writing an array of `shape` as nested JSON lists (8 significant digits); a
    prebuilt template formats a 1609 x 3 vertex array about twice as fast as json.dumps."""
    t = "%.8g"
    for n in reversed(shape):
        t = "[" + ", ".join([t] * n) + "]"
    return f"[{t}]" if wrap else t


def _jpeg(image: np.ndarray, quality: int) -> bytes:
    """JPEG without chroma subsampling: the sample's own compression artefacts are already in the image."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality), subsampling=0)
    return buf.getvalue()


def _png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


@dataclass
class EncodedSample:
    """A sample ready to be written: encoded files and its annotation rows (made in worker processes)."""

    index: int
    rgb: bytes
    mask: bytes
    labels: bytes
    rows: dict[str, np.ndarray]


def encode_sample(sample, jpeg_quality: int = 95) -> EncodedSample:
    """Encode a `SynthSample` for `FreiHANDWriter` (JPEG image and mask, PNG labels, annotation rows)."""
    mask = (sample.hand_mask * 255).astype(np.uint8)
    mano = np.concatenate(
        [sample.global_orient, sample.hand_pose.reshape(2, 45), sample.betas, sample.transl], -1
    ).astype(np.float32)
    rows = {
        "index": np.asarray(sample.index, np.int64),
        "xyz": sample.joints3d[0].astype(np.float32),
        "K": np.asarray(sample.K, np.float64),
        "mano": mano[0],
        "verts": sample.vertices[0].astype(np.float32),
        "scale": np.asarray(middle_bone_length(sample.joints3d[0]), np.float64),
        # sidecar
        "side": sample.side,
        "joints2d": sample.joints2d.astype(np.float32),
        "joints3d": sample.joints3d.astype(np.float32),
        "occlusion": sample.occlusion,
        "detections": sample.detections.astype(np.float32),
        "confidence": sample.confidence.astype(np.float32),
        "mano_params": mano,
        "angles": sample.angles.astype(np.float32),
        "category": sample.category,
        "self_penetration": sample.self_penetration.astype(np.float32),
        "rel_transl": sample.rel_transl.astype(np.float32),
        "two_hand_penetration": np.asarray(sample.two_hand_penetration, np.float32),
        "interaction": np.asarray(sample.interaction),
        "egocentric": np.asarray(sample.egocentric),
        "lighting": sample.lighting.astype(np.float32),
        "skin_tone": np.asarray(sample.skin_tone, np.float32),
        "background": np.asarray(sample.background),
        "occluders": np.asarray(sample.occluders, np.int8),
        "blur_px": np.asarray(np.hypot(sample.effects["defocus_px"], sample.effects["motion_px"] / 3), np.float32),
        "noise": np.asarray(sample.effects["noise"], np.float32),
        "jpeg_quality": np.asarray(sample.effects["jpeg_quality"], np.int16),
        "vertices_second": sample.vertices[1].astype(np.float32),
    }
    return EncodedSample(sample.index, _jpeg(sample.image, jpeg_quality), _jpeg(mask, 95), _png(sample.objects), rows)


SIDECAR_FIELDS = (
    "index", "side", "joints2d", "joints3d", "occlusion", "detections", "confidence", "mano_params", "angles",
    "category", "self_penetration", "rel_transl", "two_hand_penetration", "interaction", "egocentric", "lighting",
    "skin_tone", "background", "occluders", "blur_px", "noise", "jpeg_quality", "vertices_second",
)  # fmt: skip


class FreiHANDWriter:
    """Writes a synthetic set in FreiHAND's layout (see the module docstring), atomically as a whole.

    Use as a context manager; samples must be added in order, numbered 0..N-1 in the files.
    """

    def __init__(self, root: str | os.PathLike, split: str = "training", overwrite: bool = False) -> None:
        self.root = Path(root)
        self.split = split
        if self.root.exists() and any(self.root.iterdir()) and not overwrite:
            raise FileExistsError(f"{self.root}: output folder exists and is not empty (use overwrite)")
        self.overwrite = overwrite
        self.stage = self.root.with_name(f".{self.root.name}.partial-{os.getpid()}")
        if self.stage.exists():
            shutil.rmtree(self.stage)
        for sub in ("rgb", "mask", "labels"):
            (self.stage / split / sub).mkdir(parents=True)
        (self.stage / ".shards").mkdir()
        self.count = 0
        self._rows: list[dict[str, np.ndarray]] = []
        self._shards: list[Path] = []
        self._two_hands = False

    def __enter__(self) -> FreiHANDWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()

    def add(self, item: EncodedSample) -> None:
        name = f"{self.count:08d}"
        base = self.stage / self.split
        (base / "rgb" / f"{name}.jpg").write_bytes(item.rgb)
        (base / "mask" / f"{name}.jpg").write_bytes(item.mask)
        (base / "labels" / f"{name}.png").write_bytes(item.labels)
        self._two_hands |= bool(item.rows["side"][1] >= 0)
        self._rows.append(item.rows)
        self.count += 1
        if len(self._rows) >= SHARD_SIZE:
            self._flush()

    def _flush(self) -> None:
        if not self._rows:
            return
        path = self.stage / ".shards" / f"{len(self._shards):05d}.npz"
        np.savez(path, **{k: np.stack([r[k] for r in self._rows]) for k in self._rows[0]})
        self._shards.append(path)
        self._rows = []

    def _column(self, key: str) -> np.ndarray:
        parts = []
        for p in self._shards:
            with np.load(p, allow_pickle=False) as z:
                parts.append(z[key])
        return np.concatenate(parts) if parts else np.zeros(0)

    def _write_json_list(self, name: str, key: str, wrap: bool = False) -> None:
        """Stream a FreiHAND list file shard by shard (the vertex file is large), numbers with 8 significant
        digits (below a micrometre for coordinates in metres)."""
        path = self.stage / f"{self.split}_{name}.json"
        with open(path, "w", encoding="utf-8") as f:
            f.write("[")
            template = None
            for p in self._shards:
                with np.load(p, allow_pickle=False) as z:
                    data = z[key]
                if template is None:
                    template = json_template(data.shape[1:], wrap)
                    sep = ""
                for row in data:
                    f.write(sep + template % tuple(row.ravel().tolist()))
                    sep = ", "
            f.write("]")

    def close(self, meta: dict[str, Any]) -> Path:
        """Write the annotation files and move the finished set to `root`; returns `root`."""
        self._flush()
        for name, key, wrap in (("xyz", "xyz", False), ("K", "K", False), ("mano", "mano", True),
                                ("verts", "verts", False), ("scale", "scale", False)):  # fmt: skip
            self._write_json_list(name, key, wrap)
        fields = [k for k in SIDECAR_FIELDS if k != "vertices_second" or self._two_hands]
        save_npz_atomic(self.stage / SIDECAR, {k: self._column(k) for k in fields})
        write_json_atomic(self.stage / META, {**meta, "count": self.count, "split": self.split})
        shutil.rmtree(self.stage / ".shards")
        if self.root.exists():
            if self.overwrite:
                shutil.rmtree(self.root)
            else:
                self.root.rmdir()  # empty (checked at start)
        os.replace(self.stage, self.root)
        return self.root

    def abort(self) -> None:
        """Remove the staged files (nothing under `root` was touched)."""
        shutil.rmtree(self.stage, ignore_errors=True)
