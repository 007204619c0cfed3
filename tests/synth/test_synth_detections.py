"""The simulated detector: noise grows with occlusion and blur, confidences follow the error."""

import numpy as np

from handrecon.synth.detections import DetectorNoise, simulate_detection
from handrecon.synth.joint_occlusion import Occlusion

SIZE = 224


def _hand(rng) -> np.ndarray:
    return 60 + rng.uniform(0, 100, (21, 2))


def _errors(code: int, blur: float = 0.0, n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    quiet = DetectorNoise(outlier_prob=(0.0,) * 4, swap_prob=0.0, swap_occlusion=0.0, miss_prob=0.0)
    err, conf = [], []
    for _ in range(n):
        uv = _hand(rng)
        d = simulate_detection(rng, uv, np.full(21, code, np.int8), (SIZE, SIZE), blur, 0.0, quiet)
        err.append(np.linalg.norm(d.keypoints - uv, axis=1))
        conf.append(d.confidence)
    return np.concatenate(err), np.concatenate(conf)


def test_noise_grows_and_confidence_falls_with_occlusion():
    stats = [_errors(int(c)) for c in (Occlusion.VISIBLE, Occlusion.SELF, Occlusion.OTHER)]
    errors = [np.median(e) for e, _ in stats]
    confs = [np.median(c) for _, c in stats]
    assert errors[0] < errors[1] < errors[2]
    assert confs[0] > confs[1] > confs[2]
    # Visible joints of a ~100 px hand: about 1-2 px of error, as a good detector.
    assert 0.5 < errors[0] < 3.0


def test_blur_increases_the_noise():
    sharp, _ = _errors(int(Occlusion.VISIBLE))
    blurred, _ = _errors(int(Occlusion.VISIBLE), blur=4.0)
    assert np.median(blurred) > 1.5 * np.median(sharp)


def test_confidence_tracks_the_error_of_each_joint():
    err, conf = _errors(int(Occlusion.SELF))
    assert np.corrcoef(err, conf)[0, 1] < -0.3


def test_outliers_and_swaps_get_low_confidence_and_stay_in_the_image():
    rng = np.random.default_rng(1)
    model = DetectorNoise(outlier_prob=(1.0,) * 4, swap_prob=1.0)
    uv = _hand(rng)
    uv[0] = (-30.0, 250.0)  # a truncated joint outside the image
    occ = np.zeros(21, np.int8)
    occ[0] = Occlusion.TRUNCATED
    d = simulate_detection(rng, uv, occ, (SIZE, SIZE), model=model)
    assert d.outliers.all() and d.swapped is not None
    assert (d.confidence <= 0.35).all()
    assert (d.keypoints >= 0).all() and (d.keypoints <= SIZE).all()


def test_samples_carry_detections_for_every_hand(samples):
    seen, hidden = [], []
    for s in samples:
        k = s.num_hands
        assert np.isfinite(s.detections[:k]).all() and np.isnan(s.detections[k:]).all()
        assert ((s.confidence[:k] >= 0) & (s.confidence[:k] <= 1)).all()
        seen.append(s.confidence[:k][s.visible[:k]])
        hidden.append(s.confidence[:k][~s.visible[:k]])
    seen, hidden = np.concatenate(seen), np.concatenate(hidden)
    assert len(seen) > 20 and len(hidden) > 20
    assert seen.mean() > hidden.mean() + 0.15
