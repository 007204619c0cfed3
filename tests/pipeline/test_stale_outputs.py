"""Files of an earlier run that this run did not write are removed by probing their names: the same files
as a listing of the folder matched against the names handrecon writes, in a folder with other results."""

from __future__ import annotations

import re

from handrecon.pipeline.outputs import HAND_FILE_SUFFIXES, _remove_stale_outputs


def _listed_stale(folder, stem: str, keep: set[str]) -> set[str]:
    """The former way: every name of the folder matched against the output names of `stem`."""
    suffixes = "|".join(re.escape(s) for s in HAND_FILE_SUFFIXES)
    pattern = re.compile(re.escape(stem) + rf"(_hand\d+_(left|right)({suffixes})|_overlay\.png|_side\.png)")
    return {p.name for p in folder.iterdir() if p.name not in keep and pattern.fullmatch(p.name) and p.is_file()}


def _hand_files(stem: str, index: int, side: str, suffixes=HAND_FILE_SUFFIXES) -> list[str]:
    return [f"{stem}_hand{index}_{side}{s}" for s in suffixes]


def test_stale_files_of_a_stem_go_and_everything_else_stays(tmp_path):
    three = _hand_files("a", 0, "left") + _hand_files("a", 1, "right") + _hand_files("a", 2, "left")
    cases = [
        # (files of earlier runs, this run's files, this run's hand count)
        (three + ["a_overlay.png", "a_side.png"],
         _hand_files("a", 0, "left", (".ply",)) + ["a.json", "a.npz"], 1),  # fewer hands, fewer formats, no overlay
        (_hand_files("b", 0, "right"), _hand_files("b", 0, "left") + ["b_overlay.png"], 1),  # the other side
        (_hand_files("c", 0, "left"), ["c.json", "c.npz"], 0),  # no hand found this time
        (_hand_files("d", 0, "left") + _hand_files("d", 1, "left"),
         _hand_files("d", 0, "left") + _hand_files("d", 1, "right") + _hand_files("d", 2, "right"), 3),  # more hands
    ]  # fmt: skip
    others = ["a.json", "ab_hand0_left.obj", "a_hand0_left.obj.bak", "x_a_overlay.png", "a_hand0_up.obj", "notes.txt",
              "c_hand0_left.mtl.tmp", "a_hand5_left.obj"]  # fmt: skip
    for name in others:
        (tmp_path / name).write_text("other")
    (tmp_path / "b_side.png").mkdir()  # not a file: stays
    for stem, (earlier, now, hands) in zip("abcd", cases, strict=True):
        for name in earlier + now:
            (tmp_path / name).write_text("x")
        keep = set(now)
        expected = _listed_stale(tmp_path, stem, keep)
        before = {p.name for p in tmp_path.iterdir()}
        _remove_stale_outputs(tmp_path, stem, keep, hands)
        after = {p.name for p in tmp_path.iterdir()}
        assert before - after == expected - {"a_hand5_left.obj"}, stem  # index 5 after a gap: not a run's file
        assert keep <= after and set(others) <= after and (tmp_path / "b_side.png").is_dir()
    assert not any(n.startswith("a_hand2") or n.startswith("a_hand1") for n in after)
