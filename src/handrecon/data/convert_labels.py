"""Openhand parameters for datasets labelled with 3D joints (and MANO), fitted once and cached, so that
openhand models can train on HO3D, DexYCB, InterHand2.6M, ARCTIC, AssemblyHands or FreiHAND.

Each hand with all 21 joints labelled (or with MANO parameters and the user's MANO files, whose joints
are then the target) is fitted with the project's fitter (`handrecon.fit`): inverse kinematics onto the
joints, then the knowledge-prior refinement with the joints as its metric 3D term (`world_metric`) and
their projections as its 2D term. The projections use one virtual camera (focal 1000 px, principal point
0) so that hands of any image share one batch. Penetration handling is off: labels are converted, not
corrected. Fitting to MANO vertices is not done: the fitter has no vertex term between two topologies.

Cache: OUT/<name>_<split>_openhand.npz with, per converted hand, `sample_index`, `slot` (the hand's
position in the sample), `side` (0 right, 1 left), `global_orient` (3,), `hand_pose` (15, 3) axis-angle,
`betas`, `transl`, `bone_scales` (16,), `joint_error` (mean distance of the fitted joints to the target,
metres); `meta` is a JSON string naming the source and the settings. The work is done in chunks written
to OUT/<name>_<split>_openhand.parts/ so that an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

CACHE_SUFFIX = "_openhand.npz"
# The virtual camera of the 2D term (the labels stay at their own depth: VIRTUAL_DEPTH 0). The metric 3D
# term (`FitWeights.world_metric`) holds the joints: without it the fit trades the hand's size for its
# depth (the detector's 3D term is scale-free), which put real InterHand2.6M hands 10-135 mm off.
VIRTUAL_DEPTH = 0.0
VIRTUAL_K = torch.tensor([[1e3, 0.0, 0.0], [0.0, 1e3, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
FIELDS = ("sample_index", "slot", "side", "global_orient", "hand_pose", "betas", "transl", "bone_scales", "joint_error")


def cache_path(out: Path, name: str, split: str) -> Path:
    return Path(out) / f"{name}_{split}{CACHE_SUFFIX}"


@dataclass
class Target:
    sample_index: int
    slot: int
    side: str
    joints: np.ndarray  # (21, 3) camera frame, metres, OpenPose order


def hand_targets(sample, index: int, mano=None) -> list[Target]:
    """The hands of a sample that can be converted: all 21 joints labelled, or MANO parameters whose
    joints the user's MANO files give (`mano`: a `MANOConverter` with `mano_dir`)."""
    out = []
    raws = sample.extras.get("mano_raw") or []
    for k, h in enumerate(sample.hands):
        if h.joints_3d is not None and (h.joints_3d_valid is None or h.joints_3d_valid.all()):
            out.append(Target(index, k, h.side, np.asarray(h.joints_3d, dtype=np.float64)))
            continue
        raw = raws[k] if k < len(raws) else None
        if raw is not None and mano is not None and mano.mano_dir is not None:
            from handrecon.data.mano_labels import RawMANO

            out.append(Target(index, k, h.side, mano.joints(RawMANO(**raw))))
    return out


class OpenhandConverter:
    """Fits openhand parameters to batches of target joints with the project's fitter."""

    def __init__(self, iterations: int = 8, metric_weight: float = 1e6) -> None:
        from handrecon.fit.energy import FitWeights
        from handrecon.fit.refine import FitSettings, HandFitter
        from handrecon.hand import HandModel

        self.models = {s: HandModel(side=s, dtype=torch.float64) for s in ("right", "left")}
        weights = FitWeights(world_metric=metric_weight)
        self.fitter = HandFitter(self.models, weights, FitSettings(iterations=iterations, test_penetration=False))
        self.iterations = iterations

    def fit(self, targets: list[Target]) -> dict[str, np.ndarray]:
        from handrecon.fit.initialize import inverse_kinematics
        from handrecon.fit.refine import HandObservation
        from handrecon.geometry.camera import project_points

        if not targets:
            return {k: np.zeros((0,)) for k in FIELDS}
        obs, init = [], []
        for t in targets:
            J = torch.as_tensor(t.joints, dtype=torch.float64) + torch.tensor(
                [0.0, 0.0, VIRTUAL_DEPTH], dtype=torch.float64
            )
            init.append(inverse_kinematics(self.models[t.side], J[None]))
            obs.append(
                HandObservation(
                    side=t.side,
                    keypoints=project_points(J[None], VIRTUAL_K)[0],
                    sigma=torch.ones(21, dtype=torch.float64),
                    world=J,
                )
            )
        results = self.fitter.fit(obs, VIRTUAL_K, init)
        rows: dict[str, list] = {k: [] for k in FIELDS}
        for t, r in zip(targets, results, strict=True):
            p = r.params.to_axis_angle()
            with torch.no_grad():
                J = self.models[t.side](**r.params.model_inputs(), skin_mesh=False).joints[0].numpy()
            J = J - np.array([0.0, 0.0, VIRTUAL_DEPTH])
            rows["sample_index"].append(t.sample_index)
            rows["slot"].append(t.slot)
            rows["side"].append(0 if t.side == "right" else 1)
            rows["global_orient"].append(p.global_orient[0].numpy())
            rows["hand_pose"].append(p.hand_pose[0].numpy())
            rows["betas"].append(p.betas[0].numpy())
            rows["transl"].append(p.transl[0].numpy() - np.array([0.0, 0.0, VIRTUAL_DEPTH]))
            rows["bone_scales"].append(p.bone_scales[0].numpy() if p.bone_scales is not None else np.ones(16))
            rows["joint_error"].append(float(np.linalg.norm(J - t.joints, axis=1).mean()))
        return {k: np.asarray(v) for k, v in rows.items()}


def convert_dataset(
    dataset,
    out: Path,
    name: str,
    split: str,
    mano=None,
    chunk: int = 256,
    batch: int = 32,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    converter: OpenhandConverter | None = None,
) -> Path:
    """Fits every convertible hand of `dataset` (the first `limit` samples) and writes the cache; returns
    its path. Finished chunks are reused (resume)."""
    from handrecon.io import save_npz_atomic

    out = Path(out)
    final = cache_path(out, name, split)
    parts = final.with_suffix(".parts")
    parts.mkdir(parents=True, exist_ok=True)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    converter = converter or OpenhandConverter()
    files = []
    for start in range(0, n, chunk):
        part = parts / f"{start:09d}.npz"
        files.append(part)
        if part.is_file():
            continue
        targets: list[Target] = []
        for i in range(start, min(start + chunk, n)):
            targets += hand_targets(dataset[i], i, mano)
        pieces = [converter.fit(targets[b : b + batch]) for b in range(0, len(targets), batch)] or [converter.fit([])]
        save_npz_atomic(part, _concat(pieces))
        if progress:
            progress(min(start + chunk, n), n)
    merged = _concat([dict(np.load(f)) for f in files])
    meta = {
        "dataset": name,
        "split": split,
        "samples": n,
        "hands": int(len(merged["sample_index"])),
        "model": "openhand",
        "fit": {"iterations": converter.iterations, "targets": "3D joints (all 21 labelled) or MANO joints"},
    }
    merged["meta"] = np.asarray(json.dumps(meta))
    save_npz_atomic(final, merged)
    for f in files:
        f.unlink()
    parts.rmdir()
    return final


def _concat(pieces: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    pieces = [p for p in pieces if len(p["sample_index"])] or pieces[:1]
    if not pieces or not len(pieces[0]["sample_index"]):
        return {
            "sample_index": np.zeros(0, np.int64), "slot": np.zeros(0, np.int64), "side": np.zeros(0, np.int64),
            "global_orient": np.zeros((0, 3)), "hand_pose": np.zeros((0, 15, 3)), "betas": np.zeros((0, 10)),
            "transl": np.zeros((0, 3)), "bone_scales": np.zeros((0, 16)), "joint_error": np.zeros(0),
        }  # fmt: skip
    return {k: np.concatenate([p[k] for p in pieces]) for k in FIELDS}


class OpenhandLabels:
    """A cache written by `convert_dataset`, looked up by (sample index, slot)."""

    def __init__(self, path: str | Path) -> None:
        from handrecon.io.errors import InputError

        try:
            with np.load(path) as z:
                self.data = {k: z[k] for k in z.files}
        except FileNotFoundError:
            raise InputError(path, "openhand label cache not found (run handrecon data convert-labels)") from None
        missing = [k for k in FIELDS if k not in self.data]
        if missing:
            raise InputError(path, f"not an openhand label cache (missing {missing})")
        self.meta = json.loads(str(self.data["meta"])) if "meta" in self.data else {}
        self.index = {
            (int(i), int(s)): r
            for r, (i, s) in enumerate(zip(self.data["sample_index"], self.data["slot"], strict=True))
        }

    def __len__(self) -> int:
        return len(self.index)

    def get(self, sample_index: int, slot: int) -> dict[str, np.ndarray] | None:
        r = self.index.get((sample_index, slot))
        if r is None:
            return None
        return {k: self.data[k][r] for k in ("global_orient", "hand_pose", "betas", "transl")}


class WithOpenhandLabels(torch.utils.data.Dataset):
    """A dataset whose hands carry the cached openhand parameters (hand_model "openhand") in place of the
    dataset's own; hands without a converted label keep no parameters. `extras["bone_scales"]` holds the
    per-hand segment scales of the fit (None where not converted)."""

    def __init__(self, dataset, labels: OpenhandLabels) -> None:
        self.dataset = dataset
        self.labels = labels

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        import dataclasses

        s = self.dataset[index]
        index = index % len(self)
        hands, scales = [], []
        for k, h in enumerate(s.hands):
            p = self.labels.get(index, k)
            r = self.labels.index.get((index, k))
            fields = {"hand_model": None, "global_orient": None, "hand_pose": None, "betas": None, "transl": None}
            if p is not None:
                fields = {"hand_model": "openhand", **p}
            hands.append(dataclasses.replace(h, **fields))
            scales.append(None if r is None else self.labels.data["bone_scales"][r])
        s.hands = hands
        s.extras = {**s.extras, "bone_scales": scales}
        return s
