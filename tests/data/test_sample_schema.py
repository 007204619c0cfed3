import numpy as np
import pytest
import torch

from handrecon.data.sample import MASK_ANY_HAND, HandLabel, Sample, collate_samples


def _sample(seed: int = 0, hands: int = 2, size: tuple[int, int] = (40, 30)) -> Sample:
    rng = np.random.default_rng(seed)
    W, H = size
    labels = []
    for k in range(hands):
        kp = np.concatenate([rng.uniform(0, W, (21, 2)), rng.uniform(0, 1, (21, 1))], 1)
        valid = np.ones(21, bool)
        valid[5:] = k == 0  # the second hand: root-style partial labels
        labels.append(
            HandLabel(
                side=("right", "left")[k],
                keypoints_2d=kp,
                joints_3d=rng.normal(size=(21, 3)) * 0.05 + [0, 0, 0.5],
                joints_3d_valid=valid,
                hand_model="mano" if k == 0 else None,
                global_orient=rng.normal(size=3) if k == 0 else None,
                hand_pose=rng.normal(size=(15, 3)) if k == 0 else None,
                betas=rng.normal(size=10) if k == 0 else None,
                transl=None,
                box=np.array([1.0, 2.0, 20.0, 25.0]) if k == 1 else None,
            )
        )
    mask = rng.integers(0, 3, (H, W)).astype(np.uint8)
    mask[0, 0] = MASK_ANY_HAND
    K = np.array([[50.0, 0, W / 2], [0, 50.0, H / 2], [0, 0, 1]])
    return Sample(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), K, labels, mask, "test", f"id{seed}")


def _assert_same(a: Sample, b: Sample) -> None:
    assert (a.image == b.image).all() and np.allclose(a.K, b.K)
    assert (a.mask is None) == (b.mask is None) and (a.mask is None or (a.mask == b.mask).all())
    assert a.source == b.source and a.sample_id == b.sample_id and len(a.hands) == len(b.hands)
    for x, y in zip(a.hands, b.hands, strict=True):
        assert x.side == y.side and x.hand_model == y.hand_model
        for name in ("keypoints_2d", "global_orient", "hand_pose", "betas", "transl", "box", "joints_3d_valid"):
            u, v = getattr(x, name), getattr(y, name)
            assert (u is None) == (v is None), name
            if u is not None:
                np.testing.assert_allclose(u, v, atol=1e-6, err_msg=name)
        m = x.joints_3d_valid
        np.testing.assert_allclose(x.joints_3d[m], y.joints_3d[m], atol=1e-6)


def test_tensor_round_trip_keeps_values_and_absences():
    s = _sample()
    t = s.to_tensors(max_hands=3)
    assert t["image"].shape == (3, 30, 40) and t["image"].dtype == torch.uint8
    assert t["hand_valid"].tolist() == [True, True, False] and t["side"].tolist() == [0, 1, -1]
    assert t["has_pose"].tolist() == [True, False, False] and t["has_box"].tolist() == [False, True, False]
    assert t["hand_model"].tolist() == [1, -1, -1]
    assert t["joints_3d_valid"][1].sum() == 5
    _assert_same(s, Sample.from_tensors(t))


def test_collate_with_dataloader_pads_hands():
    samples = [_sample(i, hands=1 + i % 2) for i in range(4)]
    loader = torch.utils.data.DataLoader(samples, batch_size=4, collate_fn=collate_samples)
    batch = next(iter(loader))
    assert batch["keypoints_2d"].shape == (4, 2, 21, 3) and batch["image"].shape == (4, 3, 30, 40)
    assert batch["hand_valid"].tolist() == [[True, False], [True, True]] * 2
    assert batch["sample_id"] == ["id0", "id1", "id2", "id3"]
    for i in range(4):
        _assert_same(samples[i], Sample.from_tensors(batch, i))


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="side"):
        HandLabel(side="both")
    with pytest.raises(ValueError, match="hand_model"):
        HandLabel(side="right", global_orient=np.zeros(3), hand_pose=np.zeros((15, 3)))
    with pytest.raises(ValueError, match="max_hands"):
        _sample(hands=2).to_tensors(max_hands=1)
    with pytest.raises(ValueError, match="share a size"):
        collate_samples([_sample(0), _sample(1, size=(32, 30))])


def test_a_sample_without_intrinsics_gets_the_nominal_camera_flagged_unknown():
    s = Sample(np.zeros((30, 40, 3), np.uint8), None)
    assert not s.K_known and s.K[0, 2] == 20 and s.K[1, 2] == 15
    t = s.to_tensors()
    assert not bool(t["has_K"]) and not Sample.from_tensors(t).K_known


def test_modules_import_first_in_a_fresh_process():
    """No import cycle between data/ and synth/, whichever is imported first (one process, the project's
    modules forgotten before each import)."""
    import subprocess
    import sys

    code = """
import importlib, sys
for m in ("handrecon.data.freihand_writer", "handrecon.data.synthetic", "handrecon.data.shards", "handrecon.synth",
          "handrecon.synth.freihand", "handrecon.data"):
    for k in [k for k in sys.modules if k.startswith("handrecon")]:
        del sys.modules[k]
    importlib.import_module(m)
"""
    subprocess.run([sys.executable, "-c", code], check=True)
