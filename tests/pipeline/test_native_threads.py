"""Native thread pools (OpenBLAS, OpenCV) run single-threaded during a video, a photo batch and each worker
process of a batch, and get their thread counts back afterwards: their idle workers busy-wait, taking CPU
from the run's own threads and processes."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from threadpoolctl import ThreadpoolController, threadpool_info

from handrecon.pipeline.batch import BatchJob, run_batch
from handrecon.pipeline.native_threads import single_threaded_native_pools


def _counts() -> list[int]:
    """Thread counts of every loaded BLAS, then OpenCV's."""
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] + [cv2.getNumThreads()]


def _two_threads_each() -> None:
    np.linalg.solve(np.eye(3), np.ones(3))  # NumPy's OpenBLAS is loaded
    ThreadpoolController().select(user_api="blas").limit(limits=2)
    cv2.setNumThreads(2)


@pytest.fixture
def two_threads_each():
    """Every pool at 2 threads (whatever the machine's cores), the original counts restored after."""
    controller = ThreadpoolController()
    with controller.limit(limits=None, user_api="blas"):  # restores the counts of now on exit
        before_cv = cv2.getNumThreads()
        _two_threads_each()
        yield
        cv2.setNumThreads(before_cv)


def test_numpys_openblas_is_found(two_threads_each):
    numpy_dir = Path(np.__file__).parent.parent
    blas = [i for i in threadpool_info() if i["internal_api"] == "openblas"]
    assert any(Path(i["filepath"]).is_relative_to(numpy_dir) for i in blas), blas


def test_pools_are_single_threaded_inside_and_restored_after(two_threads_each):
    before = _counts()
    assert max(before[:-1]) == 2 and before[-1] == 2  # NumPy's OpenBLAS, OpenCV (a build may cap its pool at 1)
    with single_threaded_native_pools():
        assert all(n == 1 for n in _counts())
        np.linalg.solve(np.eye(40), np.ones(40))  # still works
    assert _counts() == before


def test_pools_are_restored_after_an_error_or_ctrl_c(two_threads_each):
    before = _counts()
    for error in (RuntimeError, KeyboardInterrupt):
        with pytest.raises(error), single_threaded_native_pools():
            raise error
        assert _counts() == before


def test_a_video_runs_its_stages_with_single_threaded_pools(tmp_path, reconstructor, monkeypatch, two_threads_each):
    from handrecon.pipeline.video import VideoReconstructor, reconstruct_video_file
    from tests.pipeline.test_video_pipeline import _moving_hand_video

    clip = _moving_hand_video(tmp_path / "clip.mp4", frames=2)
    seen = []
    fit = VideoReconstructor.fit

    def fitting(self, *args):
        seen.append(_counts())
        return fit(self, *args)

    monkeypatch.setattr(VideoReconstructor, "fit", fitting)
    before = _counts()
    reconstruct_video_file(reconstructor, clip, tmp_path / "out", progress=False)
    assert seen and all(n == 1 for counts in seen for n in counts)
    assert _counts() == before


class _CountingReconstructor:
    """Stands in for a HandReconstructor: loading a photo fails with the thread counts seen at that moment
    (the batch reports the failure line, also from a worker process), or with `error`."""

    def __init__(self, error: type[BaseException] | None = None):
        self.error = error

    def load(self, path):
        if self.error is not None:
            raise self.error
        raise RuntimeError(f"counts {' '.join(map(str, _counts()))}")

    def close(self):
        pass


def _counting_factory(set_two_threads: bool = False):
    """Picklable factory: a worker builds its reconstructor with every pool at 2 threads, as a loaded model
    might leave them."""
    if set_two_threads:
        _two_threads_each()
    return _CountingReconstructor()


def _photos(tmp_path: Path, n: int = 3) -> tuple[list[Path], list[str]]:
    paths = [tmp_path / f"p{i}.png" for i in range(n)]
    return paths, [p.stem for p in paths]


def _seen_counts(outcomes) -> list[list[int]]:
    lines = [f for o in outcomes for f in o.failures]
    assert len(lines) == len(outcomes) and all("counts " in line for line in lines), lines
    return [[int(n) for n in line.rsplit("counts ", 1)[1].split()] for line in lines]


def test_a_photo_batch_runs_with_single_threaded_pools_and_restores_them(tmp_path, two_threads_each):
    job = BatchJob(_counting_factory, {}, tmp_path / "out", ())
    inputs, stems = _photos(tmp_path)
    before = _counts()
    outcomes = list(run_batch(job, inputs, stems, workers=1, rec_factory=lambda job: _CountingReconstructor()))
    seen = _seen_counts(outcomes)
    assert len(seen) == 3 and all(n == 1 for counts in seen for n in counts)
    assert _counts() == before


def test_a_photo_batch_restores_the_pools_after_ctrl_c_or_an_early_stop(tmp_path, two_threads_each):
    job = BatchJob(_counting_factory, {}, tmp_path / "out", ())
    inputs, stems = _photos(tmp_path)
    before = _counts()
    with pytest.raises(KeyboardInterrupt):
        list(run_batch(job, inputs, stems, rec_factory=lambda job: _CountingReconstructor(KeyboardInterrupt)))
    assert _counts() == before
    batch = run_batch(job, inputs, stems, rec_factory=lambda job: _CountingReconstructor())
    next(batch)
    assert all(n == 1 for n in _counts())  # still inside the batch
    batch.close()
    assert _counts() == before


WORKER_RUN = """
import json
import sys
from pathlib import Path
from handrecon.pipeline.batch import BatchJob, run_batch
from tests.pipeline.test_native_threads import _counting_factory, _photos, _seen_counts
tmp = Path(sys.argv[1])
job = BatchJob(_counting_factory, {"set_two_threads": True}, tmp / "out", ())
inputs, stems = _photos(tmp, 4)
print(json.dumps(_seen_counts(list(run_batch(job, inputs, stems, workers=2)))))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forkserver workers import the test module")
def test_each_worker_process_runs_with_single_threaded_pools(tmp_path):
    # in a fresh interpreter: the pool's fork server then lives and ends with it, not with the test session
    import json
    import subprocess

    root = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "-c", WORKER_RUN, str(tmp_path)], cwd=root, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(seen) == 4 and all(n == 1 for counts in seen for n in counts)


def test_a_call_of_the_api_runs_with_single_threaded_pools_and_restores_them(two_threads_each):
    from handrecon.pipeline.native_threads import single_threaded_pools_for_a_call

    before = _counts()
    with single_threaded_pools_for_a_call():
        assert all(n == 1 for n in _counts())
        with single_threaded_pools_for_a_call():  # nested (a photo's fit inside the photo)
            assert all(n == 1 for n in _counts())
        assert all(n == 1 for n in _counts())  # the outer call is still inside
    assert _counts() == before
    for error in (RuntimeError, KeyboardInterrupt):
        with pytest.raises(error), single_threaded_pools_for_a_call():
            raise error
        assert _counts() == before


def test_calls_from_two_threads_share_one_limit_until_the_last_leaves(two_threads_each):
    import threading

    from handrecon.pipeline.native_threads import single_threaded_pools_for_a_call

    before = _counts()
    errors = []

    def other_call():  # enters and leaves while this thread's call is inside
        try:
            with single_threaded_pools_for_a_call():
                pass
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    with single_threaded_pools_for_a_call():
        thread = threading.Thread(target=other_call)
        thread.start()
        thread.join()
        assert all(n == 1 for n in _counts())  # the other call left first: nothing restored yet
    assert not errors
    assert _counts() == before


def test_a_photo_of_the_api_fits_with_single_threaded_pools_and_the_commands_hands(two_threads_each, monkeypatch):
    from importlib import resources

    from handrecon.api import HandReconstructor
    from handrecon.fit.refine import HandFitter

    rec = HandReconstructor(detector="fast")
    seen = []
    fit = HandFitter.fit

    def recording(self, *args, **kwargs):
        seen.append(_counts())
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(HandFitter, "fit", recording)
    demo = str(resources.files("handrecon.assets") / "demo_hand.jpg")
    try:
        before = _counts()
        api = rec.reconstruct(demo)
        assert seen and all(n == 1 for counts in seen for n in counts)
        assert _counts() == before
        with single_threaded_native_pools():  # as the command runs its photos
            command = rec.reconstruct(demo)
    finally:
        rec.close()
    assert api and len(api) == len(command)
    for a, b in zip(api, command, strict=True):
        for name in ("joints_3d", "vertices", "texture", "vertex_colors", "hand_pose", "betas", "transl"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
