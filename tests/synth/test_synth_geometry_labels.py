"""Labels agree with the geometry: 2D joints are the projections of the 3D joints, the stored parameters
reproduce mesh and joints through the hand model, and masks are the z-buffer's silhouettes."""

import numpy as np
import torch

from handrecon.geometry.camera import PerspectiveCamera
from handrecon.render.rasterize import rasterize
from handrecon.synth.compose import PRIMARY, SECOND


def test_2d_joints_are_the_projections_of_the_3d_joints(samples):
    for s in samples:
        for k in range(s.num_hands):
            # Independent pinhole projection in float64: u = fx x / z + cx (pixel (x, y) covers [x, x+1)).
            p = s.joints3d[k].astype(np.float64) @ np.asarray(s.K, np.float64).T
            uv = p[:, :2] / p[:, 2:3]
            np.testing.assert_allclose(s.joints2d[k], uv, atol=1e-3)


def test_parameters_reproduce_vertices_and_joints(engine, samples):
    for s in samples:
        for k in range(s.num_hands):
            model = engine.scenes.models["right" if s.side[k] == 0 else "left"]
            out = model(
                global_orient=torch.as_tensor(s.global_orient[k][None]),
                hand_pose=torch.as_tensor(s.hand_pose[k][None]),
                betas=torch.as_tensor(s.betas[k][None]),
                transl=torch.as_tensor(s.transl[k][None]),
            )
            np.testing.assert_allclose(out.vertices[0].numpy(), s.vertices[k], atol=2e-5)
            np.testing.assert_allclose(out.joints[0].numpy(), s.joints3d[k], atol=2e-5)


def test_label_map_is_the_nearest_object_of_separate_renders(engine, object_meshes):
    """Rasterize each object alone; the label of a pixel must be the object nearest to the camera there."""
    checked = 0
    for i in range(6):
        scene = engine.scene(i)
        s = engine.label(scene)
        size = s.image.shape[0]
        cam = PerspectiveCamera(torch.as_tensor(scene.K, dtype=torch.float32), size, size)
        depth = np.full((len(object_meshes(engine, scene)), size, size), np.inf)
        labels = []
        for j, (label, verts, faces) in enumerate(object_meshes(engine, scene)):
            frags = rasterize(torch.as_tensor(verts, dtype=torch.float32)[None], faces, cam)
            d = frags.depth[0].numpy()
            depth[j] = np.where(frags.mask[0].numpy(), d, np.inf)
            labels.append(label)
        nearest = np.asarray(labels)[depth.argmin(0)]
        expected = np.where(np.isfinite(depth.min(0)), nearest, 0)
        # Ties between touching surfaces (the wrist loop is shared by hand and forearm) may go either way.
        d_sorted = np.sort(depth, 0)
        with np.errstate(invalid="ignore"):
            clear = ~np.isfinite(d_sorted[1]) | (d_sorted[1] - d_sorted[0] > 1e-4)
        assert np.array_equal(s.objects[clear], expected[clear])
        assert clear.mean() > 0.98
        assert np.array_equal(s.mask(0), s.objects == PRIMARY)
        checked += int((s.objects == PRIMARY).sum())
    assert checked > 500  # the hands were actually in view


def test_hand_mask_of_single_hand_samples(samples):
    for s in samples:
        assert not (s.objects == SECOND).any()
        assert np.array_equal(s.hand_mask, s.objects == PRIMARY)
