"""Procedural part-structured objects with exact signed distance functions.

Each category is a small grammar (random proportions, optional parts, repeated parts) that builds its
parts from SDF primitives, one part per rigid link. Every part keeps its SDF (callable on ``(N, 3)``
points), and its mesh is extracted from that SDF by marching cubes. Objects are normalised to
``[-1, 1]^3``, +Y up, front +Z, parts in canonical order (bottom-to-top, then left-to-right).

Layout:

* :mod:`.primitives`: SDF functions, the SDF tree (``Shape`` and friends), placed primitive constructors;
* :mod:`.sampler`: ``Sampler``, the parameter draws (in and out of distribution);
* :mod:`.registry`: ``register`` (the decorator every category uses), corpora ``v1`` / ``v2``;
* one module per family of categories (:mod:`.furniture`, :mod:`.appliances`, :mod:`.robots`, ...);
* :mod:`.variation`: blended joints, turn about +Y, non-uniform scale (``ShapeVariation``);
* :mod:`.build`: meshing, normalisation, canonical order, ``build_object`` / ``generate_object``.

To add a category, write ``@register("name", since="v2") def name(s: Sampler) -> PartList`` in a family
module; nothing else needs to change.
"""

from __future__ import annotations

# Family modules register their categories on import; the order here does not matter (corpus lists are
# defined by the registry, not by import order).
from autopartgen.data.procedural import (  # noqa: F401
    appliances, containers, figures, fixtures, furniture, lamps, nature, robots, storage, structures, tools,
    vehicles,
)
from autopartgen.data.procedural.build import (  # noqa: F401
    GENERATOR_VERSION, MAX_PARTS, MIN_PARTS, Part, PartObject, build_object, canonical_order,
    category_for_seed, generate_object, mesh_from_sdf, mesh_parts, resolve_variation, sample_sdf_grid, signed_volume,
)
from autopartgen.data.procedural.primitives import (  # noqa: F401
    Difference, Intersection, Normalised, Primitive, Shape, Transformed, Union, align_y, bezier, box, capsule,
    cone, cylinder, ellipsoid, extrusion, half_space_below, lathe, rod, rot_x, rot_y, rot_z, sd_capped_cone,
    sd_capsule, sd_cylinder, sd_ellipsoid, sd_extrusion, sd_polygon, sd_revolution, sd_round_box,
    sd_superellipsoid, sd_torus, smooth_min, sphere, superellipsoid, torus, tube,
)
from autopartgen.data.procedural.registry import (  # noqa: F401
    BUILDERS, CORPUS_VERSIONS, DEFAULT_CORPUS, LATEST_CORPUS, SINCE, V1_CATEGORIES, PartList, corpus_categories,
    register,
)
from autopartgen.data.procedural.sampler import Sampler  # noqa: F401
from autopartgen.data.procedural.variation import (  # noqa: F401
    NO_VARIATION, ShapeVariation, apply_variation, draw_variation,
)

# name -> builder, every category of the latest corpus in its seed order (v1's 31 first).
CATEGORIES = {name: BUILDERS[name] for name in corpus_categories(LATEST_CORPUS)}
