"""Renderer speed on CPU (2 threads): hard rasterization, soft silhouette forward + backward, texture bake.

Run: python benchmarks/bench_render.py [--runs N]
Prints the median wall time of N runs (after warm-up) for a hand-sized mesh: the project's hand model
~0.5 m in front of the camera, or, when the hand model cannot be loaded, a procedural ellipsoid with a
similar vertex/face count and screen coverage.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from handrecon.geometry.camera import PerspectiveCamera, intrinsics
from handrecon.geometry.mesh import uv_sphere
from handrecon.render import rasterize, render_mesh, soft_silhouette
from handrecon.render.interpolate import face_corner_attributes
from handrecon.texture import bake_uv_texture, reverse_interpolate


def hand_mesh() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, str]:
    """(1, V, 3) vertices centred 0.5 m in front of the camera, faces (F, 3), corner UVs (F, 3, 2), description."""
    try:
        from handrecon.hand import HandModel

        model = HandModel(side="right")
        with torch.no_grad():
            out = model(
                global_orient=torch.zeros(1, 3),
                hand_pose=torch.zeros(1, 15, 3),
                betas=torch.zeros(1, 10),
                transl=torch.tensor([[0.0, 0.0, 0.5]]),
            )
        v = out.vertices
        centre = (v.amin(1) + v.amax(1)) / 2
        v = v - centre[:, None] + torch.tensor([0.0, 0.0, 0.5])  # bounding box centred on the optical axis
        faces = model.faces.long()
        faces_uv = model.faces_uv.long()
        if faces_uv.shape[0] != faces.shape[0]:  # the UV layout covers the wrist cap too: use the closed surface
            faces = model.faces_closed.long()
        corner_uvs = face_corner_attributes(model.uv.float(), faces_uv)
        return v.float(), faces, corner_uvs, "HandModel(side='right'), flat pose"
    except Exception as exc:  # any failure (missing asset, API change) falls back to the stand-in
        print(f"note: hand model unavailable ({type(exc).__name__}: {exc}); using a procedural ellipsoid")
        v, f, uv, fuv = uv_sphere(41, 40)
        v = v * torch.tensor([0.045, 0.09, 0.015]) + torch.tensor([0.0, 0.0, 0.5])
        return v[None], f, uv[fuv], "procedural ellipsoid (uv_sphere 41x40)"


def camera_for(vertices: torch.Tensor, size: int, fill: float = 0.8) -> PerspectiveCamera:
    """Centred camera whose image spans the mesh's larger side over `fill` of the image."""
    extent = (vertices.amax(1) - vertices.amin(1))[0, :2].max()
    f = fill * size * float(vertices[0, :, 2].mean()) / float(extent)
    return PerspectiveCamera(intrinsics(f, f, size / 2, size / 2), size, size)


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(2)
    verts, faces, corner_uvs, what = hand_mesh()
    print(f"mesh: {what}: {verts.shape[1]} vertices, {faces.shape[0]} faces; torch {torch.__version__}, 2 threads")

    cam256 = camera_for(verts, 256)
    frags = rasterize(verts, faces, cam256)
    coverage = float(frags.mask.float().mean())
    t_hard = median_ms(lambda: rasterize(verts, faces, cam256), args.runs)
    print(f"hard rasterization 256x256 (coverage {coverage:.0%}): median {t_hard:.2f} ms")

    t_render = median_ms(lambda: render_mesh(verts, faces, cam256, lighting=torch.tensor([0.5] * 8 + [0, 0, -1.0])),
                         args.runs)  # fmt: skip
    print(f"shaded render 256x256 (rasterize + per-pixel Lambert): median {t_render:.2f} ms")

    cam128 = camera_for(verts, 128)
    v_grad = verts.clone().requires_grad_(True)

    def soft_step() -> None:
        v_grad.grad = None
        soft_silhouette(v_grad, faces, cam128).sum().backward()

    t_soft = median_ms(soft_step, args.runs)
    print(f"soft silhouette 128x128 forward+backward (sigma 0.5 px^2): median {t_soft:.2f} ms")

    photo = torch.rand(1, 3, 256, 256)
    t_bake = median_ms(
        lambda: bake_uv_texture(photo, verts, faces, corner_uvs, cam256, texture_size=256, fragments=frags),
        max(5, args.runs // 3),
    )
    print(f"texture bake 256x256 photo -> 256x256 UV map (given the photo's fragments): median {t_bake:.2f} ms")
    t_bake_all = median_ms(
        lambda: bake_uv_texture(photo, verts, faces, corner_uvs, cam256, texture_size=256), max(5, args.runs // 3)
    )
    print(f"texture bake including the photo rasterization: median {t_bake_all:.2f} ms")
    t_rev = median_ms(lambda: reverse_interpolate(photo, verts, faces, cam256, fragments=frags), max(5, args.runs // 3))
    print(f"reverse interpolation + harmonic fill of hidden vertices: median {t_rev:.2f} ms")


if __name__ == "__main__":
    main()
