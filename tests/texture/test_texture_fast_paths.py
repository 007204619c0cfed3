"""The texture code's fast paths give the same results as the plain definitions they replace: baking with
cached UV layouts, cropped fragments and skipped texels; ring-only dilation; the cached harmonic fill."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as Fnn

from handrecon.geometry.camera import PerspectiveCamera, WeakPerspectiveCamera, intrinsics
from handrecon.geometry.mesh import face_normals, uv_sphere
from handrecon.geometry.topology import uniform_laplacian
from handrecon.render.rasterize import rasterize, submesh_fragments
from handrecon.render.sampling import sample_image
from handrecon.texture import bake_uv_texture, dilate_texture, harmonic_fill, rasterize_uv
from handrecon.texture.bake import pixel_footprint
from handrecon.texture.cache import ContentCache

H, W = 80, 104


def _scene(dtype: torch.dtype):
    """A textured sphere partly hidden by a second sphere in front of it; batch of two poses."""
    sphere, faces, uv, faces_uv = uv_sphere(16, 24, dtype=dtype)
    a = sphere * 0.25 + torch.tensor([0.02, 0.01, 1.2], dtype=dtype)
    b = sphere * 0.1 + torch.tensor([0.12, 0.05, 0.85], dtype=dtype)
    verts = torch.stack([a, a * torch.tensor([0.9, 1.1, 1.0], dtype=dtype) + 0.03])
    blockers = torch.stack([b, b - 0.02])
    all_faces = torch.cat([faces, faces + sphere.shape[0]])
    return verts, blockers, faces, all_faces, uv[faces_uv]


def _photo(dtype: torch.dtype, batch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return torch.rand(batch, 3, H, W, generator=g, dtype=dtype)


def _camera(kind: str, dtype: torch.dtype):
    if kind == "perspective":
        return PerspectiveCamera(intrinsics(120.0, 118.0, W / 2 + 0.4, H / 2 - 0.3, dtype=dtype), W, H)
    return WeakPerspectiveCamera(torch.tensor([110.0], dtype=dtype), torch.tensor([[W / 2, H / 2]], dtype=dtype), W, H)


def _reference_bake(image, vertices, faces, corner_uvs, camera, fragments, size):
    """The per-texel definition (module doc of texture.bake), on every texel of the layout, full fragments."""
    B = vertices.shape[0]
    uvf = rasterize_uv(corner_uvs, size, size)
    texel, face, bary = uvf.fg_pixel, uvf.fg_face, uvf.fg_bary
    points = (vertices[:, faces[face]] * bary[None, :, :, None]).sum(2)
    xy, z = camera.project(points)
    xy = xy.expand(B, -1, -1)
    col, row = torch.floor(xy[..., 0]), torch.floor(xy[..., 1])
    inside = (col >= 0) & (col < W) & (row >= 0) & (row < H) & torch.isfinite(z)
    pix = torch.arange(B)[:, None] * H * W + (row.clamp(0, H - 1) * W + col.clamp(0, W - 1)).long()
    shown_face = fragments.face_idx.reshape(-1)[pix]
    shown_depth = fragments.depth.reshape(-1)[pix]
    tol = 2.0 * pixel_footprint(camera, z)
    normals = face_normals(vertices, faces)[:, face]
    view = points if isinstance(camera, PerspectiveCamera) else points.new_tensor([0.0, 0.0, 1.0])
    facing = (normals * view).sum(-1) < 0
    in_front = (shown_face >= 0) & facing & (z <= shown_depth + tol)
    visible = inside & ((shown_face == face[None]) | in_front)
    colours = sample_image(image, xy) * visible[..., None].to(image.dtype)
    flat = colours.new_zeros(B, size * size, 3).index_copy(1, texel, colours)
    valid = torch.zeros(B, size * size, dtype=torch.bool)
    valid[:, texel] = visible
    return flat.view(B, size, size, 3).permute(0, 3, 1, 2), valid.view(B, size, size)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("camera_kind", ["perspective", "weak"])
def test_bake_equals_the_per_texel_definition(camera_kind, dtype):
    verts, blockers, faces, all_faces, corner_uvs = _scene(dtype)
    camera = _camera(camera_kind, dtype)
    image = _photo(dtype, 2)
    full = submesh_fragments(rasterize(torch.cat([verts, blockers], 1), all_faces, camera), 0, faces.shape[0])
    crop = submesh_fragments(
        rasterize(torch.cat([verts, blockers], 1), all_faces, camera, crop=True), 0, faces.shape[0]
    )
    tex_ref, valid_ref = _reference_bake(image, verts, faces, corner_uvs, camera, full, 128)
    assert 0.1 < float(valid_ref.double().mean()) < 0.5  # some texels seen, many hidden or facing away
    for fragments in (full, crop, crop):  # the second cropped bake hits the cached UV layout
        baked = bake_uv_texture(image, verts, faces, corner_uvs, camera, 128, fragments=fragments)
        assert torch.equal(baked.valid, valid_ref)
        assert torch.equal(baked.texture, tex_ref)
    alone = bake_uv_texture(image, verts, faces, corner_uvs, camera, 128)  # rasterizes the mesh itself
    tex_alone, valid_alone = _reference_bake(
        image, verts, faces, corner_uvs, camera, rasterize(verts, faces, camera), 128
    )
    assert torch.equal(alone.valid, valid_alone) and torch.equal(alone.texture, tex_alone)


def test_bake_gradients_match_the_per_texel_definition():
    verts, blockers, faces, all_faces, corner_uvs = _scene(torch.float64)
    camera = _camera("perspective", torch.float64)
    fragments = submesh_fragments(rasterize(torch.cat([verts, blockers], 1), all_faces, camera), 0, faces.shape[0])
    inputs = [(_photo(torch.float64, 2).requires_grad_(True), verts.clone().requires_grad_(True)) for _ in range(2)]
    fast = bake_uv_texture(*inputs[0], faces, corner_uvs, camera, 64, fragments=fragments).texture
    ref, _ = _reference_bake(*inputs[1], faces, corner_uvs, camera, fragments, 64)
    for out in (fast, ref):
        (out * torch.linspace(0, 1, out.numel(), dtype=torch.float64).view_as(out)).sum().backward()
    (image_fast, verts_fast), (image_ref, verts_ref) = inputs
    torch.testing.assert_close(image_fast.grad, image_ref.grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(verts_fast.grad, verts_ref.grad, rtol=1e-10, atol=1e-12)
    assert float(verts_fast.grad.abs().sum()) > 0


def _reference_dilate(texture, valid, iterations):
    """Dilation by 3x3 convolutions over the whole map."""
    tex, mask = texture, valid[:, None].to(texture.dtype)
    kernel = torch.ones(1, 1, 3, 3, dtype=texture.dtype)
    for _ in range(iterations):
        C = tex.shape[1]
        s = Fnn.conv2d(tex * mask, kernel.expand(C, 1, 3, 3), padding=1, groups=C)
        n = Fnn.conv2d(mask, kernel, padding=1)
        grow = (n > 0) & (mask == 0)
        tex = torch.where(grow, s / n.clamp_min(1), tex)
        mask = torch.where(grow, torch.ones_like(mask), mask)
    return tex, mask[:, 0] > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dilation_equals_full_map_convolutions(dtype):
    g = torch.Generator().manual_seed(0)
    for trial in range(12):
        B, C, Ht, Wt = 1 + trial % 2, 1 + trial % 4, 5 + 7 * trial, 9 + 5 * trial
        valid = torch.rand(B, Ht, Wt, generator=g) < 0.1 + 0.07 * trial
        texture = torch.rand(B, C, Ht, Wt, generator=g, dtype=dtype) * valid[:, None]
        for iterations in (0, 1, 2, 3):
            tex, grown = dilate_texture(texture, valid, iterations)
            tex_ref, grown_ref = _reference_dilate(texture, valid, iterations)
            assert torch.equal(grown, grown_ref)
            # conv2d adds the 3x3 neighbours in row-major order on this backend; allow an ulp elsewhere.
            torch.testing.assert_close(tex, tex_ref, rtol=4 * torch.finfo(dtype).eps, atol=0)


def test_dilation_ignores_the_values_of_invalid_texels():
    g = torch.Generator().manual_seed(3)
    valid = torch.rand(2, 23, 31, generator=g) < 0.3
    texture = torch.rand(2, 3, 23, 31, generator=g) * valid[:, None]
    fill = torch.tensor([float("nan"), -5.0, float("inf")]).view(1, 3, 1, 1)
    junk = torch.where(valid[:, None], texture, fill)  # values at invalid texels: never to be read
    assert bool(junk.isnan().any())
    for iterations in (1, 2):
        tex, grown = dilate_texture(texture, valid, iterations)
        tex_junk, grown_junk = dilate_texture(junk, valid, iterations)
        assert torch.equal(grown, grown_junk)
        new = (grown & ~valid)[:, None].expand_as(tex)  # the grown texels: finite, as without junk
        assert int(new.sum()) > 0
        assert torch.equal(tex[new], tex_junk[new])
        assert bool(torch.isfinite(tex_junk[new]).all())


def test_dilation_refuses_a_texture_that_requires_gradients():
    texture = torch.zeros(1, 3, 4, 4, requires_grad=True)
    with pytest.raises(ValueError, match="gradients"):
        dilate_texture(texture, torch.ones(1, 4, 4, dtype=torch.bool))


def test_harmonic_fill_matches_a_dense_solve_and_reuses_the_mesh_operators():
    sphere, faces, _, _ = uv_sphere(8, 12, dtype=torch.float64)
    V = sphere.shape[0]
    g = torch.Generator().manual_seed(1)
    known = torch.rand(2, V, generator=g) < 0.4
    values = torch.rand(2, V, 3, generator=g, dtype=torch.float64)
    out = harmonic_fill(values, known, faces)
    L = uniform_laplacian(faces, V, dtype=torch.float64).to_dense().numpy()
    for b in range(2):
        k, u = known[b].numpy(), ~known[b].numpy()
        xu = np.linalg.solve(L[np.ix_(u, u)], -L[np.ix_(u, k)] @ values[b].numpy()[k])
        np.testing.assert_allclose(out[b].numpy()[u], xu, rtol=0, atol=1e-12)
        assert torch.equal(out[b][known[b]], values[b][known[b]])
    # Same faces in another tensor: the same result; other faces with as many vertices: their own operators.
    assert torch.equal(harmonic_fill(values, known, faces.clone()), out)
    assert not torch.equal(harmonic_fill(values, known, faces[: faces.shape[0] // 2]), out)


@pytest.mark.parametrize("max_band", [0, 10**6])  # sparse LU / banded Cholesky
def test_harmonic_fill_solvers_agree_with_a_dense_solve_in_values_and_gradients(monkeypatch, max_band):
    from handrecon.texture import diffusion

    monkeypatch.setattr(diffusion, "MAX_BAND", max_band)
    sphere, faces, _, _ = uv_sphere(10, 14, dtype=torch.float64)
    faces = torch.cat([faces, torch.tensor([[0, 1, 2]]) + sphere.shape[0]])  # plus a lone triangle
    V = sphere.shape[0] + 3
    g = torch.Generator().manual_seed(5)
    known = torch.rand(2, V, generator=g) < 0.35
    known[1, V - 3 :] = False  # a component with nothing known: filled with the mean
    values = torch.rand(2, V, 2, generator=g, dtype=torch.float64)
    ops = [diffusion._FillOperator(diffusion._mesh_operators(faces, V), k) for k in known.numpy()]
    assert all((op.cholesky is not None) == (max_band > 0) for op in ops)
    assert all((op.lu is not None) == (max_band == 0) for op in ops)
    out = harmonic_fill(values, known, faces)
    L = uniform_laplacian(faces, V, dtype=torch.float64).to_dense()
    weights = torch.rand(2, V, 2, generator=g, dtype=torch.float64)
    x = values.clone().requires_grad_(True)
    (harmonic_fill(x, known, faces) * weights).sum().backward()
    for b in range(2):
        k = known[b]
        u = ~k
        if b == 1:
            u[V - 3 :] = False
        dense = torch.zeros(V, V, dtype=torch.float64)  # d out / d values of the dense reference
        dense[k, k] = 1.0
        dense[np.ix_(u.numpy(), k.numpy())] = -torch.linalg.solve(L[u][:, u], L[u][:, k])
        if b == 1:
            dense[V - 3 :, k] = 1.0 / int(k.sum())
        torch.testing.assert_close(out[b], dense @ values[b], rtol=0, atol=1e-12)
        torch.testing.assert_close(x.grad[b], dense.T @ weights[b], rtol=0, atol=1e-12)


def test_content_cache_keys_on_contents():
    cache = ContentCache(maxsize=2)
    calls = []

    def compute(tag):
        calls.append(tag)
        return tag

    a = torch.arange(6).view(2, 3)
    assert cache.get((a,), 1, lambda: compute("a")) == "a"
    assert cache.get((a.clone(),), 1, lambda: compute("again")) == "a"  # equal contents: a hit
    assert cache.get((a,), 2, lambda: compute("extra")) == "extra"  # other extras: a miss
    assert cache.get((a.float(),), 1, lambda: compute("dtype")) == "dtype"  # other dtype: a miss
    assert cache.get((a + 1,), 1, lambda: compute("b")) == "b"
    assert calls == ["a", "extra", "dtype", "b"]
    assert cache.get((a,), 1, lambda: compute("evicted")) == "evicted"  # least recently used went first
