"""Per-joint visibility agrees with depth tests: an independent ray cast against the scene's meshes, and
constructed scenes whose answer is known (a wall in front of the hand, a hand half out of the image)."""

import dataclasses

import numpy as np
import pytest
import torch

from handrecon.synth.compose import PRIMARY, PRIMARY_ARM, SECOND_ARM
from handrecon.synth.joint_occlusion import Occlusion
from handrecon.synth.scene.occluders import VERTICES, Occluder, fan_faces


def _ray_triangle_distances(dirs: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Moeller-Trumbore: distance (R, F) along rays from the origin with unit directions (R, 3) to
    triangles (F, 3, 3), inf where a ray misses (float64)."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    e1, e2 = b - a, c - a
    p = np.cross(dirs[:, None], e2[None])  # (R, F, 3)
    det = (e1[None] * p).sum(-1)
    inv = 1.0 / np.where(np.abs(det) < 1e-15, np.nan, det)
    s = -a[None]
    u = (s * p).sum(-1) * inv
    q = np.cross(s, e1[None])
    v = (dirs[:, None] * q).sum(-1) * inv
    t = (e2[None] * q).sum(-1) * inv
    hit = (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
    return np.where(hit, t, np.inf)


def _ray_cast_codes(engine, scene, sample, hand: int, object_meshes):
    """Reference codes and the margin (metres) of the depth comparison, from trimesh ray casting."""
    meshes = object_meshes(engine, scene)
    tri, owner, offset = [], [], 0
    verts = []
    for label, v, f in meshes:
        verts.append(np.asarray(v, np.float64))
        tri.append(np.asarray(f) + offset)
        owner += [label] * len(f)
        offset += len(v)
    V = np.concatenate(verts)
    T = V[np.concatenate(tri)]  # (F, 3, 3)
    owner = np.asarray(owner)
    joints = sample.joints3d[hand].astype(np.float64)
    dirs = joints / np.linalg.norm(joints, axis=1, keepdims=True)
    hit_t = _ray_triangle_distances(dirs, T)  # (21, F) distance along each ray, inf where missed
    tol = engine.tolerance
    codes, margin = np.zeros(21, np.int8), np.full(21, np.inf)
    own = {PRIMARY + hand, PRIMARY_ARM if hand == 0 else SECOND_ARM}
    for j in range(21):
        f = int(np.argmin(hit_t[j]))
        if not np.isfinite(hit_t[j, f]):
            continue
        z = hit_t[j, f] * dirs[j, 2]
        margin[j] = abs(z - (joints[j, 2] - tol[j]))
        if z < joints[j, 2] - tol[j]:
            codes[j] = Occlusion.SELF if owner[f] in own else Occlusion.OTHER
    return codes, margin


def test_visibility_agrees_with_ray_casting(engine, object_meshes):
    compared = 0
    for i in range(8):
        scene = engine.scene(i)
        s = engine.label(scene)
        for k in range(s.num_hands):
            ref, margin = _ray_cast_codes(engine, scene, s, k, object_meshes)
            uv = s.joints2d[k]
            size = s.image.shape[0]
            inside = (uv >= 0).all(1) & (uv < size).all(1)
            assert (s.occlusion[k][~inside] == Occlusion.TRUNCATED).all()
            # Away from silhouettes (where a pixel centre and the exact ray may see different surfaces) and
            # from the tolerance boundary, the z-buffer test must give the ray cast's answer.
            col = np.clip(np.floor(uv[:, 0]).astype(int), 0, size - 1)
            row = np.clip(np.floor(uv[:, 1]).astype(int), 0, size - 1)
            lab = s.objects
            pad = np.pad(lab, 1, mode="edge")
            flat = np.array([np.unique(pad[r : r + 3, c : c + 3]).size == 1 for r, c in zip(row, col, strict=True)])
            ok = inside & (margin > 0.002) & flat
            np.testing.assert_array_equal(s.occlusion[k][ok], ref[ok])
            compared += int(ok.sum())
    assert compared >= 80


def test_a_wall_in_front_of_the_hand_hides_every_joint(engine):
    scene = engine.scene(1)
    s0 = engine.label(scene)
    assert (s0.occlusion[0] == Occlusion.VISIBLE).any()
    z = float(scene.hands[0].vertices[:, 2].min()) * 0.8
    # A sheet (fan) covering the whole field of view at depth z, wound towards the camera as occluders are.
    a = -np.arange(VERTICES - 1) * 2 * np.pi / (VERTICES - 1)
    rim = np.stack([10 * z * np.cos(a), 10 * z * np.sin(a), np.full_like(a, z)], 1)
    wall = Occluder(np.concatenate([[[0.0, 0.0, z]], rim]), torch.full((4, 8, 8), 0.5), "ellipse", "flat")
    s = engine.label(dataclasses.replace(scene, occluders=[wall]))
    inside = s0.occlusion[0] != Occlusion.TRUNCATED
    assert (s.occlusion[0][inside] == Occlusion.OTHER).all()
    assert (s.objects == 3).all()
    assert fan_faces().shape[0] == VERTICES - 1


@pytest.mark.parametrize("shift", [0.5, -0.5])
def test_joints_outside_the_image_are_truncated(engine, shift):
    scene = engine.scene(2)
    h = scene.hands[0]
    size = engine.config.size
    # Move the hand sideways by half the image width at its depth.
    dx = shift * size * float(h.joints[:, 2].mean()) / float(scene.K[0, 0])
    moved = dataclasses.replace(
        h, vertices=h.vertices + [dx, 0, 0], joints=h.joints + [dx, 0, 0],
        arm=dataclasses.replace(h.arm, vertices=h.arm.vertices + [dx, 0, 0]),
    )  # fmt: skip
    s = engine.label(dataclasses.replace(scene, hands=[moved], occluders=[]))
    uv = s.joints2d[0]
    out = ~((uv >= 0).all(1) & (uv < size).all(1))
    assert out.any()
    np.testing.assert_array_equal(s.occlusion[0] == Occlusion.TRUNCATED, out)
