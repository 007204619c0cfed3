"""UV texture baking from a photo: re-rendering reproduces the photo where the surface is seen, and texels
of hidden surface are marked invalid."""

from __future__ import annotations

import math

import pytest
import torch

from handrecon.eval.image_quality import psnr, ssim
from handrecon.geometry.camera import PerspectiveCamera, WeakPerspectiveCamera, intrinsics
from handrecon.geometry.mesh import face_normals, plane_grid, uv_sphere
from handrecon.render.interpolate import face_corner_attributes, interpolate_face_attributes
from handrecon.render.rasterize import barycentrics_of_points
from handrecon.render.renderer import render_mesh
from handrecon.render.sampling import sample_texture
from handrecon.texture import bake_uv_texture, dilate_texture, rasterize_uv

H = W = 128


def _smooth_photo(dtype=torch.float64) -> torch.Tensor:
    """A smooth colour image (periods of 40 to 90 pixels) with full contrast structure."""
    ys, xs = torch.meshgrid(torch.arange(H, dtype=dtype) + 0.5, torch.arange(W, dtype=dtype) + 0.5, indexing="ij")
    r = 0.5 + 0.35 * torch.sin(2 * math.pi * xs / 57 + 0.3) * torch.cos(2 * math.pi * ys / 83)
    g = 0.5 + 0.3 * torch.cos(2 * math.pi * (xs + ys) / 71)
    b = 0.4 + 0.25 * torch.sin(2 * math.pi * (xs - 0.5 * ys) / 43 + 1.0)
    return torch.stack([r, g, b])[None]


def _rerender(photo, verts, faces, corner_uvs, camera, texture_size=256):
    """Bake, render the textured mesh at the same view, and return (render, region it is meaningful on)."""
    baked = bake_uv_texture(photo, verts, faces, corner_uvs, camera, texture_size=texture_size)
    out = render_mesh(verts, faces, camera, texture=baked.texture, corner_uvs=corner_uvs)
    # Pixels whose bilinear texture lookup only touches valid texels.
    uv = interpolate_face_attributes(out.fragments, corner_uvs)
    all_taps_valid = sample_texture(baked.valid[:, None].to(photo.dtype), uv)[..., 0] > 1 - 1e-4
    region = out.mask & all_taps_valid
    return out.image.permute(0, 3, 1, 2), region, baked, out


def _tilted_square():
    """Two triangles turned 55 degrees about the vertical axis, 1 m in front of the camera."""
    v, f, uv = plane_grid(1, 1, width=1.0, height=0.5, dtype=torch.float64)
    a = math.radians(55)
    rot = torch.tensor([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]], dtype=torch.float64)
    return (v @ rot.T + torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))[None], f, face_corner_attributes(uv, f)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("camera_kind", ["perspective", "weak"])
def test_coarse_tilted_plane_rebakes_to_the_photo(camera_kind, dtype):
    # Two triangles seen at a steep angle: with screen-linear instead of perspective-correct barycentrics
    # the re-rendered texture would be visibly displaced.
    verts, f, corner_uvs = (t.to(dtype) if t.is_floating_point() else t for t in _tilted_square())
    if camera_kind == "perspective":
        camera = PerspectiveCamera(intrinsics(110.0, 110.0, 64.0, 64.0, dtype=dtype), W, H)
    else:
        camera = WeakPerspectiveCamera(
            torch.tensor([180.0], dtype=dtype), torch.tensor([[64.0, 64.0]], dtype=dtype), W, H
        )
    photo = _smooth_photo(dtype)
    image, region, baked, out = _rerender(photo, verts, f, corner_uvs, camera)
    assert image.dtype == dtype and baked.texture.dtype == dtype
    assert region.sum() >= 0.9 * out.mask.sum() and out.mask.sum() > 0.25 * H * W
    assert float(psnr(image, photo, region)) >= 40.0
    assert float(ssim(image, photo, region)) >= 0.99
    # The whole UV square is seen: (nearly) every texel is valid.
    assert baked.valid.double().mean() > 0.98


def test_perspective_correct_interpolation_is_what_makes_the_rebake_match():
    # The same scene rendered with screen-linear barycentrics: if the renderer ignored perspective the
    # comparison above could not pass; this checks the test itself can fail.
    verts, f, corner_uvs = _tilted_square()
    camera = PerspectiveCamera(intrinsics(110.0, 110.0, 64.0, 64.0, dtype=torch.float64), W, H)
    photo = _smooth_photo()
    image, region, _, out = _rerender(photo, verts, f, corner_uvs, camera)
    frags = out.fragments
    xy = camera.project(verts)[0][0]
    tri = xy[f[frags.fg_face]]
    col = (frags.fg_pixel % W).double() + 0.5
    row = (frags.fg_pixel // W).double() + 0.5
    affine, _ = barycentrics_of_points(tri, torch.ones_like(tri[..., 0]), torch.stack([col, row], -1), False)
    uv_affine = (corner_uvs[frags.fg_face] * affine[..., None]).sum(1)
    baked = bake_uv_texture(photo, verts, f, corner_uvs, camera, texture_size=256)
    wrong = torch.zeros(H * W, 3, dtype=torch.float64)
    wrong[frags.fg_pixel] = sample_texture(baked.texture, uv_affine[None])[0]
    wrong = wrong.view(1, H, W, 3).permute(0, 3, 1, 2)
    assert float(psnr(wrong, photo, region)) < 30.0
    assert float(psnr(image, photo, region)) >= 40.0


def test_sphere_rebake_reproduces_the_visible_half_only():
    sphere, faces, uv, faces_uv = uv_sphere(48, 64, dtype=torch.float64)
    verts = (sphere * 0.25 + torch.tensor([0.01, -0.02, 1.0]).double())[None]
    camera = PerspectiveCamera(intrinsics(200.0, 200.0, 64.0, 64.0, dtype=torch.float64), W, H)
    corner_uvs = uv[faces_uv]
    photo = _smooth_photo()
    image, region, baked, out = _rerender(photo, verts, faces, corner_uvs, camera, texture_size=384)
    assert region.sum() >= 0.85 * out.mask.sum()
    assert float(psnr(image, photo, region)) >= 40.0
    assert float(ssim(image, photo, region)) >= 0.99
    # Valid texels lie on the part facing the camera; all of it is valid except at grazing angles.
    uvf = rasterize_uv(corner_uvs, 384, 384)
    points = (verts[0][faces[uvf.fg_face]] * uvf.fg_bary[..., None]).sum(1)
    ray = torch.nn.functional.normalize(points, dim=-1)
    cos_view = -(face_normals(verts[0], faces)[uvf.fg_face] * ray).sum(-1)
    valid = baked.valid.reshape(-1)[uvf.fg_pixel]
    assert not bool((valid & (cos_view <= 0)).any())
    assert bool(valid[cos_view > 0.3].all())
    assert float(valid[cos_view > 0].double().mean()) > 0.8


def test_occluded_surface_is_invalid_in_the_baked_texture():
    v, f, uv = plane_grid(8, 8, width=1.0, height=1.0, dtype=torch.float64)
    back = v + torch.tensor([0.0, 0.0, 2.0]).double()
    blocker = v * 0.3 + torch.tensor([0.1, 0.0, 1.0]).double()  # a smaller square in front
    verts = torch.cat([back, blocker])[None]
    faces = torch.cat([f, f + v.shape[0]])
    camera = PerspectiveCamera(intrinsics(100.0, 100.0, 64.0, 64.0, dtype=torch.float64), W, H)
    # UVs: the back plane uses the whole square, the blocker is squeezed into a corner we ignore.
    corner_uvs = torch.cat([face_corner_attributes(uv, f), face_corner_attributes(uv * 0.01, f)])
    photo = _smooth_photo()
    baked = bake_uv_texture(photo, verts, faces, corner_uvs, camera, texture_size=64)
    # Texel centres of the back plane: u, v in (0, 1) map to x, y in (-0.5, 0.5) at z = 2.
    i, j = torch.meshgrid(torch.arange(64).double(), torch.arange(64).double(), indexing="ij")
    x, y = (j + 0.5) / 64 - 0.5, (i + 0.5) / 64 - 0.5
    px, py = 100 * x / 2 + 64, 100 * y / 2 + 64
    # The blocker spans x in [-0.05, 0.25], y in [-0.15, 0.15] at z = 1: pixels [59, 89] x [49, 79].
    hidden = (px > 59 + 1) & (px < 89 - 1) & (py > 49 + 1) & (py < 79 - 1)
    seen = ~((px > 59 - 1) & (px < 89 + 1) & (py > 49 - 1) & (py < 79 + 1))
    seen[-1, 0] = False  # this texel belongs to the blocker's UV corner
    assert hidden.sum() > 50 and seen.sum() > 2000
    assert not bool(baked.valid[0][hidden].any())
    assert bool(baked.valid[0][seen].all())
    # Valid texels hold the photo at the projection of their surface point.
    expected = torch.nn.functional.grid_sample(
        photo, torch.stack([px / 64 - 1, py / 64 - 1], -1)[None], align_corners=False
    )[0]
    torch.testing.assert_close(baked.texture[0][:, seen], expected[:, seen])
    assert float(baked.texture[0][:, hidden].abs().max()) == 0.0


def test_dilation_grows_valid_texels_with_neighbour_means():
    tex = torch.zeros(1, 1, 5, 5)
    valid = torch.zeros(1, 5, 5, dtype=torch.bool)
    tex[0, 0, 2, 2], valid[0, 2, 2] = 3.0, True
    tex[0, 0, 2, 3], valid[0, 2, 3] = 1.0, True
    out, grown = dilate_texture(tex, valid, iterations=1)
    assert int(grown.sum()) == 12
    assert float(out[0, 0, 1, 1]) == 3.0 and float(out[0, 0, 1, 2]) == 2.0 and float(out[0, 0, 2, 2]) == 3.0
    assert float(out[0, 0, 0, 0]) == 0.0 and not bool(grown[0, 0, 0])
