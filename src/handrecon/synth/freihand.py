"""Moved to `handrecon.data.freihand_writer` (beside its reader, `handrecon.data.freihand`); kept as an alias."""

from handrecon.data.freihand import FreiHANDDataset
from handrecon.data.freihand_writer import (
    FREIHAND_FILES,
    SHARD_SIZE,
    SIDECAR_FIELDS,
    EncodedSample,
    FreiHANDWriter,
    encode_sample,
    json_template,
    middle_bone_length,
)

__all__ = [
    "FREIHAND_FILES",
    "SHARD_SIZE",
    "SIDECAR_FIELDS",
    "EncodedSample",
    "FreiHANDDataset",
    "FreiHANDWriter",
    "encode_sample",
    "json_template",
    "middle_bone_length",
]
