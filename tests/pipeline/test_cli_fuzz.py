"""The command line over a corpus of broken, odd and hostile inputs built here, mixed with one good photo:
no traceback, exactly one line per bad input, the good photo reconstructed, exit 1, no stray files."""

from __future__ import annotations

import io
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from handrecon.cli import main as cli_main
from handrecon.io import one_line

from ..io._files import png_header_only


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def build_corpus(folder: Path, photo: Path) -> list[Path]:
    """Bad or hand-less inputs, each of which must give exactly one failure line."""
    rng = np.random.default_rng(7)
    jpeg = photo.read_bytes()
    png = _encode(Image.open(photo), "PNG")
    grey = Image.fromarray(rng.integers(0, 255, (64, 80), dtype=np.uint8))
    files: dict[str, bytes] = {}
    for k, n in enumerate((0, 10, 200, 2000, len(jpeg) // 2, len(jpeg) - 20)):
        files[f"trunc_{k}.jpg"] = jpeg[:n]  # truncations at several offsets (0: an empty file)
    files["trunc.png"] = png[: len(png) // 2]
    for ext in ("jpg", "png", "webp", "bmp", "tif"):
        files[f"random.{ext}"] = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    files["random.mp4"] = rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()
    files["bomb.png"] = png_header_only(60000, 60000)  # 3.6 gigapixels declared in a few bytes
    files["sliver.png"] = png_header_only(100000, 8)
    files["tiny.png"] = _encode(Image.new("RGB", (10, 10)), "PNG")
    # odd modes that decode fine and hold no hand: "no hand found"
    files["grey16.png"] = _encode(Image.fromarray((rng.random((64, 80)) * 65535).astype(np.uint16)), "PNG")
    files["cmyk.jpg"] = _encode(grey.convert("CMYK"), "JPEG")
    files["bilevel.png"] = _encode(grey.convert("1"), "PNG")
    pal = grey.convert("P")
    files["palette_alpha.png"] = _encode(pal, "PNG", transparency=0)
    files["la.png"] = _encode(grey.convert("LA"), "PNG")
    # odd names, with bad content
    for name in ("new\nline.jpg", "tab\there.jpg", "händ ✋.jpg", "-rf.jpg", "esc\x1b[31mred.jpg", "x" * 200 + ".jpg",
                 " spaced .jpg"):  # fmt: skip
        files[name] = jpeg[:500]
    paths = []
    for name, data in files.items():
        p = folder / name
        p.write_bytes(data)
        paths.append(p)
    return paths


def test_cli_over_a_hostile_corpus_and_one_good_photo(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    good = tmp_path / "good.jpg"
    with resources.as_file(resources.files("handrecon.assets") / "demo_hand.jpg") as src:
        shutil.copyfile(src, good)
    bad = build_corpus(corpus, good)
    out = tmp_path / "out"
    code = cli_main(["reconstruct", str(corpus), str(good), "--out", str(out), "-q", "--no-texture", "--formats",
                     "ply", "--no-overlay"])  # fmt: skip
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err + cap.out
    assert code == 1
    failures = cap.err[cap.err.index("failure(s):") :].splitlines()[1:]
    assert len(failures) == len(bad), "\n".join(failures)
    for p in bad:
        assert sum(line.startswith(f"  {one_line(p)}: ") for line in failures) == 1, p
    # the good photo reconstructed, and nothing else in the output folder (hidden files included)
    assert sorted(p.name for p in out.rglob("*")) == ["good.json", "good.npz", "good_hand0_left.ply"]
