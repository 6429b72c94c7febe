"""A real fluorescence image shipped with fluorogate, for tests and evaluation that must run offline.

`bbbc038_nuclei_256.tif`: a 256x256 crop of stardist 0.9.2's `stardist/data/images/img2d.tif`
(fluorescent nuclei from the Broad Bioimage Benchmark Collection BBBC038, Kaggle Data Science Bowl
2018; stardist is BSD-3-Clause). uint16 holding 8-bit values (0..235); no pixel size is recorded.
See `sim/data/README.md` for how it was cut.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from fluorogate.imageio import Image, read_image_2d

REAL_CROP = "bbbc038_nuclei_256.tif"


def load_real_crop() -> Image:
    """The real nuclei crop as an `Image` (uint16, 256x256)."""
    with resources.as_file(resources.files("fluorogate.sim") / "data" / REAL_CROP) as path:
        image = read_image_2d(path)
        image.data = np.ascontiguousarray(image.data)
        return image
