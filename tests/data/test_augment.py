"""Crops keep the camera, flips mirror the hand, and augmentation depends on (seed, epoch, index) only."""

import numpy as np
import pytest
import torch

from handrecon.data.augment import (
    AugmentConfig,
    AugmentedDataset,
    CropConfig,
    PhotometricConfig,
    crop_matrix,
    flip_sample,
    random_crop,
    reorder_hands,
    warp_sample,
)
from handrecon.data.sample import HandLabel, Sample, collate_samples
from handrecon.hand import HandModel
from handrecon.hand.params import HandParams


def _project(K: np.ndarray, x: np.ndarray) -> np.ndarray:
    p = x @ K.T
    return p[:, :2] / p[:, 2:3]


@pytest.fixture(scope="module")
def models():
    return {s: HandModel(side=s, dtype=torch.float64) for s in ("right", "left")}


def _posed(models, side: str, seed: int, offset) -> tuple[HandLabel, np.ndarray]:
    g = torch.Generator().manual_seed(seed)
    p = HandParams(
        global_orient=torch.randn(1, 3, generator=g, dtype=torch.float64),
        hand_pose=0.3 * torch.randn(1, 15, 3, generator=g, dtype=torch.float64),
        betas=torch.randn(1, 10, generator=g, dtype=torch.float64),
        transl=torch.tensor([offset], dtype=torch.float64),
    )
    out = models[side](**p.model_inputs())
    n = p.numpy(0)
    label = HandLabel(side=side, joints_3d=out.joints[0].numpy(), hand_model="openhand", **{k: n[k] for k in
                      ("global_orient", "hand_pose", "betas", "transl")})  # fmt: skip
    return label, out.vertices[0].numpy()


@pytest.fixture(scope="module")
def scene(models):
    """A 320 x 240 image with a right and a left hand whose 2D keypoints are their joints projected with K."""
    K = np.array([[300.0, 0.0, 161.3], [0.0, 310.0, 118.7], [0.0, 0.0, 1.0]])
    hands = []
    for side, seed, off in (("right", 1, [-0.06, 0.0, 0.45]), ("left", 2, [0.07, 0.02, 0.5])):
        h, _ = _posed(models, side, seed, off)
        h.keypoints_2d = np.concatenate([_project(K, h.joints_3d), np.ones((21, 1))], 1)
        hands.append(h)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    mask = np.zeros((240, 320), np.uint8)
    mask[100:140, 40:120], mask[90:150, 200:260] = 1, 2
    return Sample(image, K, hands, mask, "test", "0")


def _check_camera(s: Sample, tol: float = 1e-4) -> None:
    for h in s.hands:
        np.testing.assert_allclose(_project(s.K, h.joints_3d), h.keypoints_2d[:, :2], atol=tol, rtol=0)


@pytest.mark.parametrize("rotation", [0.0, 0.7, -2.5])
@pytest.mark.parametrize("flip", [False, True])
def test_crop_intrinsics_project_the_joints_onto_the_cropped_keypoints(scene, rotation, flip):
    A = crop_matrix(np.array([90.0, 120.0]), 97.3, 224, rotation)
    c = warp_sample(scene, A, (224, 224), flip)
    _check_camera(c)
    assert c.image.shape == (224, 224, 3) and c.mask.shape == (224, 224)
    if rotation == 0.0:
        assert c.K[1, 0] == 0 and c.K[0, 1] == 0 and c.K[0, 0] > 0  # still an ordinary K
    # the crop's pixel map moves the image content with the keypoints: the source centre lands mid-crop
    centre = np.array([90.0, 120.0, 1.0])
    p = (A @ centre)[:2]
    np.testing.assert_allclose(p, [112.0, 112.0])


def test_crop_samples_the_image_where_the_map_says(scene):
    A = crop_matrix(np.array([150.0, 100.0]), 64.0, 64)  # scale 1, no rotation: columns 118..181, rows 68..131
    c = warp_sample(scene, A, (64, 64))
    np.testing.assert_array_equal(c.image, scene.image[68:132, 118:182])
    np.testing.assert_array_equal(c.mask, scene.mask[68:132, 118:182])


def test_flip_mirrors_hands_and_twice_is_identity(scene, models):
    f = flip_sample(scene)
    assert [h.side for h in f.hands] == ["left", "right"]
    _check_camera(f)
    np.testing.assert_array_equal(f.image, scene.image[:, ::-1])
    assert f.K[0, 0] > 0
    for h, src in zip(f.hands, scene.hands, strict=True):
        # the mirrored parameters on the other side's model give the mirrored hand's joints
        p = h.params
        out = models[h.side](**p.model_inputs())
        np.testing.assert_allclose(out.joints[0].numpy(), h.joints_3d, atol=1e-9)
        np.testing.assert_allclose(h.joints_3d, src.joints_3d * [-1, 1, 1])
    ff = flip_sample(f)
    np.testing.assert_array_equal(ff.image, scene.image)
    np.testing.assert_array_equal(ff.mask, scene.mask)
    np.testing.assert_allclose(ff.K, scene.K)
    for a, b in zip(ff.hands, scene.hands, strict=True):
        assert a.side == b.side
        for name in ("keypoints_2d", "joints_3d", "global_orient", "hand_pose", "transl"):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-12)


def test_random_crops_keep_the_camera_and_centre_the_chosen_hand(scene):
    cfg = AugmentConfig.training(128).crop
    for seed in range(12):
        c = random_crop(scene, cfg, np.random.default_rng(seed))
        _check_camera(c)
        kp = c.hands[0].keypoints_2d[:, :2].mean(0)
        assert np.linalg.norm(kp - 64) < 64  # the centred hand sits near the crop's middle



def test_reordering_hands_renumbers_the_mask(scene):
    r = reorder_hands(scene, [1, 0])
    assert [h.side for h in r.hands] == ["left", "right"]
    np.testing.assert_array_equal(r.hand_mask(0), scene.hand_mask(1))
    np.testing.assert_array_equal(r.hand_mask(1), scene.hand_mask(0))


def test_photometric_changes_leave_the_labels(scene):
    aug = AugmentConfig(CropConfig(size=96), PhotometricConfig(brightness=0.3, contrast=0.3, saturation=0.3,
                        colour=0.1, blur_prob=1.0, occluder_prob=1.0))  # fmt: skip
    ds = AugmentedDataset([scene], aug, seed=3)
    a = ds[0]
    _check_camera(a)
    plain = AugmentedDataset([scene], AugmentConfig(CropConfig(size=96)), seed=3)[0]
    for x, y in zip(a.hands, plain.hands, strict=True):
        np.testing.assert_array_equal(x.keypoints_2d, y.keypoints_2d)
    assert not np.array_equal(a.image, plain.image)
    assert (a.mask > 0).sum() <= (plain.mask > 0).sum()  # occluders only remove hand pixels


def test_augmentation_is_identical_in_any_worker(scene):
    ds = AugmentedDataset([scene] * 6, AugmentConfig.training(64), seed=7)
    direct = collate_samples([ds[i] for i in range(6)])
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate_samples)
    batches = list(loader)
    for k in ("image", "K", "keypoints_2d", "joints_3d", "side", "mask", "global_orient"):
        torch.testing.assert_close(torch.cat([b[k] for b in batches]), direct[k], rtol=0, atol=0)
    assert not torch.equal(direct["image"][0], direct["image"][1])  # different draws per index
    ds.set_epoch(1)
    assert not np.array_equal(ds[0].image, AugmentedDataset([scene], AugmentConfig.training(64), seed=7)[0].image)
