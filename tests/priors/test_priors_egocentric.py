import math

import pytest
import torch

from handrecon.geometry.camera import intrinsics
from handrecon.priors import egocentric as eg
from handrecon.priors.reduction import weighted_sum


def test_parameter_and_camera_losses():
    pose = torch.eye(3).expand(2, 16, 3, 3).clone()
    assert eg.parameter_loss(pose, pose).item() == 0.0
    pred = torch.zeros(2, 10)
    target = torch.zeros(2, 10)
    pred[0, 0] = 2.0  # 4 / 10 for sample 0, 0 for sample 1
    assert eg.parameter_loss(pred, target).item() == pytest.approx(0.2)
    assert eg.parameter_loss(pred, target, valid=torch.tensor([0.0, 1.0])).item() == 0.0
    cam = torch.tensor([[1.0, 0.1, -0.2]], requires_grad=True)
    loss = eg.camera_loss(cam, torch.tensor([[0.5, 0.1, -0.2]]))
    assert loss.item() == pytest.approx(0.25 / 3)
    loss.backward()
    assert cam.grad[0, 0] > 0


def test_keypoint_losses_valid_and_root_relative():
    g = torch.Generator().manual_seed(0)
    j = torch.randn(2, 21, 3, generator=g)
    assert eg.keypoint_3d_loss(j, j).item() == 0.0
    shifted = j + torch.tensor([0.1, 0.2, 0.3])
    assert eg.keypoint_3d_loss(shifted, j).item() == pytest.approx((0.01 + 0.04 + 0.09) / 3, rel=1e-5)
    assert eg.keypoint_3d_loss(shifted, j, root_index=0).item() == pytest.approx(0.0, abs=1e-10)
    uv = torch.zeros(1, 21, 2)
    off = uv.clone()
    off[0, 4] = torch.tensor([3.0, 4.0])
    valid = torch.ones(1, 21)
    assert eg.keypoint_2d_loss(off, uv, valid).item() == pytest.approx(25.0 / 42)
    valid[0, 4] = 0.0
    assert eg.keypoint_2d_loss(off, uv, valid).item() == 0.0


def test_keypoints_2d_from_weak_camera_hand_value():
    K = intrinsics(100.0, 100.0, 50.0, 50.0)
    uv = eg.keypoints_2d_from_weak_camera(torch.zeros(1, 1, 3), torch.tensor([2.0]), torch.tensor([[0.1, 0.2]]), K)
    # translation (0.1, 0.2, 100 / 2 = 50): u = 100 * 0.1 / 50 + 50, v = 100 * 0.2 / 50 + 50
    assert torch.allclose(uv, torch.tensor([[[50.2, 50.4]]]))


def test_mask_loss_is_mean_absolute_difference():
    m = torch.zeros(1, 4, 4)
    pred = m.clone()
    pred[0, 0, :2] = torch.tensor([1.0, 0.5])
    assert eg.mask_loss(pred, m).item() == pytest.approx(1.5 / 16)
    assert eg.mask_loss(m, m).item() == 0.0
    assert eg.mask_loss(pred, m, valid=torch.zeros(1)).item() == 0.0


def test_grasp_loss_cross_entropy():
    logits = torch.zeros(2, eg.NUM_GRASP_CLASSES, requires_grad=True)
    labels = torch.tensor([3, 5])
    loss = eg.grasp_loss(logits, labels)
    assert loss.item() == pytest.approx(math.log(8.0))
    loss.backward()
    assert logits.grad[0, 3] < 0 and logits.grad[0, 0] > 0  # raise the true class, lower the others
    soft = torch.nn.functional.one_hot(labels, 8).float()
    assert eg.grasp_loss(logits.detach(), soft).item() == pytest.approx(math.log(8.0))
    assert eg.grasp_loss(logits.detach(), labels, valid=torch.tensor([0.0, 0.0])).item() == 0.0


def test_weight_tables_and_total():
    arctic = {"pose": 10.0, "shape": 0.001, "camera": 1.0, "keypoints_3d": 5.0, "keypoints_2d": 5.0}
    assert eg.WildHandsWeights.arctic().as_dict() == arctic
    assert eg.WildHandsWeights.assembly_hands().as_dict() == {"keypoints_3d": 5.0, "keypoints_2d": 5.0}
    assert eg.WildHandsWeights.in_the_wild().as_dict() == {"mask": 10.0, "grasp": 0.1}
    terms = {"mask": torch.tensor(0.5), "grasp": torch.tensor(2.0)}
    assert weighted_sum(terms, eg.WildHandsWeights.in_the_wild()).item() == pytest.approx(5.2)
    assert weighted_sum(terms, eg.WildHandsWeights.in_the_wild().as_dict()).item() == pytest.approx(5.2)
    with pytest.raises(KeyError):
        weighted_sum(terms, eg.WildHandsWeights.arctic())
