"""Generating a synthetic set on disk with several worker processes.

Workers each build one engine (one thread each: the work per sample is many small tensor operations,
which scale across processes, not threads), render and encode chunks of consecutive indices, and return
the encoded files; the parent writes them in index order. Samples depend only on (seed, index), so the
output is the same whatever the number of workers.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import torch

from handrecon.data.freihand_writer import EncodedSample, FreiHANDWriter, encode_sample
from handrecon.synth.appearance.backgrounds import PHOTO_SOURCES, available_photos
from handrecon.synth.compose import BACKGROUND, OCCLUDER, PRIMARY, PRIMARY_ARM, SECOND, SECOND_ARM
from handrecon.synth.config import SynthConfig
from handrecon.synth.engine import SynthEngine
from handrecon.synth.joint_occlusion import Occlusion
from handrecon.synth.scene.hand_shapes import POSE_CATEGORIES

CHUNK = 8
# What each array of synth_annotations.npz holds (first axis: sample; hand slot 0 = primary, 1 = second).
SIDECAR_DOC: dict[str, str] = {
    "index": "(N,) sample index (seed + index determine the sample)",
    "side": "(N, 2) int8 handedness per slot: 0 right, 1 left, -1 absent",
    "joints2d": "(N, 2, 21, 2) projected joints, pixels",
    "joints3d": "(N, 2, 21, 3) joints, camera frame, metres",
    "occlusion": "(N, 2, 21) int8: 0 visible, 1 hidden by its own hand or forearm, 2 by the other hand or an "
    "occluder, 3 outside the image, -1 absent (visible = occlusion == 0)",
    "detections": "(N, 2, 21, 2) simulated detector keypoints, pixels",
    "confidence": "(N, 2, 21) simulated detector confidences in [0, 1]",
    "mano_params": "(N, 2, 61) global_orient 3, hand_pose 45, betas 10, transl 3 per slot",
    "angles": "(N, 2, 15, 3) anatomical bend, splay, twist (radians) of the 15 joints",
    "category": "(N, 2) index into pose_categories",
    "self_penetration": "(N, 2) metres, deepest self-penetration of the accepted pose",
    "rel_transl": "(N, 3) second hand's wrist minus the primary's (camera frame), NaN for one hand",
    "two_hand_penetration": "(N,) metres, deepest vertex of either hand inside the other",
    "interaction": "(N,) two-hand splice template",
    "egocentric": "(N,) bool",
    "lighting": "(N, 11) key light in the 11-value convention of handrecon.render.shading",
    "skin_tone": "(N,) 0 (Fitzpatrick I) .. 1 (Fitzpatrick VI)",
    "background": "(N,) background kind",
    "occluders": "(N,) number of occluding objects",
    "blur_px": "(N,) defocus / motion blur of the image, pixels",
    "noise": "(N,) sensor noise standard deviation (0..1 units)",
    "jpeg_quality": "(N,) JPEG quality of the simulated compression, 0 for none",
    "vertices_second": "(N, V, 3) second hand's vertices (two-hand sets only)",
}
_ENGINE: SynthEngine | None = None
_QUALITY = 95


def _init_worker(config: SynthConfig, jpeg_quality: int) -> None:
    global _ENGINE, _QUALITY
    torch.set_num_threads(1)
    _ENGINE = SynthEngine(config)
    _QUALITY = jpeg_quality


def _run_chunk(indices: list[int]) -> list[EncodedSample]:
    assert _ENGINE is not None
    return [encode_sample(_ENGINE.sample(i), _QUALITY) for i in indices]


def encoded_samples(
    config: SynthConfig, indices: list[int], workers: int = 1, jpeg_quality: int = 95
) -> Iterator[EncodedSample]:
    """Encoded samples for `indices`, in order, made by `workers` processes (0 or 1: in this process)."""
    chunks = [indices[i : i + CHUNK] for i in range(0, len(indices), CHUNK)]
    if workers <= 1:
        _init_worker(config, jpeg_quality)
        for c in chunks:
            yield from _run_chunk(c)
        return
    ctx = mp.get_context("fork" if platform.system() == "Linux" else "spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(config, jpeg_quality)) as pool:
        for result in pool.imap(_run_chunk, chunks):
            yield from result


def set_metadata(config: SynthConfig, start: int) -> dict:
    """What a reader needs to interpret a set: configuration, legends of the codes, sources and licences."""
    return {
        "generator": "handrecon.synth",
        "config": asdict(config),
        "first_index": start,
        "model": config.model,
        "keypoint_order": "openpose",
        "units": {"3d": "metres, camera frame (OpenCV axes)", "2d": "pixels, pixel (x, y) covers [x, x+1) x [y, y+1)"},
        "mano_layout": "global_orient 3 + hand_pose 45 (axis-angle, no mean pose) + betas 10 + transl 3",
        "side_codes": {"0": "right", "1": "left", "-1": "absent"},
        "label_codes": {
            str(BACKGROUND): "background",
            str(PRIMARY): "primary hand",
            str(SECOND): "second hand",
            str(OCCLUDER): "occluder",
            str(PRIMARY_ARM): "primary forearm",
            str(SECOND_ARM): "second forearm",
        },
        "occlusion_codes": {str(int(o)): o.name.lower() for o in Occlusion},
        "pose_categories": list(POSE_CATEGORIES),
        "sidecar_fields": SIDECAR_DOC,
        "photographs": {name: PHOTO_SOURCES[name] for name in available_photos()},
        "assets": {"openhand_nails.png": "MakeHuman fingernail mask (CC0 1.0), resampled into the hand's UV layout"},
    }


def generate_set(
    config: SynthConfig,
    n: int,
    out: str | os.PathLike,
    workers: int = 2,
    start: int = 0,
    jpeg_quality: int = 95,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> tuple[Path, float]:
    """Write samples start..start+n-1 to `out` in FreiHAND's layout; returns the folder and the seconds spent."""
    t0 = time.perf_counter()
    with FreiHANDWriter(out, overwrite=overwrite) as writer:
        for item in encoded_samples(config, list(range(start, start + n)), workers, jpeg_quality):
            writer.add(item)
            if progress is not None:
                progress(1)
        root = writer.close(set_metadata(config, start))
    return root, time.perf_counter() - t0
