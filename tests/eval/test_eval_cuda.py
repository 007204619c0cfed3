"""The metrics run on CUDA and agree with the CPU (skipped where no CUDA device is present)."""

from __future__ import annotations

import pytest
import torch

from handrecon.eval import fscore, hand_metrics, psnr, ssim
from handrecon.geometry.procrustes import similarity_procrustes

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_metrics_on_cuda_match_cpu():
    gen = torch.Generator().manual_seed(0)
    j_pred, j_gt = torch.randn(2, 4, 21, 3, generator=gen).unbind(0)
    v_pred, v_gt = torch.randn(2, 4, 300, 3, generator=gen).mul(0.05).unbind(0)
    cpu = hand_metrics(j_pred, j_gt, v_pred, v_gt)
    gpu = hand_metrics(j_pred.cuda(), j_gt.cuda(), v_pred.cuda(), v_gt.cuda())
    for name, value in cpu.items():
        assert gpu[name].device.type == "cuda"
        torch.testing.assert_close(gpu[name].cpu(), value, atol=1e-3, rtol=1e-4, msg=name)
    res = similarity_procrustes(j_pred.cuda(), j_gt.cuda())
    torch.testing.assert_close(torch.linalg.det(res.rotation).cpu(), torch.ones(4))
    torch.testing.assert_close(fscore(v_pred.cuda(), v_gt.cuda(), 15.0).fscore.cpu(), fscore(v_pred, v_gt, 15.0).fscore)
    x, y = torch.rand(2, 2, 3, 32, 32, generator=gen).unbind(0)
    torch.testing.assert_close(ssim(x.cuda(), y.cuda()).cpu(), ssim(x, y), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(psnr(x.cuda(), y.cuda()).cpu(), psnr(x, y), atol=1e-4, rtol=1e-5)
