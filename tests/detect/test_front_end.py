"""The detector front ends by name."""

import pytest

from handrecon.detect.front_end import DEFAULT_DETECTOR, FAST_MAX_HANDS, make_detector
from handrecon.io import InputError


def test_names_give_their_detectors_and_a_bad_name_a_clear_error():
    from handrecon.detect.mediapipe_hands import MediaPipeHands
    from handrecon.detect.multi_source import ThoroughHands

    assert DEFAULT_DETECTOR == "thorough"
    fast = make_detector("fast")
    assert isinstance(fast, MediaPipeHands) and fast._options["max_num_hands"] == FAST_MAX_HANDS
    thorough = make_detector("thorough", max_hands=3, min_detection_confidence=0.6)
    assert isinstance(thorough, ThoroughHands) and thorough.max_hands == 3
    assert thorough.settings.palm_min_score == 0.6
    with pytest.raises(InputError, match="unknown detector 'bogus'"):
        make_detector("bogus")


def test_cli_accepts_the_detector_option():
    from handrecon.cli import build_parser

    args = build_parser().parse_args(["reconstruct", "x.jpg", "--detector", "fast"])
    assert args.detector == "fast" and args.max_hands is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["reconstruct", "x.jpg", "--detector", "slow"])
