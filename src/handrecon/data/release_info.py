"""What a dataset release holds, for `handrecon data info NAME ROOT`: its splits, the number of samples of
each (None when the split's files are absent) and which labels the split carries."""

from __future__ import annotations

import importlib
import os

from handrecon.data.release import SplitInfo

# Readers that describe their own release (splits and labels); other names are counted split by split.
RELEASE_CLASSES: dict[str, str] = {
    "ho3d": "handrecon.data.ho3d:HO3DDataset",
    "dexycb": "handrecon.data.dexycb:DexYCBDataset",
    "interhand26m": "handrecon.data.interhand:InterHand26MDataset",
    "arctic": "handrecon.data.arctic:ARCTICDataset",
    "assemblyhands": "handrecon.data.assemblyhands:AssemblyHandsDataset",
    "pseudo": "handrecon.data.pseudo:PseudoLabelDataset",
}
OTHER_SPLITS: dict[str, tuple[str, ...]] = {"freihand": ("training", "evaluation")}
OTHER_LABELS: dict[str, list[str]] = {
    "freihand": ["rgb", "K", "side (right)", "keypoints_2d", "joints_3d", "mano", "mask (training)"],
}


def describe_release(name: str, root: str | os.PathLike, **options) -> list[SplitInfo]:
    if name in RELEASE_CLASSES:
        module, _, cls = RELEASE_CLASSES[name].partition(":")
        return getattr(importlib.import_module(module), cls).describe(root, **options)
    from handrecon.data.registry import open_dataset

    infos = []
    for split in OTHER_SPLITS.get(name, ("train", "val", "test")):
        try:
            n: int | None = len(open_dataset(name, root, split, **options))
        except (ValueError, FileNotFoundError, OSError):
            n = None
        infos.append(SplitInfo(split, n, list(OTHER_LABELS.get(name, []))))
    return infos


def format_release(name: str, root: str | os.PathLike, infos: list[SplitInfo]) -> str:
    lines = [f"{name} at {root}"]
    for i in infos:
        count = "absent" if i.samples is None else f"{i.samples} samples"
        labels = ", ".join(i.labels) if i.labels else "-"
        note = f" ({i.note})" if i.note else ""
        lines.append(f"  {i.name}: {count}{note}")
        if i.samples is not None:
            lines.append(f"    labels: {labels}")
    return "\n".join(lines)
