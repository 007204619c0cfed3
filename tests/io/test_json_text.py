"""`dumps_indented` writes the characters `json.dumps(to_jsonable(obj), indent=n)` writes."""

import dataclasses
import enum
import json
import math
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from handrecon.io.atomic import to_jsonable, write_json_atomic
from handrecon.io.json_text import dumps_indented


def _reference(obj, indent: int = 2) -> str:
    return json.dumps(to_jsonable(obj), indent=indent, ensure_ascii=False, allow_nan=False)


@dataclasses.dataclass
class _Record:
    name: str
    values: tuple


class _Level(enum.IntEnum):
    HIGH = 3


class _Text(str):
    pass


class _Ratio(float):
    pass


def _documents():
    rng = np.random.default_rng(0)
    return [
        {},
        [],
        {"a": [], "b": {}, "c": [[]], "d": [{}]},
        [1.0, 2.5, -0.0, 1e-07, 1e21, 123456789.123, 5e-324],
        [1.0, math.nan, 2.0],
        [math.inf, -math.inf],
        [1, 2.0, True, None, "x"],
        {"joints": np.round(rng.normal(size=(21, 3)), 6).tolist(), "sigma": rng.random(21).tolist()},
        {"array": rng.normal(size=(4, 3)), "ints": np.arange(5, dtype=np.int32), "mask": np.array([True, False])},
        {"nan_array": np.array([[np.nan, 1.0], [np.inf, 2.0]]), "tensor": torch.tensor([[0.5, float("nan")]])},
        {"scalars": [np.float64(0.1), np.float32(0.25), np.int64(7), np.bool_(True)]},
        {7: "int key", 2.5: "float key", True: "bool key", None: "none key"},
        {"ünïcödé ✓": "naïve \"quoted\" \\ back\nslash\t\u0001", "emoji": "✋"},
        {"record": _Record("r", (1, 2.0)), "path": Path("/tmp/x.png"), "tuple": (1.5, 2.5)},
        {"ordered": OrderedDict([("z", 1), ("a", [0.1, 0.2])])},
        {"enum": _Level.HIGH, "text": _Text("sub"), "ratio": _Ratio(0.3), "bad_ratio": _Ratio("nan")},
        {"deep": [[[[1.0, 2.0], [3.0]], []], {"k": [{"x": None}]}]},
    ]


@pytest.mark.parametrize("index", range(len(_documents())))
@pytest.mark.parametrize("indent", [2, 0, 4])
def test_same_text_as_json_dumps(index, indent):
    doc = _documents()[index]
    assert dumps_indented(doc, indent) == _reference(doc, indent)


def test_a_frame_document_and_the_file_are_unchanged(tmp_path):
    """A result-shaped document (rounded coordinates, reports, nested dicts), and write_json_atomic's file."""
    rng = np.random.default_rng(1)
    hand = {
        "joints_3d_m": np.round(rng.normal(size=(21, 3)), 6).tolist(),
        "joints_2d_px": np.round(rng.normal(size=(21, 2)) * 300, 3).tolist(),
        "params": {"hand_pose": np.round(rng.normal(size=(15, 3)), 6).tolist(), "bone_scales": None},
        "plausibility": {"plausible": True, "penetration_depth_mm": None, "max_joint_limit_violation_deg": 1.25},
        "detector": {"world_landmarks_m": np.round(rng.normal(size=(21, 3)), 5).tolist(), "score": np.float32(0.9)},
        "fit": {"data": 0.001234, "prior": 12.5},
    }
    doc = {"schema_version": 1, "camera": {"K": np.eye(3)}, "hands": [hand, hand], "frame": 3, "timestamp_s": None}
    assert dumps_indented(doc) == _reference(doc)
    path = write_json_atomic(tmp_path / "f.json", doc)
    assert path.read_text() == _reference(doc) + "\n"
    assert write_json_atomic(tmp_path / "g.json", doc, indent=None).read_text() == json.dumps(to_jsonable(doc)) + "\n"


def test_unsupported_values_raise():
    with pytest.raises(TypeError):
        dumps_indented({"a": [1.0, object()]})
