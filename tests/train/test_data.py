"""Hand crops (intrinsics, mirrored left hands) and the resumable, rank-sharded sampler."""

from __future__ import annotations

import numpy as np
import torch

from handrecon.data.sample import HandLabel, Sample
from handrecon.geometry.camera import project_points
from handrecon.hand.model import HandModel
from handrecon.train.data import EpochPermutationSampler, crop_hand


def _sample(side: str) -> Sample:
    """A hand of the named side in front of a 320x240 camera, labels made by the hand model itself."""
    g = torch.Generator().manual_seed(3)
    model = HandModel(side=side)
    go, hp = 0.4 * torch.randn(1, 3, generator=g), 0.3 * torch.randn(1, 15, 3, generator=g)
    betas, transl = torch.randn(1, 10, generator=g), torch.tensor([[0.03, -0.02, 0.45]])
    j = model(global_orient=go, hand_pose=hp, betas=betas, transl=transl).joints[0].double()
    K = torch.tensor([[300.0, 0, 170], [0, 300, 115], [0, 0, 1]], dtype=torch.float64)
    kp = project_points(j[None], K)[0]
    image = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    hand = HandLabel(side, np.concatenate([kp.numpy(), np.ones((21, 1))], 1), j.numpy(), hand_model="openhand",
                     global_orient=go[0].numpy(), hand_pose=hp[0].numpy(), betas=betas[0].numpy(),
                     transl=transl[0].numpy())  # fmt: skip
    return Sample(image, K.numpy(), [hand])


def test_crop_keeps_the_labels_consistent_for_right_and_mirrored_left_hands():
    right_model = HandModel(side="right")
    for side in ("right", "left"):
        crop, A, flipped = crop_hand(_sample(side), size=128, scale=1.5)
        assert flipped == (side == "left") and crop.image.shape == (128, 128, 3)
        h = crop.hands[0]
        assert h.side == "right"
        # The crop's K projects the (possibly mirrored) 3D joints onto the crop's keypoints.
        uv = project_points(torch.as_tensor(h.joints_3d)[None], torch.as_tensor(crop.K))[0].numpy()
        assert np.abs(uv - h.keypoints_2d[:, :2]).max() < 1e-6
        assert (h.keypoints_2d[:, :2] > 0).all() and (h.keypoints_2d[:, :2] < 128).all()
        # The (mirrored) parameters pose the right-hand model onto the (mirrored) joints.
        p = h.params
        j = right_model(**{k: v.float() for k, v in p.model_inputs().items() if v is not None}).joints[0]
        assert np.abs(j.double().numpy() - h.joints_3d).max() < 1e-5


def test_sampler_is_a_function_of_seed_and_epoch_and_resumes_mid_epoch():
    s = EpochPermutationSampler(10, seed=1)
    s.set_epoch(2)
    order = list(s)
    assert sorted(order) == list(range(10)) and order != list(range(10))
    again = EpochPermutationSampler(10, seed=1)
    again.set_epoch(2)
    again.start = 4
    assert list(again) == order[4:]
    assert list(again) == order  # the offset is used once
    s.set_epoch(3)
    assert list(s) != order


def test_sampler_splits_the_epoch_over_ranks(monkeypatch):
    parts = []
    for rank in range(3):
        s = EpochPermutationSampler(10, seed=0)
        monkeypatch.setattr(s, "_rank", lambda r=rank: (r, 3))
        parts.append(list(s))
    assert all(len(p) == 4 for p in parts)
    assert set().union(*parts) == set(range(10))
