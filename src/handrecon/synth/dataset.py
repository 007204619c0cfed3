"""Moved to `handrecon.data.synthetic` (the torch Dataset belongs to the data layer); kept as an alias."""

from handrecon.data.synthetic import SyntheticHandDataset, sample_from_synth

__all__ = ["SyntheticHandDataset", "sample_from_synth"]
