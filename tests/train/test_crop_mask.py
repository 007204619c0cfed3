"""The hand mask carried through the training crop: same crop and flip as the image, area-resampled to the
mask's resolution, flagged where unknown; the silhouette term sees it in the crop's camera; a WildHands run
with the mask weight on trains on it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import handrecon.synth  # noqa: F401 - imported before data.synthetic (the two import each other)
from handrecon.data.sample import MASK_ANY_HAND
from handrecon.data.synthetic import SyntheticHandDataset
from handrecon.hand.model import HandModel
from handrecon.nn.prediction import HandPrediction
from handrecon.synth.config import SynthConfig
from handrecon.train.data import HandCropDataset, collate, first_hand_pixels
from handrecon.train.paper_losses import mask_term


@pytest.fixture(scope="module")
def samples():
    """Two synthetic samples: index 0 (a left hand: the crop is mirrored) and a right hand."""
    ds = SyntheticHandDataset(SynthConfig(size=128, occluder_prob=0.0), length=8, start=0)
    left = ds[0]
    right = next(s for s in (ds[i] for i in range(1, 8)) if s.hands[0].side == "right")
    assert left.hands[0].side == "left"
    return [left, right]


def painted(sample):
    """The sample with its image replaced by its first hand's mask (white on black): image and mask must
    then agree pixel for pixel after cropping, wherever the crop puts them."""
    img = np.repeat(first_hand_pixels(sample)[..., None].astype(np.uint8) * 255, 3, axis=2)
    return dataclasses.replace(sample, image=img)


@pytest.mark.parametrize("which", [0, 1])
def test_cropped_mask_lines_up_with_the_cropped_image(samples, which):
    base = [painted(samples[which])]
    crops = HandCropDataset(base, size=64, scale=1.6, jitter=0.15, seed=3, mask_size=64)
    t = crops[0]
    assert bool(t["flipped"]) == (which == 0) and bool(t["has_hand_mask"])
    hand_in_image = t["image"].float().mean(0) > 127
    hand_in_mask = t["hand_mask"] > 0.5
    iou = (hand_in_image & hand_in_mask).sum() / (hand_in_image | hand_in_mask).sum()
    assert hand_in_mask.sum() > 100 and iou > 0.95, iou
    # A mask shifted by 2 pixels no longer lines up: the check can fail.
    shifted = torch.roll(hand_in_mask, 2, dims=1)
    assert (hand_in_image & shifted).sum() / (hand_in_image | shifted).sum() < iou - 0.05


def test_mask_is_area_resampled_to_its_resolution(samples):
    full = HandCropDataset(samples[:1], size=64, mask_size=64)[0]["hand_mask"]
    small = HandCropDataset(samples[:1], size=64, mask_size=16)[0]["hand_mask"]
    assert small.shape == (16, 16) and small.min() + 1 > 0 and small.max() <= 1
    expected = full.reshape(16, 4, 16, 4).mean((1, 3))
    assert torch.allclose(small, expected, atol=1e-6)
    assert ((small > 0) & (small < 1)).any()  # boundary cells hold the hand's share, not 0/1


def test_unknown_masks_are_flagged(samples):
    no_mask = dataclasses.replace(samples[1], mask=None)
    union = dataclasses.replace(samples[1], mask=np.where(samples[1].mask > 0, MASK_ANY_HAND, 0).astype(np.uint8))
    two_hands = dataclasses.replace(union, hands=[*union.hands, union.hands[0]])
    batch = collate([HandCropDataset([s], size=32, mask_size=16)[0] for s in (no_mask, union, two_hands)])
    assert batch["has_hand_mask"].tolist() == [False, True, False]  # a one-hand union mask is that hand
    assert batch["hand_mask"].shape == (3, 16, 16) and batch["hand_mask"][0].sum() == 0
    assert "hand_mask" not in HandCropDataset([samples[1]], size=32, mask_size=0)[0]
    assert HandCropDataset([samples[1]], size=32).mask_size == 32  # the default never exceeds the crop
    with pytest.raises(ValueError, match="mask_size"):
        HandCropDataset([samples[1]], size=32, mask_size=64)


def _posed_truth(batch: dict, shift: float = 0.0) -> HandPrediction:
    hm = HandModel(side="right")
    out = hm(global_orient=batch["global_orient"][:, 0], hand_pose=batch["hand_pose"][:, 0],
             betas=batch["betas"][:, 0], transl=batch["transl"][:, 0])
    assert (out.joints - batch["joints_3d"][:, 0]).norm(dim=-1).max() < 1e-4  # the labels' own mesh
    off = torch.tensor([shift, 0.0, 0.0])
    return HandPrediction(global_orient=None, hand_pose=None, betas=None, camera=None, transl=None,
                          vertices=out.vertices + off, joints=out.joints + off, keypoints_2d=None), hm


def test_silhouette_term_sees_the_mask_in_the_crop_camera(samples):
    # The labels' own mesh, rendered with the crop's intrinsics rescaled to the mask's resolution (32 for a
    # 64-pixel crop), covers the cropped mask (the visible hand; a left hand mirrored), and the term grows when
    # the mesh moves by 2 cm.
    from handrecon.geometry.camera import PerspectiveCamera
    from handrecon.render.soft import soft_silhouette

    batch = collate([HandCropDataset([s], size=64, mask_size=32)[0] for s in samples])
    truth, hm = _posed_truth(batch)
    K = batch["K"].clone()
    K[:, :2] *= 0.5
    covered = soft_silhouette(truth.vertices, hm.faces, PerspectiveCamera(K, 32, 32)) > 0.5
    mask = batch["hand_mask"] > 0.5
    recall = (covered & mask).flatten(1).sum(1) / mask.flatten(1).sum(1)
    assert (recall > 0.97).all(), recall
    moved, _ = _posed_truth(batch, 0.02)
    at_truth = mask_term(truth, batch, crop_size=64, hand_model=hm)
    assert at_truth < 0.8 * mask_term(moved, batch, crop_size=64, hand_model=hm)


def test_wildhands_trains_with_the_mask_term(tmp_path):
    from lightning.pytorch.callbacks import Callback

    from handrecon.train.config import load_recipe
    from handrecon.train.run import fit

    class Seen(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self.has_mask = batch["has_hand_mask"].tolist()
            self.mask = float(trainer.callback_metrics["train/mask"])

    overrides = ["data.train={name: tiny_synthetic, split: train, length: 4}",
                 "data.val=[{name: tiny_synthetic, split: val, length: 2}]", "data.batch_size=2",
                 "data.mask_size=28", "loss.weights.mask=10.0", "trainer.fast_dev_run=1", "trainer.logger=false",
                 "trainer.enable_progress_bar=false", f"output_dir={tmp_path}"]
    seen = Seen()
    trainer = fit(load_recipe("wildhands-cpu-small", overrides), extra_callbacks=[seen])
    assert trainer.state.finished
    assert seen.has_mask == [True, True] and 0 < seen.mask < 1  # L1 of a soft silhouette against the mask
