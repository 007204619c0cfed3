"""The video overlay's painter's-algorithm coverage (`render.painted`): perspective-correct values, the nearer
surface wins, back faces and faces behind the camera are dropped, and on a hand it covers the pixels of
`rasterize` but for its silhouette's edge; the overlay and skeleton drawn with it look like the exact ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handrecon.geometry.camera import PerspectiveCamera, intrinsics
from handrecon.hand import HandModel
from handrecon.render import overlay
from handrecon.render.painted import painted_pixels, vertex_normals
from handrecon.render.rasterize import rasterize

W, H = 640, 480
K = intrinsics(600.0, 600.0, W / 2, H / 2).double().numpy()


def _square(x0, y0, x1, y1, z0, z1=None, clockwise=False):
    """Two faces of a quad from (x0, y0) to (x1, y1) (metres), depth z0 at x0 and z1 at x1; counter-clockwise
    in the image (facing the camera) unless `clockwise`."""
    z1 = z0 if z1 is None else z1
    v = np.array([[x0, y0, z0], [x1, y0, z1], [x1, y1, z1], [x0, y1, z0]], dtype=np.float64)
    f = np.array([[0, 3, 2], [0, 2, 1]])  # counter-clockwise on screen (y down)
    return v, (f[:, ::-1] if clockwise else f)


def _pixel_centres(pixel):
    return pixel % W + 0.5, pixel // W + 0.5


def test_values_are_interpolated_perspective_correct_on_a_tilted_quad():
    v, f = _square(-0.1, -0.08, 0.1, 0.08, 0.3, 0.6)  # strongly tilted: screen-linear values would be off
    pixel, xyz, opening = painted_pixels(v, f, K, W, H, values=v)
    assert not opening.any()
    assert len(pixel) > 1000
    # The interpolated camera-frame point lies on the quad and projects to the pixel's centre, but on the
    # pixels the fill takes just outside their face (the quad's rim), whose values stop at the face's
    # edge, a pixel or two away.
    u, w = _pixel_centres(pixel)
    miss = np.hypot(K[0, 0] * xyz[:, 0] / xyz[:, 2] + K[0, 2] - u, K[1, 1] * xyz[:, 1] / xyz[:, 2] + K[1, 2] - w)
    assert (miss < 1e-6).mean() > 0.95
    assert miss.max() < 2.0
    assert np.allclose(xyz[:, 2], 0.3 + 1.5 * (xyz[:, 0] + 0.1), atol=1e-9)
    # screen-linear interpolation would miss by pixels here
    screen_linear_x = np.interp(u, [K[0, 0] * -0.1 / 0.3 + K[0, 2], K[0, 0] * 0.1 / 0.6 + K[0, 2]], [-0.1, 0.1])
    assert np.abs(screen_linear_x - xyz[:, 0]).max() > 0.01


@pytest.mark.parametrize("near_first", [True, False])
def test_the_nearer_face_wins_whatever_the_face_order(near_first):
    far_v, far_f = _square(-0.1, -0.1, 0.1, 0.1, 0.5)
    near_v, near_f = _square(-0.02, -0.02, 0.06, 0.06, 0.4)
    parts = [(near_v, near_f), (far_v, far_f)] if near_first else [(far_v, far_f), (near_v, near_f)]
    v = np.concatenate([parts[0][0], parts[1][0]])
    f = np.concatenate([parts[0][1], parts[1][1] + 4])
    pixel, z, _ = painted_pixels(v, f, K, W, H, values=v[:, 2:])
    u, w = _pixel_centres(pixel)
    # the near square's image is [290, 410] x [210, 330], the far one's [200, 440] x [120, 360]
    inside_near = (u > 292) & (u < 408) & (w > 212) & (w < 328)
    outside_near = (u < 288) | (u > 412) | (w < 208) | (w > 332)
    assert inside_near.sum() > 10000 and outside_near.sum() > 30000
    assert np.allclose(z[inside_near, 0], 0.4)
    assert np.allclose(z[outside_near, 0], 0.5)
    assert len(np.unique(pixel)) == len(pixel)  # one value per pixel


def test_back_faces_are_seen_only_through_openings_and_nothing_behind_the_camera():
    # a quad seen from behind: its back faces are not painted, but its outline is an opening facing the
    # camera, through which the inside is seen (values 0)
    v, f = _square(-0.1, -0.1, 0.1, 0.1, 0.5, clockwise=True)
    pixel, values, opening = painted_pixels(v, f, K, W, H, values=v)
    assert 240 * 240 <= len(pixel) <= 242 * 242 and opening.all() and not values.any()
    # a closed box seen from outside: its three far sides (back faces) hidden, no opening
    cube = np.array([[x, y, z] for z in (0.4, 0.5) for y in (-0.05, 0.05) for x in (-0.05, 0.05)])
    quads = [(0, 2, 3, 1), (4, 5, 7, 6), (0, 1, 5, 4), (2, 6, 7, 3), (0, 4, 6, 2), (1, 3, 7, 5)]
    faces = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))])
    pixel, z, opening = painted_pixels(cube, faces, K, W, H, values=cube[:, 2:])
    assert not opening.any() and abs(len(pixel) - 150 * 150) < 4 * 150
    assert np.allclose(z, 0.4)  # only the near side: the back faces at 0.5 are hidden
    behind, f = _square(-0.1, -0.1, 0.1, 0.1, -0.5)
    assert painted_pixels(behind, f, K, W, H, values=behind)[0].size == 0
    off, f = _square(2.0, 2.0, 2.1, 2.1, 0.5)  # off the image
    assert painted_pixels(off, f, K, W, H, values=off)[0].size == 0


def test_bad_inputs_are_refused():
    v, f = _square(-0.1, -0.1, 0.1, 0.1, 0.5)
    with pytest.raises(ValueError, match="face indices"):
        painted_pixels(v, f + 4, K, W, H, values=v)
    with pytest.raises(ValueError, match="values"):
        painted_pixels(v, f, K, W, H, values=v[:3])


def test_vertex_normals_match_the_torch_version():
    from handrecon.geometry.mesh import vertex_normals as reference

    model = HandModel(side="right")
    with torch.no_grad():
        verts = model(global_orient=torch.tensor([[0.3, -0.4, 0.2]]), hand_pose=torch.zeros(1, 15, 3)).vertices
    faces = model.faces.long()
    expected = reference(verts.double(), faces)[0].numpy()
    assert np.allclose(vertex_normals(verts[0].double().numpy(), faces.numpy()), expected, atol=1e-12)


@pytest.fixture(scope="module", params=["right", "left"])
def hand(request):
    model = HandModel(side=request.param)
    with torch.no_grad():
        pose = torch.zeros(1, 15, 3)
        pose[0, :, 2] = 0.25  # fingers a little curled: layers over the palm
        mesh = model(global_orient=torch.tensor([[0.3, -0.4, 0.2]]), hand_pose=pose, betas=torch.zeros(1, 10))
    v = mesh.vertices - mesh.vertices.mean(1, keepdim=True) + torch.tensor([0.01, 0.0, 0.4])
    return v.float(), model.faces.long()


def test_a_hand_covers_the_exact_rasterization_but_for_its_edge(hand):
    v, f = hand
    camera = PerspectiveCamera(torch.as_tensor(K, dtype=torch.float32), W, H)
    with torch.no_grad():
        frags = rasterize(v, f, camera, crop=True)
    w = frags.shape[2]
    ox, oy = frags.origin
    line = frags.fg_pixel // w
    exact = set(((line + oy) * W + frags.fg_pixel - line * w + ox).tolist())
    pixel, _, opening = painted_pixels(v[0].double().numpy(), f.numpy(), K, W, H, values=np.zeros((v.shape[1], 1)))
    painted = set(pixel.tolist())
    assert len(exact) > 20000
    assert opening.sum() > 500  # the wrist's opening faces the camera here
    assert len(exact - painted) < 0.005 * len(exact)  # nothing inside is lost
    assert len(painted - exact) < 0.04 * len(exact)  # the fill's edge rule: a thin rim


def test_painted_overlay_looks_like_the_exact_one(hand):
    v, f = hand
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    camera = PerspectiveCamera(torch.as_tensor(K, dtype=torch.float32), W, H)
    exact = overlay.overlay_mesh(photo, v, f, camera, alpha=0.75, color=(0.62, 0.72, 0.9))
    painted = overlay.paint_mesh_over(photo.copy(), v[0].double().numpy(), f.numpy(), K, 0.75, (0.62, 0.72, 0.9))
    changed = (exact != photo).any(-1)
    diff = np.abs(exact.astype(int) - painted.astype(int)).max(-1)
    assert changed.sum() > 20000
    assert (diff[changed] <= 2).mean() > 0.95  # same shade on the surface
    assert (diff > 2).sum() < 0.08 * changed.sum()  # the rim and a few folds differ
    untouched = ~changed & (diff == 0)
    assert untouched.sum() > 0.9 * (H * W - changed.sum())


def test_paint_skeleton_draws_like_draw_skeleton():
    rng = np.random.default_rng(1)
    photo = np.full((H, W, 3), 128, np.uint8)
    joints = np.stack([rng.uniform(200, 440, 21), rng.uniform(150, 330, 21)], -1)
    exact = overlay.draw_skeleton(photo, joints, line_width=5, joint_radius=7)
    painted = overlay.paint_skeleton(photo.copy(), joints, line_width=5, joint_radius=7)
    drawn_exact, drawn = (exact != 128).any(-1), (painted != 128).any(-1)
    assert drawn_exact.sum() > 2000
    assert (drawn_exact & drawn).sum() > 0.85 * drawn_exact.sum()
    assert (drawn & ~drawn_exact).sum() < 0.15 * drawn_exact.sum()
    for j in range(21):  # each joint's disc in its finger's colour
        x, y = np.rint(joints[j]).astype(int)
        assert tuple(painted[y, x]) in {overlay.joint_color(k) for k in range(21)}
    hidden = joints.copy()
    hidden[8] = np.nan  # a joint not seen: it and its bones are skipped
    assert (overlay.paint_skeleton(photo.copy(), hidden) != 128).any()
    with pytest.raises(ValueError, match="uint8"):
        overlay.paint_skeleton(photo.astype(np.float32), joints)
