"""The sampler's thumb templates mean the same thumb on a rig whose thumb CMC sits elsewhere."""

from dataclasses import replace

import numpy as np
import torch

from handrecon.geometry.rotations import matrix_to_axis_angle
from handrecon.hand.anatomy import Anatomy
from handrecon.hand.model import HandModel
from handrecon.synth.scene.hand_shapes import GESTURES, GRASPS
from handrecon.synth.scene.poses import PoseSampler, draw_candidate
from handrecon.synth.scene.thumb_transfer import THUMB_CMC_ROW, ThumbTransfer, _tip_gap


def _moved_cmc_rig() -> HandModel:
    """The bundled mesh and weights with the thumb CMC's centre of rotation moved 40 % of the way to the
    wrist (as an anatomical skeleton moves it to the trapezium), marked as another skeleton."""
    asset = HandModel(dtype=torch.float64).asset
    reg = asset.j_regressor.copy()
    reg[13] = 0.6 * reg[13] + 0.4 * reg[0]
    other = replace(asset, j_regressor=reg, metadata={"provenance": {"skeleton": {"kind": "anatomical"}}})
    return HandModel(asset=other, dtype=torch.float64)


def test_transfer_is_the_identity_on_the_authoring_rig():
    model = HandModel(dtype=torch.float64)
    assert ThumbTransfer.for_model(model).is_identity
    # the sampler draws exactly what it drew before the transfer existed
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(20):
        a, name_a = draw_candidate(rng_a, PoseSampler(model).mixture, ThumbTransfer.for_model(model))
        b, name_b = draw_candidate(rng_b, PoseSampler(model).mixture)
        assert name_a == name_b and np.array_equal(a, b)


def test_pinches_close_on_a_rig_with_the_cmc_elsewhere():
    model, reference = _moved_cmc_rig(), HandModel(dtype=torch.float64)
    transfer = ThumbTransfer.for_model(model)
    assert np.abs(transfer.cmc_offset).max() > 1.0
    for name, (targets, grasp) in {"tip_pinch": ((8,), True), "ok": ((8,), False)}.items():
        shape = GRASPS[name](0.0) if grasp else GESTURES[name]
        a = shape.angles_deg()[None]
        want = float(_tip_gap(reference, a, targets)[0])
        before = float(_tip_gap(model, a, targets)[0])
        after = float(_tip_gap(model, transfer.apply(a[0], name, 0.0 if grasp else None)[None], targets)[0])
        assert abs(after - want) < 0.5e-3 < abs(before - want)
    # the CMC offset alone brings the thumb's skin closer to the authoring rig's over the templates
    fist = GESTURES["fist"].angles_deg()
    moved = fist.copy()
    moved[THUMB_CMC_ROW] += transfer.cmc_offset
    tip = {}
    for key, m, pose in (("ref", reference, fist), ("before", model, fist), ("after", model, moved)):
        R = Anatomy.from_hand_model(m).euler_to_rotations(torch.as_tensor(np.radians(pose))[None])
        tip[key] = m(hand_pose=matrix_to_axis_angle(R), joint_order="openpose").joints[0, 4]
    assert (tip["after"] - tip["ref"]).norm() < (tip["before"] - tip["ref"]).norm()
