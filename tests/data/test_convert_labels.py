"""Label conversion to openhand parameters: the metric 3D term's values and gradient sign, a conversion of
known openhand hands, the cache round trip and the resume of finished chunks."""

from __future__ import annotations

import numpy as np
import torch

from handrecon.data.convert_labels import OpenhandConverter, OpenhandLabels, WithOpenhandLabels, convert_dataset
from handrecon.data.sample import HandLabel, Sample
from handrecon.fit.energy import metric_world_residuals
from handrecon.hand import HandModel


def test_metric_world_residuals_values_and_gradient():
    J = torch.zeros(2, 21, 3, dtype=torch.float64, requires_grad=True)
    W = torch.zeros(2, 21, 3, dtype=torch.float64)
    W[0, 3, 1] = 0.01
    W[1] = 5.0
    r = metric_world_residuals(J, W, torch.tensor([True, False]))
    assert r.shape == (2, 63)
    assert r[0, 3 * 3 + 1] == -0.01 and r[0].abs().sum() == 0.01  # model minus label, metres
    assert r[1].abs().sum() == 0  # hands without labels contribute nothing
    (0.5 * r.square().sum()).backward()
    assert J.grad[0, 3, 1] < 0  # descent moves the joint towards the label (+y)


def _hands(n: int) -> list[tuple[str, np.ndarray]]:
    g = torch.Generator().manual_seed(3)
    out = []
    for i in range(n):
        side = "right" if i % 2 == 0 else "left"
        m = HandModel(side=side, dtype=torch.float64)
        hp = (torch.rand(1, 15, 3, generator=g, dtype=torch.float64) - 0.5) * 0.5
        betas = torch.rand(1, m.num_betas, generator=g, dtype=torch.float64) - 0.5
        with torch.no_grad():
            J = m(
                global_orient=torch.tensor([[0.4, -0.3, 0.2]], dtype=torch.float64),
                hand_pose=hp,
                betas=betas,
                transl=torch.tensor([[0.02 * i, -0.01, 0.6]], dtype=torch.float64),
                skin_mesh=False,
            ).joints[0]
        out.append((side, J.numpy()))
    return out


class _Toy(torch.utils.data.Dataset):
    """Three samples: a right and a left hand with all joints, a hand with one joint unlabelled."""

    def __init__(self):
        h = _hands(3)
        valid = np.ones(21, bool)
        valid[7] = False
        self.samples = [
            Sample(np.zeros((8, 8, 3), np.uint8), np.eye(3), [HandLabel(h[0][0], joints_3d=h[0][1])]),
            Sample(np.zeros((8, 8, 3), np.uint8), np.eye(3), [HandLabel(h[1][0], joints_3d=h[1][1])]),
            Sample(
                np.zeros((8, 8, 3), np.uint8), np.eye(3), [HandLabel(h[2][0], joints_3d=h[2][1], joints_3d_valid=valid)]
            ),
        ]
        self.calls = 0

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        self.calls += 1
        return self.samples[i]


def test_convert_dataset_cache_and_resume(tmp_path):
    torch.set_num_threads(1)
    ds = _Toy()
    path = convert_dataset(ds, tmp_path, "toy", "train", chunk=2, converter=OpenhandConverter())
    labels = OpenhandLabels(path)
    assert len(labels) == 2 and labels.meta["hands"] == 2  # the partly labelled hand is not converted
    assert labels.data["joint_error"].max() < 0.004  # metres, openhand hands refitted
    assert labels.get(2, 0) is None
    # the cached parameters reproduce the target joints
    wrapped = WithOpenhandLabels(ds, labels)
    s = wrapped[1]
    h = s.hands[0]
    assert h.hand_model == "openhand" and h.side == "left"
    m = HandModel(side="left", dtype=torch.float64)
    with torch.no_grad():
        J = (
            m(
                global_orient=torch.as_tensor(h.global_orient[None]),
                hand_pose=torch.as_tensor(h.hand_pose[None]),
                betas=torch.as_tensor(h.betas[None]),
                transl=torch.as_tensor(h.transl[None]),
                bone_scales=torch.as_tensor(s.extras["bone_scales"][0][None]),
                skin_mesh=False,
            )
            .joints[0]
            .numpy()
        )
    assert np.linalg.norm(J - ds.samples[1].hands[0].joints_3d, axis=1).mean() < 0.004
    assert wrapped[2].hands[0].hand_model is None
    # resume: a leftover finished chunk is reused, not recomputed
    parts = path.with_suffix(".parts")
    parts.mkdir()
    np.savez(parts / "000000000.npz", **{k: v for k, v in labels.data.items() if k != "meta"})
    ds.calls = 0
    convert_dataset(ds, tmp_path, "toy", "train", chunk=2, converter=OpenhandConverter())
    assert ds.calls == 1  # only the second chunk's sample was read


def test_convert_labels_command_on_an_interhand_release(tmp_path):
    from handrecon.cli import main
    from handrecon.data import open_dataset

    from . import official_fixtures as fx

    fx.write_interhand(tmp_path / "ih")
    argv = ["interhand26m", str(tmp_path / "ih"), "--split", "test", "--out", str(tmp_path / "c"), "-q"]
    assert main(["data", "convert-labels", *argv]) == 0
    cache = tmp_path / "c" / "interhand26m_test_openhand.npz"
    ds = open_dataset("interhand26m", tmp_path / "ih", "test", openhand_labels=cache)
    s = ds[0]
    assert [h.hand_model for h in s.hands] == ["openhand", "openhand"]
    assert [h.hand_model for h in ds[1].hands] == ["openhand"]
    err = OpenhandLabels(cache).data["joint_error"]  # metres; the poses are random, not all anatomical
    assert err.mean() < 0.003 and err.max() < 0.006
