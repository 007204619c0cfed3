"""Every loss runs batched on float32 and float64 (and CUDA when present), keeps the input dtype and device,
and gives finite gradients."""

import pytest
import torch

from handrecon.geometry.camera import PerspectiveCamera, WeakPerspectiveCamera, intrinsics
from handrecon.priors import egocentric as eg
from handrecon.priors import interaction as it
from handrecon.priors import knowledge as kn
from handrecon.priors import probabilistic as pr
from handrecon.priors import self_supervised as ss

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
CASES = [(d, t) for d in DEVICES for t in (torch.float32, torch.float64)]


def _losses(dtype: torch.dtype, device: str):
    g = torch.Generator().manual_seed(0)

    def rnd(*shape, scale=1.0, offset=0.0):
        x = torch.rand(*shape, generator=g, dtype=torch.float64) * scale + offset
        return x.to(dtype=dtype, device=device).requires_grad_(True)

    B, V = 2, 30
    kp, det, conf = rnd(B, 21, 2, scale=100), rnd(B, 21, 2, scale=100), rnd(B, 21)
    img, ren, sil = rnd(B, 3, 16, 16), rnd(B, 3, 16, 16), rnd(B, 16, 16)
    verts, var, prior = rnd(B, V, 3, scale=0.1, offset=0.5), rnd(B, V, 3, scale=0.01, offset=1e-3), rnd(B, V, 3)
    reg = torch.softmax(torch.rand(21, V, generator=g, dtype=torch.float64), 1).to(dtype=dtype, device=device)
    K = intrinsics(200.0, 200.0, 8.0, 8.0, dtype=dtype).to(device)
    weak = WeakPerspectiveCamera(rnd(B, offset=50), rnd(B, 2), 16, 16)
    cam, cam_var = rnd(B, 6, offset=1.0), rnd(B, 6, offset=0.1)
    faces = torch.tensor([[0, 1, 2], [1, 3, 2], [2, 3, 4]], device=device)
    gen = torch.Generator(device=device).manual_seed(1)
    j3 = rnd(B, 21, 3, scale=0.1)
    return {
        "nll_data_term": kn.nll_data_term(kp, det, rnd(B, 21, offset=0.5)),
        "mse_data_term": kn.mse_data_term(kp, det),
        "shape_regularizer": kn.shape_regularizer(rnd(B, 10)),
        "geometric_alignment": ss.geometric_alignment_loss(kp, det, conf, 0.5),
        "photometric": ss.photometric_loss(ren, img, sil, conf, 0.5),
        "texture_regularizer": ss.texture_regularizer(rnd(B, V, 3)),
        "scale_regularizer": ss.scale_regularizer(j3),
        "consistency": ss.consistency_loss(kp, det),
        "vertex": pr.vertex_loss(verts, prior, var, prior),
        "joint": pr.joint_loss(verts, rnd(B, 21, 3), var, prior, reg),
        "joint2d_weak": pr.joint2d_loss(verts, kp, var, prior, reg, weak, rotation=rnd(B, 3)),
        "joint2d_perspective": pr.joint2d_loss(verts, kp, var, verts.detach(), reg, PerspectiveCamera(K, 16, 16)),
        "weakly_supervised": pr.weakly_supervised_loss(verts, kp, var, prior, reg, cam, cam_var, cam, generator=gen),
        "texture": pr.texture_loss(ren, img, sil),
        "egocentric_kp2d": eg.keypoint_2d_loss(
            eg.keypoints_2d_from_weak_camera(j3, rnd(B, offset=1.0), rnd(B, 2), K), det
        ),
        "mask": eg.mask_loss(sil, rnd(B, 16, 16)),
        "grasp": eg.grasp_loss(rnd(B, 8), torch.tensor([1, 7], device=device)),
        "feature_2d": it.feature_2d_loss(
            rnd(B, 42, 8, 8),
            it.interaction_adjacency_heatmaps(rnd(B, 42, 2, scale=8), 8, 8),
            rnd(B, 2, 8, 8),
            rnd(B, 2, 8, 8),
            rnd(B, 3),
            rnd(B, 3),
        ),
        "vae_prior": it.vae_prior_loss(rnd(B, 63), rnd(B, 63), rnd(B, 128), rnd(B, 128, offset=0.1)),
        "normal_consistency": it.normal_consistency_loss(rnd(B, 5, 3), rnd(B, 5, 3), faces),
    }


@pytest.mark.parametrize("device,dtype", CASES)
def test_all_losses_dtype_device_and_finite_gradients(device, dtype):
    losses = _losses(dtype, device)
    for name, loss in losses.items():
        assert loss.dim() == 0, name
        assert loss.dtype == dtype and loss.device.type == device, name
        assert torch.isfinite(loss), name
    total = sum(losses.values())
    leaves = _collect_leaves(total)
    assert len(leaves) > 20
    grads = torch.autograd.grad(total, leaves)
    assert all(torch.isfinite(gr).all() for gr in grads)


def _collect_leaves(t: torch.Tensor):
    seen, stack, out = set(), [t.grad_fn], []
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        if hasattr(fn, "variable"):
            out.append(fn.variable)
        stack.extend(f for f, _ in fn.next_functions)
    return out


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_reduction_conventions(reduction):
    kp, det = torch.rand(3, 21, 2), torch.rand(3, 21, 2)
    per = kn.mse_data_term(kp, det, reduction="none")
    got = kn.mse_data_term(kp, det, reduction=reduction)
    expected = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    assert per.shape == (3,)
    assert torch.allclose(got, expected)
    with pytest.raises(ValueError):
        kn.mse_data_term(kp, det, reduction="max")
