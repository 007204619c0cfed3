import math

import pytest
import torch

from handrecon.hand.keypoints import OPENPOSE_PARENTS
from handrecon.priors import self_supervised as ss


def _hand(seed: int = 0, batch: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 21, 2, generator=g, dtype=torch.float64) * 200


def test_joint_location_zero_at_optimum_and_hand_value():
    det = _hand()
    conf = torch.full((2, 21), 0.8, dtype=torch.float64)
    assert ss.joint_location_loss(det, det, conf).item() == 0.0
    pro = det.clone()
    pro[:, 3] += torch.tensor([0.5, 3.0], dtype=torch.float64)  # SmoothL1: 0.5 * 0.25 + (3 - 0.5)
    assert ss.joint_location_loss(pro, det, conf).item() == pytest.approx(0.8 * 2.625 / 21)


def test_joint_location_confidence_and_gradient_sign():
    det = _hand(batch=1)
    pro = det.clone()
    pro[0, 5, 0] += 40.0
    pro[0, 7, 1] += 2.0
    pro.requires_grad_(True)
    conf = torch.ones(1, 21, 1, dtype=torch.float64)
    conf[0, 5] = 0.0
    loss = ss.joint_location_loss(pro, det, conf)
    assert loss.item() == pytest.approx(1.5 / 21)  # only joint 7 counts: |2| - 0.5
    loss.backward()
    assert torch.equal(pro.grad[0, 5], torch.zeros(2, dtype=torch.float64))
    assert pro.grad[0, 7, 1] > 0


def test_bone_orientation_zero_for_same_directions():
    det = _hand()
    conf = torch.rand(2, 21, dtype=torch.float64)
    assert ss.bone_orientation_loss(det, det, conf).item() == pytest.approx(0.0, abs=1e-12)
    # orientation only: a scaled and shifted skeleton has the same bone directions
    assert ss.bone_orientation_loss(2.0 * det + 7.0, det, conf).item() == pytest.approx(0.0, abs=1e-12)


def test_bone_orientation_hand_value_with_confidence_product():
    det = _hand(batch=1)
    tip, parent = 8, OPENPOSE_PARENTS[8]
    bone = det[0, tip] - det[0, parent]
    pro = det.clone()
    pro[0, tip] = det[0, parent] + torch.stack([-bone[1], bone[0]])  # rotated by 90 degrees: ||dnu||^2 = 2
    conf = torch.ones(1, 21, dtype=torch.float64)
    conf[0, tip], conf[0, parent] = 0.5, 0.6
    assert ss.bone_orientation_loss(pro, det, conf).item() == pytest.approx(0.5 * 0.6 * 2.0 / 20, rel=1e-9)
    conf[0, tip] = 0.0
    assert ss.bone_orientation_loss(pro, det, conf).item() == pytest.approx(0.0, abs=1e-15)


def test_geometric_alignment_combines_eq3_and_eq4():
    det, pro = _hand(1), _hand(2)
    conf = torch.rand(2, 21, dtype=torch.float64)
    expected = ss.joint_location_loss(pro, det, conf) + 0.3 * ss.bone_orientation_loss(pro, det, conf)
    assert torch.allclose(ss.geometric_alignment_loss(pro, det, conf, orientation_weight=0.3), expected)


def test_pixel_loss_hand_value_masked_and_confidence_scaled():
    img = torch.zeros(1, 3, 4, 4)
    ren = torch.zeros(1, 3, 4, 4)
    sil = torch.zeros(1, 4, 4)
    sil[0, 1, 1] = sil[0, 2, 2] = 1.0
    ren[0, :, 1, 1] = torch.tensor([0.3, 0.4, 0.0])  # per-pixel L2 distance 0.5
    ren[0, :, 0, 0] = 1.0  # outside the silhouette: ignored
    conf = torch.full((1, 21), 2.0 / 21)  # con_sum = 2
    assert ss.pixel_loss(ren, img, sil, conf).item() == pytest.approx(2.0 * 0.5 / 2)
    assert ss.pixel_loss(img, img, sil, conf).item() == 0.0
    assert ss.pixel_loss(ren, img, sil, torch.zeros(1, 21)).item() == 0.0


def test_pixel_loss_empty_silhouette_is_zero_with_finite_gradient():
    ren = torch.rand(1, 3, 4, 4, requires_grad=True)
    loss = ss.pixel_loss(ren, torch.rand(1, 3, 4, 4), torch.zeros(1, 4, 4), torch.ones(1, 21))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(ren.grad).all()


def test_ssim_loss_hand_value_for_constant_images():
    a, b = 0.2, 0.6
    img = torch.full((1, 3, 12, 12), a, dtype=torch.float64)
    ren = torch.full((1, 3, 12, 12), b, dtype=torch.float64)
    c1 = 0.01**2  # constant images: no variance, SSIM = luminance term only
    expected = 1 - (2 * a * b + c1) / (a * a + b * b + c1)
    assert ss.ssim_loss(ren, img, torch.ones(1, 12, 12)).item() == pytest.approx(expected, rel=1e-9)


def test_ssim_loss_zero_on_silhouette_match_and_positive_otherwise():
    g = torch.Generator().manual_seed(3)
    img = torch.rand(2, 3, 16, 16, generator=g)
    sil = (torch.rand(2, 16, 16, generator=g) > 0.5).float()
    assert ss.ssim_loss(img * sil[:, None], img, sil).item() == pytest.approx(0.0, abs=1e-6)
    assert ss.ssim_loss(torch.rand(2, 3, 16, 16, generator=g), img, sil).item() > 0.1


def test_photometric_combines_eq6_and_eq7():
    g = torch.Generator().manual_seed(4)
    img, ren = torch.rand(2, 3, 16, 16, generator=g), torch.rand(2, 3, 16, 16, generator=g)
    sil, conf = torch.ones(2, 1, 16, 16), torch.rand(2, 21, generator=g)
    expected = ss.pixel_loss(ren, img, sil, conf) + 2.0 * ss.ssim_loss(ren, img, sil)
    assert torch.allclose(ss.photometric_loss(ren, img, sil, conf, ssim_weight=2.0), expected)


def test_texture_regularizer_penalises_only_outliers():
    colours = torch.full((1, 100, 3), 0.5, dtype=torch.float64)
    assert ss.texture_regularizer(colours).item() == 0.0
    colours[0, 0, 0] = 1.0  # mean 0.505, std ~0.05: only this value is beyond 2 std
    colours.requires_grad_(True)
    loss = ss.texture_regularizer(colours)
    assert loss.item() == pytest.approx(0.495 / 300, rel=1e-9)
    loss.backward()
    assert colours.grad[0, 0, 0] > 0
    assert torch.count_nonzero(colours.grad) == 1


def test_scale_regularizer_hand_value_and_gradient():
    joints = torch.zeros(1, 21, 3, dtype=torch.float64)
    mcp, pip = ss.SCALE_REFERENCE_BONE
    joints[0, pip, 1] = 0.03
    joints.requires_grad_(True)
    loss = ss.scale_regularizer(joints)
    assert loss.item() == pytest.approx(0.03 - 0.0282)
    loss.backward()
    assert joints.grad[0, pip, 1] > 0  # bone too long: moving the PIP further out increases the loss
    at_ref = joints.detach().clone()
    at_ref[0, pip, 1] = ss.SCALE_REFERENCE_LENGTH
    assert ss.scale_regularizer(at_ref).item() == pytest.approx(0.0, abs=1e-15)
    assert ss.SCALE_REFERENCE_BONE == (9, 10)


def test_branch_and_consistency_losses():
    det, est, pro = _hand(1), _hand(2), _hand(3)
    conf = torch.rand(2, 21, dtype=torch.float64)
    assert torch.equal(ss.keypoint_branch_loss(est, det, conf), ss.joint_location_loss(est, det, conf))
    assert ss.consistency_loss(pro, pro).item() == 0.0
    shifted = pro.clone()
    shifted[:, 0, 0] += 3.0
    assert ss.consistency_loss(shifted, pro).item() == pytest.approx(2.5 / 21)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="confidence"):
        ss.joint_location_loss(_hand(), _hand(), torch.ones(2, 20))
    with pytest.raises(ValueError, match="mismatch"):
        ss.consistency_loss(_hand(), _hand()[:, :20])
    assert math.isfinite(ss.joint_location_loss(_hand().float(), _hand().float(), torch.ones(2, 21)).item())
