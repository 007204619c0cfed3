"""A batch on a Ray cluster (Ray Data): the paths become a dataset, a pool of actors (each holding its own
models, one CPU each) maps `process_input` over it, and the outcomes stream back to the caller, who
reports them as a local batch does. Optional: `pip install "handrecon[ray]"`.

Every node must see the input paths and write to the output folder under the same names (a shared file
system), since each actor reads and writes files itself; nothing but the outcomes travels through Ray.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from handrecon.io import SettingError
from handrecon.pipeline.batch import COMPUTE_THREADS, BatchJob, InputOutcome, make_reconstructor, process_input


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise SettingError("--ray", 'needs Ray: pip install "handrecon[ray]"') from e
    return ray


class _ReconstructRows:
    """Ray Data actor: one reconstructor per actor, one input per row."""

    def __init__(self, job: BatchJob) -> None:
        import os

        import torch

        from handrecon.io.native_stderr import silence_native_stderr

        silence_native_stderr()
        torch.set_num_threads(COMPUTE_THREADS)
        # an actor holds one CPU, like a `--workers` process: one thread per detector interpreter (see
        # detect/litert.py's interpreter_threads), unless the user chose otherwise
        os.environ.setdefault("HANDRECON_LITERT_THREADS", "1")
        self.job = job
        self.rec = make_reconstructor(job)

    def __call__(self, batch: dict) -> dict:
        rows = {"index": [], "written": [], "message": [], "failures": []}
        for i, path, stem in zip(batch["index"], batch["path"], batch["stem"], strict=True):
            o = process_input(self.rec, self.job, int(i), Path(str(path)), str(stem))
            rows["index"].append(o.index)
            rows["written"].append(o.written)
            rows["message"].append(o.message)
            rows["failures"].append("\n".join(o.failures))  # failure lines are single lines
        return rows


def run_on_ray(
    job: BatchJob, inputs: Sequence[Path], stems: Sequence[str], address: str | None, actors: int | None = None
) -> Iterator[InputOutcome]:
    """Outcomes of every input, reconstructed by `actors` Ray actors (default: the cluster's CPUs), in
    the order they finish. `address`: a Ray cluster ("auto", "ray://host:10001"), "local" for a Ray
    instance on this machine, or None for the one this process already joined."""
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        ray.init(
            address=None if address in (None, "local") else address,
            log_to_driver=False,
            logging_level=logging.ERROR,  # the command prints its own lines
        )
        started = True
    try:
        if actors is None:
            actors = max(1, int(ray.cluster_resources().get("CPU", 1)))
        actors = max(1, min(actors, len(inputs)))
        ray.data.DataContext.get_current().enable_progress_bars = False  # the command draws its own
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        items = [{"index": i, "path": str(p), "stem": s} for i, (p, s) in enumerate(zip(inputs, stems, strict=True))]
        ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            _ReconstructRows,
            fn_constructor_kwargs={"job": job},
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=1,
        )
        for row in ds.iter_rows():
            failures = [line for line in str(row["failures"]).split("\n") if line]
            yield InputOutcome(int(row["index"]), bool(row["written"]), str(row["message"]), failures)
    finally:
        if started:
            ray.shutdown()
