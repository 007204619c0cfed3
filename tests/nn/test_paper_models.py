"""The knowledge-prior regressor and WildHands: shapes, gradients, IEF convergence on a batch."""

import pytest
import torch

from handrecon.nn.knowledge_regressor import KnowledgePriorRegressor
from handrecon.nn.wildhands import KPE_MODES, WildHands
from handrecon.priors.knowledge import mse_data_term

S = 64


def _K(b=2):
    return torch.tensor([[120.0, 0.0, 20.0], [0.0, 120.0, 40.0], [0.0, 0.0, 1.0]]).expand(b, 3, 3).clone()


def _knowledge():
    torch.manual_seed(0)
    return KnowledgePriorRegressor("resnet18", crop_size=S, head_opts={"hidden": 64})


def test_knowledge_regressor_shapes_and_gradients():
    m = _knowledge()
    img = torch.rand(2, 3, S, S)
    p = m(img, _K())
    assert p.joints.shape == (2, 21, 3) and p.vertices.shape[0] == 2 and p.keypoints_2d.shape == (2, 21, 2)
    assert p.euler_angles.shape == (2, 15, 3) and p.keypoints_2d_variance.shape == (2, 21)
    assert (p.keypoints_2d_variance > 0).all() and len(p.iterations) == 3
    # the hand model reproduces the prediction from its rotations: the angles are the model's parametrisation
    R = m.anatomy.euler_to_rotations(p.euler_angles)
    assert torch.allclose(R, p.hand_pose, atol=1e-6)
    assert (p.joints[..., 2] > 0).all()  # in front of the camera
    loss = p.keypoints_2d.square().mean() + p.keypoints_2d_variance.mean()
    loss.backward()
    grads = [q.grad for q in m.regressor.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    assert next(m.backbone.parameters()).grad is not None


def test_ief_converges_on_a_batch():
    """A few hundred steps on one batch of fixed pooled features fit its 2D keypoints."""
    m = _knowledge()
    feats = torch.randn(4, m.backbone.out_channels)
    K = _K(4)
    with torch.no_grad():
        target = m(None, K, backbone_outputs=feats, with_vertices=False).keypoints_2d
        target = target + torch.randn_like(target) * 2.0  # a different pose/placement to fit
    opt = torch.optim.Adam(m.regressor.parameters(), lr=1e-3)
    start = None
    for _ in range(150):
        p = m(None, K, backbone_outputs=feats, with_vertices=False)
        loss = mse_data_term(p.keypoints_2d / S, target / S)
        start = loss.item() if start is None else start
        opt.zero_grad()
        loss.backward()
        opt.step()
    # 2 px of independent noise per joint is not reachable by a hand: the residual floor is near 1/4
    assert loss.item() < 0.3 * start


@pytest.mark.parametrize("kpe", KPE_MODES)
def test_wildhands_shapes_and_gradients(kpe):
    torch.manual_seed(0)
    m = WildHands("resnet18", crop_size=S,
                  head_opts={"kpe": kpe, "hidden": 32, "conv_channels": [16, 16, 8], "feature_dim": 32})
    img = torch.rand(2, 3, S, S)
    A = torch.tensor([[0.5, 0.0, -10.0], [0.0, 0.5, -30.0], [0.0, 0.0, 1.0]]).expand(2, 3, 3)
    p = m(img, _K(), crop_A=A)
    assert p.joints.shape == (2, 21, 3) and p.grasp_logits.shape == (2, 8)
    assert torch.allclose(p.keypoints_2d[..., 0], p.joints[..., 0] / p.joints[..., 2] * 120.0 + 20.0, atol=1e-3)
    (p.joints.square().sum() + p.grasp_logits.sum()).backward()
    assert m.convs[0].weight.grad is not None and m.convs[0].weight.grad.abs().sum() > 0
    assert all(d[-1].weight.grad is not None for d in m.decoders.values())


def test_wildhands_sparse_kpe_reaches_the_prediction():
    """The same crop under other intrinsics gives another prediction only with a KPE."""
    img = torch.rand(1, 3, S, S)
    K2 = _K(1).clone()
    K2[0, 0, 2] = -300.0
    for kpe, differs in (("sparse", True), ("none", False)):
        torch.manual_seed(0)
        m = WildHands("resnet18", crop_size=S,
                      head_opts={"kpe": kpe, "hidden": 32, "conv_channels": [16, 16, 8], "feature_dim": 32}).eval()
        with torch.no_grad():
            a, b = m(img, _K(1)).camera, m(img, K2).camera
        assert (not torch.allclose(a, b)) == differs, kpe


def test_wildhands_no_intrinsics_needs_the_crop_transform():
    m = WildHands("resnet18", crop_size=S, head_opts={"kpe": "no_intrinsics", "hidden": 16,
                                                       "conv_channels": [8, 8, 8], "feature_dim": 16})
    with pytest.raises(ValueError, match="crop_A"):
        m(torch.rand(1, 3, S, S), _K(1))


def test_wildhands_cached_map_gives_the_same_prediction():
    torch.manual_seed(0)
    m = WildHands("resnet18", crop_size=S, head_opts={"kpe": "sparse", "hidden": 16, "conv_channels": [8, 8, 8],
                                                       "feature_dim": 16}).eval()
    img = torch.rand(2, 3, S, S)
    with torch.no_grad():
        a = m(img, _K()).joints
        b = m(None, _K(), backbone_outputs=m.backbone_outputs(img)).joints
    assert torch.allclose(a, b, atol=1e-6)
