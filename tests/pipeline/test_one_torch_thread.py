"""A photo's fit and packaging run on one torch thread (`fit.torch_threads`): the caller's count comes back
and the hands equal those of a caller that set one thread itself."""

from __future__ import annotations

from importlib import resources

import numpy as np
import torch

from handrecon.pipeline.image import ImageReconstructor

DEMO = str(resources.files("handrecon.assets") / "demo_hand.jpg")


def test_a_photo_is_fitted_and_packaged_on_one_thread_with_the_same_hands(monkeypatch):
    from handrecon.api import HandReconstructor

    rec = HandReconstructor(detector="fast")
    rgb, K, _ = rec.load(DEMO)
    dets = rec.pipeline.detect(rgb)
    assert dets
    seen = []
    package = ImageReconstructor.package

    def recording(self, *a, **k):
        seen.append(torch.get_num_threads())
        return package(self, *a, **k)

    monkeypatch.setattr(ImageReconstructor, "package", recording)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        two = rec.pipeline.reconstruct_detections(rgb, dets, K)
        assert seen == [1] and torch.get_num_threads() == 2
        torch.set_num_threads(1)
        one = rec.pipeline.reconstruct_detections(rgb, dets, K)
    finally:
        torch.set_num_threads(before)
        rec.close()
    for a, b in zip(two, one, strict=True):
        for name in ("joints_3d", "vertices", "texture", "vertex_colors", "hand_pose", "transl"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
