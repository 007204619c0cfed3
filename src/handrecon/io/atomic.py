"""Atomic file writes: a file handrecon writes is either complete or absent.

Data goes to a temporary file in the target's directory (so the final `os.replace` is a rename within
one file system, which POSIX and Windows make atomic), is flushed to disk with fsync, and only then
takes the target's name. Any exception, KeyboardInterrupt included, removes the temporary file and
leaves an existing target untouched. A process killed outright (SIGKILL, power loss) cannot clean up:
temporary names carry the writer's process id, and `remove_stale_temporaries` removes those whose writer
is gone (the command line does it for its output folder at start). The files of one result (a photo's
meshes, images, NPZ and JSON) are committed together by `atomic_group`: all or none, with one fsync burst.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import errno
import io
import json
import math
import os
import re
import secrets
import sys
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from handrecon.io.errors import InputError
from handrecon.io.json_text import dumps_indented


def reserve_temp(target: str | os.PathLike) -> Path:
    """Create an empty, hidden temporary file next to `target`, ending in the target's suffix.

    The suffix is kept because some writers (OpenCV, Pillow given a path) pick the format from it; the
    file is created with mode 0o666 so the umask applies as for any ordinary file (mkstemp would make
    it private).
    """
    target = Path(target)
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{target.suffix}")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"could not create a temporary file next to {target}")


# ".<target name>.<pid>-<8 hex>.tmp<target suffix>", as `reserve_temp` names them
_TEMP_NAME = re.compile(r"^\..+\.(?P<pid>\d+)-[0-9a-f]{8}\.tmp(\.[^.]*)?$", re.DOTALL)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM  # exists, owned by someone else
    return True


def remove_stale_temporaries(folder: str | os.PathLike, own_too: bool = False, max_depth: int = 2) -> list[Path]:
    """Remove the temporary files `reserve_temp` left in `folder` (and its sub-folders down to `max_depth`
    levels: a video's frames/ folder is at 2) when their writer was killed: those whose process is gone (and
    this process's own with `own_too`, for a fresh start). Other files, and the temporaries of writers
    still running, are never touched. Returns what was removed."""
    removed: list[Path] = []
    root = Path(folder)
    if not root.is_dir():
        return removed
    candidates: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if len(Path(dirpath).relative_to(root).parts) >= max_depth:
            dirnames.clear()
        candidates += [Path(dirpath) / n for n in filenames if n.startswith(".") and ".tmp" in n]
    for p in candidates:
        m = _TEMP_NAME.match(p.name)
        if m is None or not p.is_file() or p.is_symlink():
            continue
        pid = int(m.group("pid"))
        if (own_too and pid == os.getpid()) or not _process_alive(pid):
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
    return removed


def prepare_output_dir(path: str | os.PathLike) -> Path:
    """Create the output folder (with its parents) and prove it takes files, before any work is done;
    `InputError` naming it otherwise (a file in the way, no permission, a read-only or virtual file system)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(p, "output folder is an existing file")
    try:
        p.mkdir(parents=True, exist_ok=True)
        probe = reserve_temp(p / "write-test")
        try:
            with open(probe, "wb") as f:
                f.write(b"ok")
        finally:
            probe.unlink(missing_ok=True)
    except OSError as e:
        raise InputError(p, f"cannot write to the output folder ({e.strerror or type(e).__name__})") from e
    return p


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself; directories cannot be opened for fsync on Windows."""
    if os.name == "nt":
        return
    with contextlib.suppress(OSError):  # some file systems refuse it; the data itself is already on disk
        _fsync_path(directory)


def sync_temp(temp: Path) -> None:
    """Flush a finished temporary file to disk ahead of `commit_temp(temp, target, synced=True)` (the
    flush's wait then overlaps other work, and the file can still be dropped)."""
    _fsync_path(temp)


def commit_temp(temp: Path, target: str | os.PathLike, synced: bool = False) -> Path:
    """Flush a finished temporary file to disk (unless `sync_temp` did) and give it the target's name."""
    if not synced:
        _fsync_path(temp)
    os.replace(temp, target)
    _fsync_dir(Path(target).parent)
    return Path(target)


class _CommitGroup:
    """Files written inside one `atomic_group`: their temporaries and targets, in the order written."""

    def __init__(self) -> None:
        self.files: list[tuple[Path, Path]] = []


_GROUP: contextvars.ContextVar[_CommitGroup | None] = contextvars.ContextVar("handrecon_atomic_group", default=None)


def _commit(pairs: list[tuple[Path, Path]]) -> None:
    """fsync every temporary, then rename each to its target in order, then fsync each folder once: the
    fsyncs back to back share the file system's journal commits (10 files of 60 kB: 28 ms against 99 ms
    with a folder fsync after each file, on this machine's ext4: benchmarks/bench_throughput.py `fsync`)."""
    for tmp, _ in pairs:
        _fsync_path(tmp)
    for tmp, target in pairs:
        os.replace(tmp, target)
    for directory in dict.fromkeys(target.parent for _, target in pairs):
        _fsync_dir(directory)


@contextmanager
def atomic_group() -> Iterator[None]:
    """Every atomic write inside the block (in this thread) takes its name only when the block succeeds,
    in the order written (put the file that lists the others last), after one fsync burst; if the block
    fails, none of them appears. The outputs of one photo are written in one group: they appear together,
    and cost one folder fsync instead of one per file. Groups do not nest (an inner one joins the outer)."""
    if _GROUP.get() is not None:
        yield
        return
    group = _CommitGroup()
    token = _GROUP.set(group)
    try:
        yield
        _GROUP.reset(token)
        token = None
        _commit(group.files)
    except BaseException:
        for tmp, _ in group.files:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        if token is not None:
            _GROUP.reset(token)


@contextmanager
def atomic_paths(*targets: str | os.PathLike) -> Iterator[list[Path]]:
    """Yield one temporary path per target; on success all of them take their targets' names.

    For outputs made of several files (OBJ + MTL + texture) the renames happen only after every file
    was written, in the order given, so a failure while writing leaves none of them behind. Put the
    file that references the others last. Inside `atomic_group`, the renames wait for the group's end.
    """
    paths = [Path(t) for t in targets]
    temps: list[Path] = []
    try:
        for p in paths:
            temps.append(reserve_temp(p))
        yield list(temps)
        group = _GROUP.get()
        if group is not None:
            group.files += zip(temps, paths, strict=True)
        else:
            _commit(list(zip(temps, paths, strict=True)))
    except BaseException:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path for a writer that wants a file name; it becomes `target` on success."""
    with atomic_paths(target) as (tmp,):
        yield tmp


@contextmanager
def atomic_open(target: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Yield an open file handle (mode "w" or "wb"); the file becomes `target` when the block succeeds."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files; mode must be 'w' or 'wb', got {mode!r}")
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    with atomic_path(target) as tmp, open(tmp, mode, encoding=encoding) as f:
        yield f  # closed, then flushed to disk by the commit (`_commit`)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically; returns the path."""
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text to `path` atomically; returns the path."""
    with atomic_open(path, "w") as f:
        f.write(text)
    return Path(path)


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types from nested dicts, lists, numpy / torch values, paths and dataclasses.

    Non-finite floats become null: JSON has no NaN, and a reader should see "missing", not a parse error.
    """
    if _is_tensor(obj):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "biu" or (obj.dtype.kind == "f" and np.isfinite(obj).all()):
            return obj.tolist()  # already plain ints / finite floats: no per-element pass
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot write a {type(obj).__name__} to JSON")


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Write `obj` (see `to_jsonable`) as UTF-8 JSON atomically; returns the path."""
    if indent is None:
        text = json.dumps(to_jsonable(obj), ensure_ascii=False, allow_nan=False)  # the C encoder
    else:
        text = dumps_indented(obj, indent)  # json.dumps' text, without its Python encoder
    return write_text_atomic(path, text + "\n")


def _is_tensor(x: Any) -> bool:
    """A torch tensor, without importing torch (a tensor exists only once torch is imported): the parent of
    a worker pool writes nothing torch made and need not load it."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _as_numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if _is_tensor(x) else np.asarray(x)


# zlib level of the PNGs handrecon writes: 1 encodes several times faster than Pillow's default 6 for
# files a little larger (PNG stays lossless either way); benchmarks/bench_throughput.py measures both.
PNG_COMPRESS_LEVEL = 1
# zlib strategy: run-length matches only. On the 256 x 256 outputs of 19 photos (level 1 both ways) it
# encoded textures 8 % faster and 14 % smaller, side views 3 % faster and 9 % smaller, overlays 13 % faster
# and 1 % larger than the default strategy (benchmarks/bench_throughput.py, "PNG settings").
PNG_STRATEGY = zlib.Z_RLE


class PNGData(bytes):
    """An image already encoded as PNG: `png_bytes` passes it through, so that one texture written in
    several formats (OBJ's PNG, the GLB's embedded image) is encoded once."""


def png_bytes(image: Any, compress_level: int = PNG_COMPRESS_LEVEL, strategy: int = PNG_STRATEGY) -> PNGData:
    """PNG encoding of a uint8 (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image, uint16 (H, W), or floats in [0, 1]
    (a `PNGData` is returned as it is)."""
    if isinstance(image, PNGData):
        return image
    a = _as_numpy(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or 0 in a.shape:
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {a.shape}")
    if a.dtype.kind == "f":
        if not (np.isfinite(a).all() and a.min() >= 0.0 and a.max() <= 1.0):
            raise ValueError("float images must hold finite values in [0, 1]")
        a = np.round(a * 255.0).astype(np.uint8)
    elif a.dtype == np.uint16 and a.ndim == 2:
        a = a.astype("<u2")  # Pillow's I;16 mode, written as a 16-bit PNG
    elif a.dtype != np.uint8:
        raise ValueError(f"expected uint8, uint16 (grey) or float images, got {a.dtype}")
    from PIL import Image

    buf = io.BytesIO()
    image_out = Image.fromarray(np.ascontiguousarray(a))
    image_out.save(buf, format="PNG", compress_level=compress_level, compress_type=strategy)
    return PNGData(buf.getvalue())


def save_png_atomic(path: str | os.PathLike, image: Any) -> Path:
    """Save an RGB, RGBA or grey image (see `png_bytes`) as PNG atomically; returns the path."""
    return write_bytes_atomic(path, png_bytes(image))


def save_npz_atomic(path: str | os.PathLike, arrays: Mapping[str, Any], compressed: bool = True) -> Path:
    """Save named arrays (numpy or torch) as .npz atomically; returns the path.

    Object arrays are refused so that every file loads with `np.load(..., allow_pickle=False)`.
    """
    data = {str(k): _as_numpy(v) for k, v in arrays.items()}
    for k, v in data.items():
        if v.dtype == object:
            raise ValueError(f"array {k!r} has dtype object; only numeric and string arrays can be saved")
    with atomic_open(path, "wb") as f:
        if compressed:
            _savez_deflated(f, data, NPZ_COMPRESS_LEVEL)
        else:
            np.savez(f, **data)
    return Path(path)


# zlib level of compressed NPZ files: 1 is about three times faster than numpy's default (6) and, for the
# float arrays of a hand, as small within 1 %; `np.load` reads either.
NPZ_COMPRESS_LEVEL = 1


def _savez_deflated(fh: IO[bytes], arrays: Mapping[str, np.ndarray], level: int) -> None:
    """`np.savez_compressed` with a chosen zlib level: one deflated `<name>.npy` member per array."""
    import zipfile

    with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for name, value in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
