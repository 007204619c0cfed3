"""Knowledge-prior check of a landmark set: proportions, ranges of motion, 2D/3D agreement."""

import numpy as np

from handrecon.detect.hand_prior import (
    PRIOR_LIMITS,
    PriorCheck,
    _right_hand_model,
    bone_misfit,
    calibrate_limits,
    check_landmarks,
    projection_misfit,
    rom_violation,
)


def rest_hand() -> np.ndarray:
    """The hand model's mean hand at rest (OpenPose order, metres)."""
    return _right_hand_model()[2].copy()


def rotate_about(points: np.ndarray, centre: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    R = np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K
    return (points - centre) @ R.T + centre


def palm_normal(j: np.ndarray) -> np.ndarray:
    return np.cross(j[5] - j[0], j[17] - j[0])


def test_the_model_hand_itself_is_plausible_at_any_scale_and_either_side():
    rest = rest_hand()
    for w in (rest, 3.0 * rest, rest * [-1.0, 1.0, 1.0]):  # larger; mirrored (a left hand)
        assert bone_misfit(w[None], rest)[0] < 1e-9
        assert rom_violation(w[None])[0] < 0.01  # within a few degrees of every range


def test_stretched_finger_breaks_the_proportions():
    w = rest_hand()
    w[8] = w[7] + 3.0 * (w[8] - w[7])  # index fingertip bone three times too long
    assert bone_misfit(w[None], rest_hand())[0] > 0.2


def test_sideways_bend_at_a_hinge_joint_is_beyond_the_range_of_motion():
    rest = rest_hand()
    bent = rest.copy()
    # index finger bent 70 degrees sideways (in the palm's plane) at its middle joint, a hinge
    bent[[7, 8]] = rotate_about(rest[[7, 8]], rest[6], palm_normal(rest), np.radians(70))
    v_bent, v_rest = rom_violation(np.stack([bent, rest]))
    assert v_bent > 0.3 > v_rest
    assert bone_misfit(bent[None], rest)[0] < 1e-9  # lengths unchanged: only the angle is wrong


def test_projection_agrees_for_a_similarity_and_not_for_another_skeleton():
    w = rest_hand()
    a = np.radians(30)
    R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    kp = 2000.0 * w[:, :2] @ R.T + [320.0, 240.0]
    other = np.random.default_rng(0).uniform(0, 200, (21, 2))
    fit, misfit = projection_misfit(np.stack([kp, other]), np.stack([w, w]))
    assert fit < 1e-9 and misfit > 0.1


def test_check_reports_limits_and_calibration_takes_a_quantile():
    w = rest_hand()
    kp = 1000.0 * w[:, :2] + 100.0
    (c,) = check_landmarks(kp[None], w[None])
    assert c.plausible() and c.beyond() == []
    bad = PriorCheck(bone=PRIOR_LIMITS["bone"] + 0.1, rom=0.0, projection=0.0)
    assert bad.beyond() == ["bone"] and not bad.plausible()
    checks = [PriorCheck(b, 0.0, 0.0) for b in np.linspace(0.0, 1.0, 201)]
    assert calibrate_limits(checks, quantile=0.5)["bone"] == 0.5
