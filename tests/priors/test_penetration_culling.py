"""The self-penetration test's culling is conservative: on many poses (the synthetic pose sampler's fists,
pinches, grasps and free articulations, random poses within and far beyond the ranges of motion, random
shapes, orientations and placements) the fast path (slab bounds, both stages in one batch, triangle terms
for the chunks in use) finds exactly the inside vertices, nearest vertices and depths of the full
evaluation, in which every vertex is evaluated against every part it may be inside of (no bounds)."""

import numpy as np
import pytest
import torch

from handrecon.geometry import closed_parts
from handrecon.geometry.rotations import matrix_to_axis_angle
from handrecon.hand import HandModel
from handrecon.hand.anatomy import Anatomy
from handrecon.hand.rom import range_of_motion
from handrecon.priors import penetration as pn
from handrecon.synth.scene.hand_shapes import GESTURES, GRASPS
from handrecon.synth.scene.poses import PoseMixture, draw_candidate, jitter, project_to_ranges
from handrecon.synth.scene.thumb_transfer import ThumbTransfer

F64 = torch.float64


@pytest.fixture(scope="module", params=["right", "left"])
def model(request):
    return HandModel(side=request.param, dtype=F64)


def _angle_sets(model, rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(15, 3) degree sets, to be projected into the functional ranges: fists, pinches and grasps of the
    sampler (jittered), sampler draws, uniform poses in the ranges of motion; and extreme sets, left
    unprojected: uniform poses pushed 1.6x beyond the ranges, and a fist bent 1.5x further."""
    thumb, mixture = ThumbTransfer.for_model(model), PoseMixture()
    sets = [jitter(thumb.apply(GESTURES[n].angles_deg(), n, None), rng, mixture) for n in ("fist", "claw")]
    for name, size in (("tip_pinch", 0.0), ("lateral_pinch", 0.5), ("tripod", 0.0), ("spherical", 1.0)):
        sets.append(jitter(thumb.apply(GRASPS[name](size).angles_deg(), name, size), rng, mixture))
    sets += [draw_candidate(rng, mixture, thumb)[0] for _ in range(3)]
    rom = np.degrees(range_of_motion(F64).numpy())  # (15, 3, 2)
    sets += [rng.uniform(rom[..., 0], rom[..., 1]) for _ in range(2)]
    extreme = [1.6 * rng.uniform(rom[..., 0], rom[..., 1]) for _ in range(3)]
    extreme.append(1.5 * thumb.apply(GESTURES["fist"].angles_deg(), "fist", None))
    return sets, extreme


def _vertices(model, angles_deg: list[np.ndarray], rng: np.random.Generator, project: bool) -> torch.Tensor:
    """Posed meshes (N, V, 3) at random shapes, orientations and translations."""
    anatomy, rom = Anatomy.from_hand_model(model), range_of_motion(F64)
    a = torch.as_tensor(np.radians(np.stack(angles_deg)), dtype=F64)
    if project:
        a = project_to_ranges(a, rom)
    n = a.shape[0]
    out = model(
        global_orient=torch.as_tensor(rng.normal(size=(n, 3)) * 1.5, dtype=F64),
        hand_pose=matrix_to_axis_angle(anatomy.euler_to_rotations(a)),
        betas=torch.as_tensor(rng.normal(size=(n, model.num_betas)), dtype=F64),
        transl=torch.as_tensor(rng.normal(size=(n, 3)) * 0.2, dtype=F64),
    )
    return out.vertices.detach()


def _full_evaluation(x: torch.Tensor, model, monkeypatch) -> pn.SelfPenetration:
    """`self_penetration` with nothing culled: every pair a stage may need is evaluated, in the two separate
    stages of `part_winding_numbers` and `vertex_sheets`."""
    with monkeypatch.context() as m:
        m.setattr(closed_parts.PosedParts, "_candidates", lambda self, points: np.ones(
            (self.vertices.shape[0], self.parts.num_pieces, self.vertices.shape[1]), dtype=bool))  # fmt: skip
        m.setattr(closed_parts.PosedParts, "_dop_test", lambda self, points, pairs: np.ones(len(pairs), dtype=bool))

        def two_stages(self, allowed):
            parts = self.part_winding_numbers(allowed=allowed)
            inside = parts.amax(-1) >= 1
            if inside.any():
                inside &= self.vertex_sheets(inside, known=parts, known_parts=allowed) >= 1
            return inside

        m.setattr(closed_parts.PosedParts, "enclosed_vertices", two_stages)
        return pn.self_penetration(x, model)


def test_culled_inside_test_equals_the_full_evaluation(model, monkeypatch):
    rng = np.random.default_rng(11 if model.side == "right" else 12)
    sets, extreme = _angle_sets(model, rng)
    x = torch.cat([_vertices(model, sets, rng, project=True), _vertices(model, extreme, rng, project=False)])
    penetrating = 0
    singles = []
    for i in range(x.shape[0]):  # one hand at a time, as the fit asks
        fast = pn.self_penetration(x[i : i + 1], model)
        full = _full_evaluation(x[i : i + 1], model, monkeypatch)
        assert torch.equal(fast.inside, full.inside), i
        assert torch.equal(fast.nearest, full.nearest), i
        assert torch.equal(fast.distance, full.distance), i
        penetrating += int(fast.inside.any())
        singles.append(fast)
    # batched (the pose sampler and the training losses) as one hand at a time
    batched = pn.self_penetration(x, model)
    assert torch.equal(batched.inside, torch.cat([f.inside for f in singles]))
    assert torch.equal(batched.nearest, torch.cat([f.nearest for f in singles]))
    # the poses exercise the test: many penetrate (the extreme ones above all), some do not
    assert x.shape[0] // 4 <= penetrating < x.shape[0], penetrating


def test_slab_bounds_hold_every_piece_and_cut_pairs(model):
    """The slabs bound each piece's points (mesh vertices and cap apexes) with margin, the first three are
    the axes (the box test), and on a fist they leave out most (vertex, part) pairs."""
    D = closed_parts._DOP_DIRECTIONS
    assert np.allclose(D[:3], np.eye(3)) and np.allclose(np.linalg.norm(D, axis=1), 1.0)
    assert np.abs(D[3:] @ D[3:].T - np.eye(len(D) - 3)).max() < 0.999  # no two slabs alike
    rng = np.random.default_rng(3)
    thumb = ThumbTransfer.for_model(model)
    x = _vertices(model, [thumb.apply(GESTURES["fist"].angles_deg(), "fist", None)], rng, project=True)
    col = pn.collider_for(model)
    posed = col.parts.pose(x)
    mid, half = posed._slabs()
    ext = col.parts._extended(posed.vertices)[0]
    proj = (ext - posed.vertices[0, :1]) @ torch.from_numpy(D).T  # (V + L, D)
    for k in range(col.parts.num_pieces):
        ids = torch.as_tensor(np.unique(col.parts.chunk_points[col.parts.chunk_start[k]].numpy()))
        for c in range(1, int(col.parts.chunk_count[k])):
            ids = torch.cat([ids, col.parts.chunk_points[col.parts.chunk_start[k] + c]])
        slack = (proj[ids] - mid[0, :, k].double()).abs() - half[0, :, k].double()
        assert slack.max() < 0, k
    cand = posed._candidates(None)
    pairs = np.flatnonzero(cand)
    kept = posed._dop_test(None, pairs)
    assert cand.mean() < 0.3 and kept.mean() < 0.9
