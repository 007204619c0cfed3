"""Atomic writes: complete files or none, also when the writer fails or is interrupted."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

import handrecon.io.atomic as atomic
from handrecon.io import (
    atomic_open,
    atomic_path,
    atomic_paths,
    save_npz_atomic,
    save_png_atomic,
    write_bytes_atomic,
    write_json_atomic,
)


def _names(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_bytes_and_replace(tmp_path):
    path = tmp_path / "out.bin"
    write_bytes_atomic(path, b"first")
    write_bytes_atomic(path, b"second")
    assert path.read_bytes() == b"second" and _names(tmp_path) == ["out.bin"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_inside_the_block_leaves_nothing(tmp_path, error):
    path = tmp_path / "out.json"
    with pytest.raises(error), atomic_open(path, "w") as f:
        f.write('{"half": ')
        raise error()
    assert _names(tmp_path) == []
    path.write_text("old")
    with pytest.raises(error), atomic_path(path) as tmp:
        tmp.write_text("new, but unfinished")
        raise error()
    assert path.read_text() == "old" and _names(tmp_path) == ["out.json"]


def test_temporary_file_is_hidden_in_the_same_directory_with_the_suffix(tmp_path):
    with atomic_path(tmp_path / "clip.mp4") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".clip.mp4.") and tmp.suffix == ".mp4"
        assert not (tmp_path / "clip.mp4").exists()
        tmp.write_bytes(b"x")
    assert _names(tmp_path) == ["clip.mp4"]


def test_failed_rename_removes_the_temporary_file(tmp_path, monkeypatch):
    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_bytes_atomic(tmp_path / "out.bin", b"data")
    assert _names(tmp_path) == []


def test_group_of_files_is_all_or_nothing(tmp_path):
    targets = [tmp_path / "a.png", tmp_path / "a.mtl", tmp_path / "a.obj"]
    with pytest.raises(ValueError), atomic_paths(*targets) as temps:
        temps[0].write_bytes(b"png")
        temps[1].write_bytes(b"mtl")
        raise ValueError("obj failed")
    assert _names(tmp_path) == []
    with atomic_paths(*targets) as temps:
        for t, content in zip(temps, (b"png", b"mtl", b"obj"), strict=True):
            t.write_bytes(content)
    assert [t.read_bytes() for t in targets] == [b"png", b"mtl", b"obj"] and len(_names(tmp_path)) == 3


def test_permissions_follow_the_umask(tmp_path):
    mask = os.umask(0o022)
    try:
        path = write_bytes_atomic(tmp_path / "out.bin", b"x")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_json_with_numpy_torch_and_nan(tmp_path):
    obj = {
        "joints": np.arange(6, dtype=np.float32).reshape(2, 3),
        "K": torch.eye(3, dtype=torch.float64),
        "score": np.float32(0.5),
        "count": np.int64(3),
        "flag": np.bool_(True),
        "missing": float("nan"),
        "nested": [{"inf": np.array([1.0, np.inf])}],
        "path": tmp_path / "x.png",
        "mask": np.array([True, False]),
        "ids": np.arange(3, dtype=np.uint8),
        "nan_tensor": torch.tensor([[float("nan"), 2.0]]),
    }
    path = write_json_atomic(tmp_path / "out.json", obj)
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    back = json.loads(text)
    assert back["joints"] == [[0, 1, 2], [3, 4, 5]] and back["K"][1] == [0, 1, 0]
    assert back["score"] == 0.5 and back["count"] == 3 and back["flag"] is True
    assert back["missing"] is None and back["nested"][0]["inf"] == [1.0, None]
    assert back["path"] == str(tmp_path / "x.png")
    assert back["mask"] == [True, False] and back["ids"] == [0, 1, 2] and back["nan_tensor"] == [[None, 2.0]]


def test_json_with_unsupported_object_writes_nothing(tmp_path):
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "out.json", {"a": object()})
    assert _names(tmp_path) == []


@pytest.mark.parametrize(
    "image",
    [
        np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8),
        np.random.default_rng(1).integers(0, 256, (20, 30, 4), dtype=np.uint8),
        np.random.default_rng(2).integers(0, 256, (20, 30), dtype=np.uint8),
        np.random.default_rng(3).integers(0, 65536, (20, 30), dtype=np.uint16),
    ],
)
def test_png_round_trip(tmp_path, image):
    path = save_png_atomic(tmp_path / "img.png", image)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), image)


def test_png_from_float_and_tensor(tmp_path):
    img = np.linspace(0, 1, 20 * 30 * 3).reshape(20, 30, 3)
    path = save_png_atomic(tmp_path / "f.png", torch.from_numpy(img))
    np.testing.assert_array_equal(np.asarray(Image.open(path)), np.round(img * 255).astype(np.uint8))
    with pytest.raises(ValueError):
        save_png_atomic(tmp_path / "bad.png", img * 2)
    with pytest.raises(ValueError):
        save_png_atomic(tmp_path / "bad.png", np.zeros((20, 30, 2), np.uint8))
    assert _names(tmp_path) == ["f.png"]


def test_npz_round_trip(tmp_path):
    arrays = {"verts": torch.rand(5, 3), "faces": np.array([[0, 1, 2]], np.int32), "name": np.array("right")}
    path = save_npz_atomic(tmp_path / "out.npz", arrays)
    assert path.name == "out.npz" and _names(tmp_path) == ["out.npz"]  # no ".npz.npz"
    with np.load(path, allow_pickle=False) as data:
        np.testing.assert_array_equal(data["verts"], arrays["verts"].numpy())
        np.testing.assert_array_equal(data["faces"], arrays["faces"])
        assert str(data["name"]) == "right"
    with pytest.raises(ValueError, match="object"):
        save_npz_atomic(tmp_path / "obj.npz", {"x": np.array([{"a": 1}], dtype=object)})
    assert _names(tmp_path) == ["out.npz"]


def test_npz_is_deflated_at_the_fast_level_and_reads_like_numpys(tmp_path):
    import zipfile

    rng = np.random.default_rng(0)
    arrays = {"a": rng.normal(size=(778, 3)), "b": np.arange(4614, dtype=np.int32).reshape(-1, 3),
              "c": np.zeros((0, 2)), "d": np.asfortranarray(rng.normal(size=(4, 5)).astype(np.float32))}  # fmt: skip
    path = save_npz_atomic(tmp_path / "fast.npz", arrays)
    np.savez_compressed(tmp_path / "numpy.npz", **arrays)
    with np.load(path, allow_pickle=False) as ours, np.load(tmp_path / "numpy.npz", allow_pickle=False) as ref:
        assert sorted(ours.files) == sorted(ref.files) == sorted(arrays)
        for k in arrays:
            assert ours[k].dtype == ref[k].dtype and ours[k].shape == ref[k].shape
            np.testing.assert_array_equal(ours[k], ref[k])
    with zipfile.ZipFile(path) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}
    assert path.stat().st_size < 1.05 * (tmp_path / "numpy.npz").stat().st_size


def test_png_encoding_is_lossless_at_every_level_and_encoded_pngs_pass_through():
    import io as _io
    import zlib

    import numpy as np
    from PIL import Image

    from handrecon.io import PNGData, png_bytes

    rng = np.random.default_rng(0)
    img = (rng.random((40, 30, 3)) * 255).astype(np.uint8)
    img[:20] = img[:20] // 64 * 64  # runs and repeats, so that each setting finds other matches
    fast, small = png_bytes(img), png_bytes(img, compress_level=9, strategy=zlib.Z_DEFAULT_STRATEGY)
    plain = png_bytes(img, strategy=zlib.Z_DEFAULT_STRATEGY)
    assert isinstance(fast, PNGData) and len({fast, small, plain}) == 3  # other zlib settings, other bytes ...
    for data in (fast, small, plain):  # ... the same pixels
        assert np.array_equal(np.asarray(Image.open(_io.BytesIO(data))), img)
    assert png_bytes(fast) is fast  # encoded once, reused by every writer it is given to
