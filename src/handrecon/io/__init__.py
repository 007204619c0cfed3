"""Input and output: images, EXIF cameras, videos, atomic writes and mesh exporters.

Everything a file can do wrong is reported as `InputError` ("<path>: <reason>", one line), a setting out
of range as its subclass `SettingError`, an unusable hand-model file as `ModelFileError`: one family the
command line catches. Every file handrecon writes appears complete or not at all.
"""

# name -> the submodule that defines it: imported on first use, so that `handrecon.io.errors` (or the
# atomic writers) does not load torch, OpenCV and the mesh exporters with it (a command's start-up).
_SOURCES = {
    "PNGData": "handrecon.io.atomic",
    "atomic_group": "handrecon.io.atomic",
    "atomic_open": "handrecon.io.atomic",
    "atomic_path": "handrecon.io.atomic",
    "atomic_paths": "handrecon.io.atomic",
    "png_bytes": "handrecon.io.atomic",
    "prepare_output_dir": "handrecon.io.atomic",
    "remove_stale_temporaries": "handrecon.io.atomic",
    "save_npz_atomic": "handrecon.io.atomic",
    "save_png_atomic": "handrecon.io.atomic",
    "write_bytes_atomic": "handrecon.io.atomic",
    "write_json_atomic": "handrecon.io.atomic",
    "write_text_atomic": "handrecon.io.atomic",
    "config_from_yaml": "handrecon.io.config_yaml",
    "config_to_yaml": "handrecon.io.config_yaml",
    "load_config": "handrecon.io.config_yaml",
    "save_config": "handrecon.io.config_yaml",
    "InputError": "handrecon.io.errors",
    "ModelFileError": "handrecon.io.errors",
    "SettingError": "handrecon.io.errors",
    "one_line": "handrecon.io.errors",
    "DEFAULT_FOV_DEG": "handrecon.io.exif_camera",
    "camera_from_exif": "handrecon.io.exif_camera",
    "check_camera_settings": "handrecon.io.exif_camera",
    "check_intrinsics": "handrecon.io.exif_camera",
    "exif_intrinsics": "handrecon.io.exif_camera",
    "read_focal_tags": "handrecon.io.exif_camera",
    "resolve_intrinsics": "handrecon.io.exif_camera",
    "MAX_PIXELS": "handrecon.io.images",
    "MIN_SIDE": "handrecon.io.images",
    "PROCESSING_MAX_SIDE": "handrecon.io.images",
    "LoadedImage": "handrecon.io.images",
    "as_rgb_array": "handrecon.io.images",
    "downscale_for_processing": "handrecon.io.images",
    "load_image": "handrecon.io.images",
    "camera_to_gltf": "handrecon.io.mesh_export",
    "write_glb": "handrecon.io.mesh_export",
    "write_obj": "handrecon.io.mesh_export",
    "write_ply": "handrecon.io.mesh_export",
    "VideoFrame": "handrecon.io.video",
    "VideoReader": "handrecon.io.video",
    "VideoWriter": "handrecon.io.video",
}

__all__ = [
    "PNGData",
    "png_bytes",
    "DEFAULT_FOV_DEG",
    "MAX_PIXELS",
    "MIN_SIDE",
    "PROCESSING_MAX_SIDE",
    "InputError",
    "ModelFileError",
    "SettingError",
    "LoadedImage",
    "VideoFrame",
    "VideoReader",
    "VideoWriter",
    "as_rgb_array",
    "atomic_group",
    "atomic_open",
    "atomic_path",
    "atomic_paths",
    "camera_from_exif",
    "camera_to_gltf",
    "config_from_yaml",
    "config_to_yaml",
    "check_camera_settings",
    "check_intrinsics",
    "downscale_for_processing",
    "exif_intrinsics",
    "load_config",
    "load_image",
    "one_line",
    "prepare_output_dir",
    "remove_stale_temporaries",
    "read_focal_tags",
    "resolve_intrinsics",
    "save_config",
    "save_npz_atomic",
    "save_png_atomic",
    "write_bytes_atomic",
    "write_glb",
    "write_json_atomic",
    "write_obj",
    "write_ply",
    "write_text_atomic",
]


def __getattr__(name: str):
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SOURCES))
