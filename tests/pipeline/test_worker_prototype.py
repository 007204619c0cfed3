"""The workers' reconstructor built once in the fork server (`pipeline.worker_prototype`): a worker takes it
only for the same factory and settings, the server stays single-threaded while building it, and a folder
run with workers writes the same bytes as one without."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from PIL import Image

from handrecon.commands.reconstruct import build_reconstructor
from handrecon.pipeline import worker_prototype
from handrecon.pipeline.worker_prototype import PROTOTYPE_ENV, prototype_key, server_environment, take


def test_the_key_names_the_factory_and_writes_paths_as_text():
    a = prototype_key(build_reconstructor, {"mano_dir": Path("/m"), "detector": "thorough"})
    b = prototype_key(build_reconstructor, {"detector": "thorough", "mano_dir": "/m"})
    assert a == b and "handrecon.commands.reconstruct:build_reconstructor" in a
    assert prototype_key(build_reconstructor, {"detector": "fast"}) != a


def test_factories_the_server_cannot_import_by_name_get_no_prototype():
    def local(**kw):
        return kw

    assert prototype_key(local, {}) is None
    assert prototype_key(lambda **kw: kw, {}) is None
    assert prototype_key(build_reconstructor, {"camera": object()}) is None  # not a setting
    assert server_environment(local, {}) == {}


def test_a_worker_takes_the_prototype_once_and_only_for_its_own_settings(monkeypatch):
    settings = {"detector": "thorough", "texture": False}
    made = object()
    monkeypatch.setattr(worker_prototype, "_PROTOTYPE", (prototype_key(build_reconstructor, settings), made))
    assert take(build_reconstructor, {**settings, "texture": True}) is None  # other settings: build your own
    monkeypatch.setattr(worker_prototype, "_PROTOTYPE", (prototype_key(build_reconstructor, settings), made))
    assert take(build_reconstructor, dict(settings)) is made
    assert take(build_reconstructor, dict(settings)) is None  # taken


def test_outside_the_fork_server_nothing_is_built(monkeypatch):
    monkeypatch.setenv(PROTOTYPE_ENV, prototype_key(build_reconstructor, {}))
    assert worker_prototype.build_in_fork_server() is False


SERVER = """
import json, os, sys
from concurrent.futures import ProcessPoolExecutor
from handrecon.commands.reconstruct import build_reconstructor
from handrecon.pipeline import batch

settings = json.loads(sys.argv[1])

def probe(asked):
    from handrecon.pipeline import worker_prototype
    from handrecon.priors import penetration
    built = worker_prototype._PROTOTYPE is not None
    rec = worker_prototype.take(build_reconstructor, asked)
    warmed = rec is not None and all(m in penetration._CACHE for m in rec.pipeline.fitter.models.values())
    threads = [(d.threads, d._interp is not None) for d in _litert_models(rec)] if rec is not None else []
    server_threads = len(os.listdir(f"/proc/{os.getppid()}/task"))
    return built, rec is not None, warmed, sorted(set(threads)), server_threads

def _litert_models(rec):
    from handrecon.detect.litert import TFLiteModel
    seen, todo, out = set(), [rec.pipeline.detector], []
    while todo:
        o = todo.pop()
        if id(o) in seen or not hasattr(o, "__dict__"):
            continue
        seen.add(id(o))
        if isinstance(o, TFLiteModel):
            out.append(o)
        todo += [v for v in vars(o).values() if hasattr(v, "__dict__")]
    return out

if __name__ == "__main__":
    batch.start_worker_server(build_reconstructor, settings)
    ctx = batch._worker_context()
    with ProcessPoolExecutor(1, mp_context=ctx) as pool:
        same = pool.submit(probe, settings).result()
    with ProcessPoolExecutor(1, mp_context=ctx) as pool:
        other = pool.submit(probe, {**settings, "texture": True}).result()
    print(json.dumps([same, other, os.environ.get("HANDRECON_WORKER_PROTOTYPE")]))
"""


@pytest.mark.parametrize("detector", ["thorough", "fast"])
def test_the_fork_server_builds_the_prototype_single_threaded_and_its_workers_take_it(tmp_path, detector):
    if not sys.platform.startswith("linux"):
        pytest.skip("the fork server is what Linux runs (`batch._worker_context`)")
    import json

    script = tmp_path / "server_probe.py"
    script.write_text(SERVER)
    settings = {"detector": detector, "texture": False, "model": "openhand"}
    r = subprocess.run([sys.executable, str(script), json.dumps(settings)], capture_output=True, text=True,
                       timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    same, other, env_after = json.loads(r.stdout.splitlines()[-1])
    built, taken, warmed, threads, server_threads = same
    assert built and taken and warmed
    assert server_threads == 1  # it forks: no thread may run in it
    if detector == "thorough":
        # a worker's LiteRT thread count (not the lone process's), interpreters made in the server
        assert threads == [[1, True]]
    assert other[0] is True and other[1] is False  # a later job with other settings builds its own
    assert env_after is None  # the setting went to the server only


def test_settings_the_reconstructor_refuses_leave_no_prototype_and_the_workers_build_their_own(tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("the fork server is what Linux runs (`batch._worker_context`)")
    import json

    script = tmp_path / "server_probe.py"
    script.write_text(SERVER)
    settings = {"detector": "no-such-detector", "texture": False}  # HandReconstructor raises SettingError
    r = subprocess.run([sys.executable, str(script), json.dumps(settings)], capture_output=True, text=True,
                       timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr  # the server lives on
    same, _, _ = json.loads(r.stdout.splitlines()[-1])
    assert same[:2] == [False, False]


def _folder(root: Path) -> Path:
    folder = root / "inputs"
    folder.mkdir()
    with resources.as_file(resources.files("handrecon.assets") / "demo_hand.jpg") as src:
        for k in range(2):
            shutil.copyfile(src, folder / f"left_{k}.jpg")
            Image.open(src).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / f"right_{k}.jpg")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return folder


def test_workers_from_the_prototype_write_the_same_bytes_as_one_process(tmp_path):
    folder = _folder(tmp_path)
    outs = {}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        cmd = [sys.executable, "-m", "handrecon.cli", "reconstruct", str(folder), "--out", str(out), "-q",
               "--workers", str(workers), "--no-overlay", "--no-texture", "--formats", "obj"]  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert r.returncode == 1 and "broken.jpg" in r.stderr and "Traceback" not in r.stderr, r.stderr
        outs[workers] = out
    names = sorted(p.relative_to(outs[1]) for p in outs[1].rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(outs[2]) for p in outs[2].rglob("*") if p.is_file())
    assert len([n for n in names if n.suffix == ".json"]) == 4
    assert all(filecmp.cmp(outs[1] / n, outs[2] / n, shallow=False) for n in names)
