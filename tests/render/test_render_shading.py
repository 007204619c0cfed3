"""Lambert shading with the S2HAND lighting vector, UV/pixel sampling conventions and textured rendering."""

from __future__ import annotations

import math

import pytest
import torch

from handrecon.geometry.camera import PerspectiveCamera, WeakPerspectiveCamera, intrinsics
from handrecon.geometry.mesh import plane_grid
from handrecon.render.interpolate import face_corner_attributes
from handrecon.render.renderer import render_mesh, soft_render_mesh
from handrecon.render.sampling import sample_image, sample_texture
from handrecon.render.shading import lambert, make_lighting, split_lighting


def test_lighting_vector_layout_follows_s2hand():
    L = torch.tensor([0.5, 0.1, 0.2, 0.3, 2.0, 0.4, 0.5, 0.6, 0.0, 3.0, -4.0])
    ambient, directional, direction = split_lighting(L)
    torch.testing.assert_close(ambient, torch.tensor([[0.05, 0.1, 0.15]]))
    torch.testing.assert_close(directional, torch.tensor([[0.8, 1.0, 1.2]]))
    torch.testing.assert_close(direction, torch.tensor([[0.0, 0.6, -0.8]]))
    with pytest.raises(ValueError, match="11"):
        split_lighting(torch.zeros(10))


def _tilted_plane(normal: torch.Tensor, dtype=torch.float64):
    """A 4x4 grid through (0, 0, 2) facing the camera with unit normal `normal` (n_z < 0)."""
    v, f, uv = plane_grid(4, 4, width=1.0, height=1.0, dtype=dtype)
    v[:, 2] = 2.0 - (normal[0] * v[:, 0] + normal[1] * v[:, 1]) / normal[2]
    return v[None], f, uv


@pytest.mark.parametrize("shading", ["pixel", "vertex", "flat"])
@pytest.mark.parametrize("light_angle_deg", [0.0, 35.0, 80.0, 120.0])
def test_plane_shading_matches_closed_form_lambert(shading, light_angle_deg):
    normal = torch.nn.functional.normalize(torch.tensor([0.2, -0.3, -1.0], dtype=torch.float64), dim=0)
    verts, faces, _ = _tilted_plane(normal)
    # Light direction at the given angle from the normal, rotated about an axis perpendicular to it.
    axis = torch.nn.functional.normalize(torch.linalg.cross(normal, torch.tensor([1.0, 0, 0]).double()), dim=0)
    a = math.radians(light_angle_deg)
    to_light = normal * math.cos(a) + torch.linalg.cross(axis, normal) * math.sin(a)
    la, lca, ld, lcd = 0.3, (1.0, 0.8, 0.6), 0.9, (0.5, 1.0, 0.75)
    lighting = make_lighting(la, lca, ld, lcd, tuple((to_light * 2.5).tolist()), dtype=torch.float64)
    albedo = torch.tensor([0.9, 0.6, 0.4], dtype=torch.float64)
    camera = PerspectiveCamera(intrinsics(30.0, 30.0, 16.0, 16.0, dtype=torch.float64), 32, 32)
    out = render_mesh(verts, faces, camera, vertex_colors=albedo.expand(25, 3), lighting=lighting, shading=shading)
    expected = albedo * (la * torch.tensor(lca) + ld * torch.tensor(lcd) * max(0.0, math.cos(a))).double()
    m = out.mask[0]
    assert m.sum() > 150
    torch.testing.assert_close(out.image[0][m], expected.expand(int(m.sum()), 3))
    torch.testing.assert_close(out.image[0][~m], torch.zeros(int((~m).sum()), 3, dtype=torch.float64))


def test_lambert_is_batched_and_clamps_back_lighting():
    normals = torch.tensor([[[0.0, 0.0, -1.0], [0.0, 0.0, 1.0]], [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]]])
    lighting = torch.stack([make_lighting(0.2, directional=1.0)[0], make_lighting(0.0, direction=(0, -1, 0))[0]])
    out = lambert(normals, torch.ones(2, 2, 3), lighting)
    torch.testing.assert_close(out[0, 0], torch.full((3,), 1.2))  # facing the light
    torch.testing.assert_close(out[0, 1], torch.full((3,), 0.2))  # facing away: ambient only
    torch.testing.assert_close(out[1, 0], torch.full((3,), 0.5))
    torch.testing.assert_close(out[1, 1], torch.zeros(3))


def test_sampling_at_pixel_and_texel_centres_returns_them_exactly():
    torch.manual_seed(0)
    img = torch.rand(2, 3, 5, 7, dtype=torch.float64)
    ys, xs = torch.meshgrid(torch.arange(5).double(), torch.arange(7).double(), indexing="ij")
    xy = torch.stack([xs, ys], -1).reshape(1, -1, 2).expand(2, -1, -1) + 0.5
    torch.testing.assert_close(sample_image(img, xy), img.flatten(2).transpose(1, 2))
    # UV with v up: texel (row i, col j) centre at u = (j + 0.5) / W, v = 1 - (i + 0.5) / H.
    uv = torch.stack([(xs + 0.5) / 7, 1 - (ys + 0.5) / 5], -1).reshape(1, -1, 2).expand(2, -1, -1)
    torch.testing.assert_close(sample_texture(img, uv), img.flatten(2).transpose(1, 2))
    # Bilinear halfway between two texels of the top row.
    mid = torch.tensor([[[1.0 / 7, 1 - 0.5 / 5]]], dtype=torch.float64).expand(2, -1, -1)
    torch.testing.assert_close(sample_texture(img, mid)[:, 0], (img[:, :, 0, 0] + img[:, :, 0, 1]) / 2)


@pytest.mark.parametrize("camera_kind", ["perspective", "weak"])
def test_textured_plane_filling_the_image_reproduces_the_texture(camera_kind):
    # A plane whose UV square maps exactly onto the 24x16 image: each pixel centre hits a texel centre.
    torch.manual_seed(0)
    H, W = 16, 24
    v, f, uv = plane_grid(3, 2, width=W / 10, height=H / 10, dtype=torch.float64)
    v = (v + torch.tensor([W / 20, H / 20, 1.0], dtype=torch.float64))[None]
    if camera_kind == "perspective":
        camera = PerspectiveCamera(intrinsics(10.0, 10.0, 0.0, 0.0, dtype=torch.float64), W, H)
    else:
        camera = WeakPerspectiveCamera(torch.tensor([10.0]).double(), torch.zeros(1, 2).double(), W, H)
    texture = torch.rand(1, 3, H, W, dtype=torch.float64)
    out = render_mesh(v, f, camera, texture=texture, corner_uvs=face_corner_attributes(uv, f))
    assert bool(out.mask.all())
    torch.testing.assert_close(out.image[0], texture[0].permute(1, 2, 0))


def test_soft_render_colour_approaches_the_shaded_albedo_inside():
    normal = torch.tensor([0.0, 0.0, -1.0], dtype=torch.float64)
    verts, faces, _ = _tilted_plane(normal)
    camera = PerspectiveCamera(intrinsics(30.0, 30.0, 16.0, 16.0, dtype=torch.float64), 32, 32)
    lighting = make_lighting(0.4, directional=0.5, dtype=torch.float64)
    colors = torch.tensor([0.8, 0.5, 0.2], dtype=torch.float64).expand(1, 25, 3)
    soft = soft_render_mesh(verts, faces, camera, vertex_colors=colors, lighting=lighting)
    hard = render_mesh(verts, faces, camera, vertex_colors=colors, lighting=lighting, shading="vertex")
    torch.testing.assert_close(soft.features[0, 16, 16], hard.image[0, 16, 16], atol=1e-6, rtol=0)
    torch.testing.assert_close(soft.features[0, 16, 16], torch.tensor([0.72, 0.45, 0.18]).double(), atol=1e-6, rtol=0)
