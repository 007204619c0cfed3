"""Temporal filtering and hand identities in video."""

import numpy as np

from handrecon.detect.types import HandDetection
from handrecon.pipeline.tracking import HandTracker, OneEuroFilter


def test_one_euro_filter_removes_jitter_when_still_and_follows_motion():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.05)
    still = [f(np.array([100.0]) + rng.normal(0, 2.0, 1), t / 30) for t in range(120)]
    assert np.std(np.array(still[30:])) < 1.0  # raw noise std 2 px: at least halved
    f2 = OneEuroFilter(min_cutoff=1.0, beta=0.05)
    ramp = [f2(np.array([10.0 * t]), t / 30)[0] for t in range(60)]
    assert abs(ramp[-1] - 590.0) < 15  # small lag at 300 px/s


def _det(offset: float, side: str) -> HandDetection:
    kp = np.stack([np.linspace(0, 100, 21), np.linspace(0, 50, 21)], 1) + offset
    return HandDetection(keypoints=kp, world=np.zeros((21, 3)), handedness=side, handedness_score=1.0)


def test_tracker_keeps_identities_through_swaps_and_gaps():
    tr = HandTracker(max_missing=3)
    a, b = _det(0, "right"), _det(400, "left")
    tr.update([a, b], 0, 0.0)
    ids0 = (a.track_id, b.track_id)
    # next frame: detector returns them in the other order, slightly moved
    b1, a1 = _det(405, "left"), _det(3, "right")
    tr.update([b1, a1], 1, 1 / 30)
    assert (a1.track_id, b1.track_id) == ids0
    # the right hand disappears for two frames, then comes back
    tr.update([_det(410, "left")], 2, 2 / 30)
    tr.update([_det(412, "left")], 3, 3 / 30)
    a4 = _det(6, "right")
    tr.update([a4, _det(414, "left")], 4, 4 / 30)
    assert a4.track_id == ids0[0]
    # a far-away new hand gets a new id
    c = _det(2000, "right")
    tr.update([c], 5, 5 / 30)
    assert c.track_id not in ids0


def test_tracker_pairs_by_least_total_distance_and_one_hand_without_scipy():
    import subprocess
    import sys

    tr = HandTracker()
    a, b = _det(0, "right"), _det(30, "right")
    tr.update([a, b], 0, 0.0)
    # each new detection is nearer the other track's hand than a global pairing would allow
    c, d = _det(16, "right"), _det(44, "right")
    tr.update([c, d], 1, 1 / 30)
    assert (c.track_id, d.track_id) == (a.track_id, b.track_id)  # total 16 + 14 beats 14 + 44
    one = HandTracker()
    e = _det(0, "left")
    one.update([e], 0, 0.0)
    f = _det(2, "left")
    one.update([f], 1, 1 / 30)
    assert f.track_id == e.track_id
    # the usual frame (one hand, one track) needs no assignment solver: SciPy's import (~0.6 s) is saved
    code = (
        "import sys, numpy as np\n"
        "from tests.pipeline.test_tracking import _det\n"
        "from handrecon.pipeline.tracking import HandTracker\n"
        "t = HandTracker()\n"
        "for i in range(3): t.update([_det(i, 'left')], i, i / 30)\n"
        "print('scipy.optimize' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
