"""handrecon.data: the one sample schema, dataset readers, crops and augmentation, shards.

- `Sample` / `HandLabel` / `collate_samples` (`data.sample`): what every reader returns;
- `open_dataset(name, root, split, **options)` (`data.registry`): every reader by name;
- `data.augment`: hand crops that keep the camera, flips, colour, blur, occluders, seeded per sample;
- `data.shards`: WebDataset tar shards; `data.mixed`: weighted mixtures of datasets.

Synthetic sets: `data.synthetic` renders samples on the fly, `data.synthetic_set` writes sets on disk.
"""

from handrecon.data.registry import dataset_names, open_dataset, register_dataset
from handrecon.data.sample import HandLabel, Sample, collate_samples

__all__ = ["HandLabel", "Sample", "collate_samples", "dataset_names", "open_dataset", "register_dataset"]
