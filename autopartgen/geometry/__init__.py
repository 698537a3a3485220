"""Pure geometry functions: arrays in, arrays out, explicit random generators, no global state.

* :mod:`~autopartgen.geometry.sampling` - area-weighted surface samples, farthest point sampling, the
  encoder's point-cloud recipe.
* :mod:`~autopartgen.geometry.normalize` - the object frame ([-1, 1] cube) and its inverse.
* :mod:`~autopartgen.geometry.extraction` - coarse-to-fine evaluation of an inside-positive field and
  marching cubes.
* :mod:`~autopartgen.geometry.cleanup` - floater removal, quadric simplification, Taubin smoothing.
* :mod:`~autopartgen.geometry.overlap` - the duplicate-part tests (reference surface containment and
  volumetric overlap).
* :mod:`~autopartgen.geometry.partition`, :mod:`~autopartgen.geometry.regions`,
  :mod:`~autopartgen.geometry.protrusions` - sharing a mesh input's volume between parts and cutting it;
  over-segmenting its solid and merging the regions; thin pieces proud of its flat faces.
"""

from autopartgen.geometry.cleanup import remove_floaters, simplify, taubin_smooth
from autopartgen.geometry.extraction import ExtractionStats, extract_isosurface, marching_cubes
from autopartgen.geometry.normalize import (
    apply_normalization,
    invert_normalization,
    normalization_transform,
)
from autopartgen.geometry.overlap import containment_ratio, occupancy_grid, volumetric_overlap
from autopartgen.geometry.sampling import (
    as_mesh_arrays,
    concatenate_meshes,
    farthest_point_sample,
    farthest_point_sample_numpy,
    resample_surface_for_encoder,
    sample_surface,
)

__all__ = [
    "ExtractionStats",
    "apply_normalization",
    "as_mesh_arrays",
    "concatenate_meshes",
    "containment_ratio",
    "extract_isosurface",
    "farthest_point_sample",
    "farthest_point_sample_numpy",
    "invert_normalization",
    "marching_cubes",
    "normalization_transform",
    "occupancy_grid",
    "remove_floaters",
    "resample_surface_for_encoder",
    "sample_surface",
    "simplify",
    "taubin_smooth",
    "volumetric_overlap",
]
