"""Input and output: images, EXIF cameras, videos, atomic writes and mesh exporters.

Everything a file can do wrong is reported as `InputError` ("<path>: <reason>", one line), a setting out
of range as its subclass `SettingError`, an unusable hand-model file as `ModelFileError`: one family the
command line catches. Every file handrecon writes appears complete or not at all.
"""

from handrecon.io.atomic import (
    PNGData,
    atomic_open,
    atomic_path,
    atomic_paths,
    png_bytes,
    prepare_output_dir,
    remove_stale_temporaries,
    save_npz_atomic,
    save_png_atomic,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from handrecon.io.config_yaml import config_from_yaml, config_to_yaml, load_config, save_config
from handrecon.io.errors import InputError, ModelFileError, SettingError, one_line
from handrecon.io.exif_camera import (
    DEFAULT_FOV_DEG,
    camera_from_exif,
    check_camera_settings,
    check_intrinsics,
    exif_intrinsics,
    read_focal_tags,
    resolve_intrinsics,
)
from handrecon.io.images import (
    MAX_PIXELS,
    MIN_SIDE,
    PROCESSING_MAX_SIDE,
    LoadedImage,
    as_rgb_array,
    downscale_for_processing,
    load_image,
)
from handrecon.io.mesh_export import camera_to_gltf, write_glb, write_obj, write_ply
from handrecon.io.video import VideoFrame, VideoReader, VideoWriter

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
