"""Read the user's MANO files (MANO_RIGHT.pkl / MANO_LEFT.pkl) without chumpy, safely.

MANO ships as Python-2 pickles holding numpy arrays, a scipy sparse joint regressor and chumpy `Ch`
objects. A restricted unpickler admits only those classes: chumpy objects become inert stand-ins whose
data array is read back, so neither chumpy nor arbitrary code is ever imported. MANO is never shipped
with handrecon; `convert_mano` writes the arrays once to an npz for faster, pickle-free loading.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from handrecon.geometry.mesh import cap_holes
from handrecon.hand.asset import HandAsset, load_asset_npz, save_asset_npz
from handrecon.io.errors import InputError, ModelFileError

# Fingertip vertices of MANO's 778-vertex mesh (thumb, index, middle, ring, pinky), the ids used by the
# FreiHAND and HO3D tooling to extend MANO's 16 joints to 21 keypoints.
MANO_TIP_VERTEX_IDS = (745, 317, 444, 556, 673)
MANO_FILES = {"right": "MANO_RIGHT.pkl", "left": "MANO_LEFT.pkl"}


class ChumpyStub:
    """Inert stand-in for any chumpy class found in a pickle; keeps the pickled state only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__["_args"] = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slotstate)
            state = state[0]
        self.__dict__.update(state if isinstance(state, dict) else {"_state": state})

    def to_numpy(self) -> np.ndarray:
        if "x" in self.__dict__:
            return np.asarray(self.__dict__["x"])
        raise ValueError("a chumpy expression without a stored array 'x' cannot be evaluated without chumpy")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("copyreg", "_reconstructor"),
    ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
    ("builtins", "object"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "list"),
    ("builtins", "dict"),
    ("builtins", "tuple"),
    ("builtins", "slice"),
    ("builtins", "complex"),
    ("collections", "OrderedDict"),
}
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}
_SPARSE = {"csc_matrix", "csr_matrix", "coo_matrix"}


class _MANOUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module = _PY2_MODULES.get(module, module)
        if module == "chumpy" or module.startswith("chumpy."):
            return ChumpyStub
        if (module, name) in _ALLOWED:
            return super().find_class(module.replace("numpy._core", "numpy.core"), name)
        if module.startswith("scipy.sparse") and name in _SPARSE:
            import scipy.sparse

            return getattr(scipy.sparse, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a MANO file")


def _to_array(x: Any, dtype=np.float64) -> np.ndarray:
    if isinstance(x, ChumpyStub):
        x = x.to_numpy()
    if hasattr(x, "toarray"):  # scipy sparse
        x = x.toarray()
    return np.asarray(x, dtype=dtype)


# Arrays a MANO pickle must hold (the others are optional).
MANO_REQUIRED_KEYS = ("v_template", "f", "weights", "J_regressor", "shapedirs", "kintree_table")


def read_mano_pkl(path: str | Path) -> dict[str, Any]:
    """Raw dictionary of a MANO pkl, chumpy objects replaced by stand-ins; `ModelFileError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "MANO file not found")
    try:
        with open(path, "rb") as f:
            data = _MANOUnpickler(f, encoding="latin1").load()
    except pickle.UnpicklingError as e:
        raise ModelFileError(path, f"not a readable MANO pickle ({e})") from e
    except MemoryError as e:  # a pickle may declare a string or array of any size
        raise ModelFileError(path, "not a readable MANO pickle (it declares more data than fits in memory)") from e
    except Exception as e:  # whatever a damaged or hostile pickle makes the unpickler raise
        raise ModelFileError(path, f"not a readable MANO pickle ({type(e).__name__}: {e})") from e
    if not isinstance(data, dict) or "v_template" not in data:
        raise ModelFileError(path, "not a MANO model (no 'v_template')")
    missing = [k for k in MANO_REQUIRED_KEYS if k not in data]
    if missing:
        raise ModelFileError(path, f"not a complete MANO model (missing {', '.join(repr(k) for k in missing)})")
    return data


def load_mano_pkl(path: str | Path, side: str | None = None, tip_vertex_ids=MANO_TIP_VERTEX_IDS) -> HandAsset:
    """A `HandAsset` from a MANO pkl (right or left, inferred from the file name unless given).

    Every failure is a `ModelFileError` naming the file: wrong types and shapes included."""
    path = Path(path)
    d = read_mano_pkl(path)
    try:
        return _asset_from_mano_dict(d, path, side, tip_vertex_ids)
    except InputError:
        raise
    except MemoryError as e:
        raise ModelFileError(path, "not a usable MANO model (its arrays do not fit in memory)") from e
    except Exception as e:
        raise ModelFileError(path, f"not a usable MANO model ({type(e).__name__}: {e})") from e


def _asset_from_mano_dict(d: dict[str, Any], path: Path, side: str | None, tip_vertex_ids) -> HandAsset:
    if side is None:
        side = "left" if "LEFT" in path.name.upper() else "right"
    v = _to_array(d["v_template"])
    faces = _to_array(d["f"], np.int64)
    parents = _to_array(d["kintree_table"], np.int64)[0].copy()
    parents[0] = -1
    asset = HandAsset(
        name="mano",
        side=side,
        v_template=v,
        faces=faces,
        weights=_to_array(d["weights"]),
        j_regressor=_to_array(d["J_regressor"]),
        shapedirs=_to_array(d["shapedirs"]),
        parents=parents,
        tip_vertex_ids=np.asarray(tip_vertex_ids, dtype=np.int64),
        cap_faces=cap_holes(v, faces),
        posedirs=_to_array(d["posedirs"]) if "posedirs" in d else None,
        pose_components=_to_array(d["hands_components"]) if "hands_components" in d else None,
        pose_mean=_to_array(d["hands_mean"]).reshape(-1) if "hands_mean" in d else None,
        metadata={"source": str(path)},
    )
    return asset.validate()


def find_mano_file(mano_dir: str | Path, side: str) -> Path:
    """MANO_RIGHT/LEFT as .pkl, or a converted .npz beside it."""
    mano_dir = Path(mano_dir)
    pkl = mano_dir / MANO_FILES[side]
    npz = pkl.with_suffix(".npz")
    if npz.is_file():
        return npz
    if pkl.is_file():
        return pkl
    raise ModelFileError(mano_dir, f"no {pkl.name} (or {npz.name}); download MANO from its authors' site")


def load_mano(mano_dir_or_file: str | Path, side: str = "right") -> HandAsset:
    """Load MANO from a directory holding MANO_RIGHT/LEFT.pkl (or their converted .npz) or from a file.

    Every failure (missing folder or file, damaged or hostile pickle, missing or wrong-typed arrays) is one
    `ModelFileError` naming the file."""
    p = Path(mano_dir_or_file)
    if not p.exists():
        raise ModelFileError(p, "MANO folder or file not found")
    path = find_mano_file(p, side) if p.is_dir() else p
    if path.suffix != ".npz":
        return load_mano_pkl(path, side=side)
    try:
        return load_asset_npz(path, name="mano", side=side)
    except MemoryError as e:
        raise ModelFileError(path, "not a usable MANO model (its arrays do not fit in memory)") from e
    except Exception as e:
        raise ModelFileError(path, f"not a usable MANO model ({type(e).__name__}: {e})") from e


def convert_mano(pkl_path: str | Path, out_path: str | Path | None = None) -> Path:
    """Convert a MANO pkl once to a pickle-free npz next to it (or at `out_path`)."""
    pkl_path = Path(pkl_path)
    asset = load_mano_pkl(pkl_path)
    out = Path(out_path) if out_path else pkl_path.with_suffix(".npz")
    save_asset_npz(asset, out)
    return out
