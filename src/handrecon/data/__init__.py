"""handrecon.data: the one sample schema, dataset readers, crops and augmentation, shards.

- `Sample` / `HandLabel` / `collate_samples` (`data.sample`): what every reader returns;
- `open_dataset(name, root, split, **options)` (`data.registry`): every reader by name;
- `data.augment`: hand crops that keep the camera, flips, colour, blur, occluders, seeded per sample;
- `data.shards`: WebDataset tar shards; `data.mixed`: weighted mixtures of datasets.

Moved here: `synth/dataset.py` -> `data/synthetic.py`, `synth/freihand.py` -> `data/freihand_writer.py`.
"""

from handrecon.data.registry import dataset_names, open_dataset, register_dataset
from handrecon.data.sample import HandLabel, Sample, collate_samples

__all__ = ["HandLabel", "Sample", "collate_samples", "dataset_names", "open_dataset", "register_dataset"]
