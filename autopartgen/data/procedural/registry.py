"""The category registry: every category grammar registers itself here with :func:`register`.

A category is a function ``builder(sampler) -> [(part name, Shape), ...]`` in object units, +Y up, front
+Z, one entry per rigid part. To add one, write the function in its family module (or a new module that
:mod:`autopartgen.data.procedural` imports) and decorate it::

    @register("kettle", since="v2")
    def kettle(s: Sampler) -> PartList: ...

Corpora: ``category_for_seed`` assigns seeds round robin over a corpus's category list, so a corpus's
list must never change once data was generated with it. ``v1`` is the historical list of 31 categories in
its original order (its seeds keep their categories); a later corpus is the previous one followed by the
categories registered ``since`` it, sorted by name. New categories go to a new corpus version.
"""

from __future__ import annotations

from typing import Callable

from autopartgen.data.procedural.primitives import Shape
from autopartgen.data.procedural.sampler import Sampler

PartList = list[tuple[str, Shape]]
Builder = Callable[[Sampler], PartList]

CORPUS_VERSIONS = ("v1", "v2")
LATEST_CORPUS = CORPUS_VERSIONS[-1]
# Library default: v1, so every existing caller keeps "same seed, same object". `autopartgen data generate`
# defaults to the latest corpus.
DEFAULT_CORPUS = "v1"

# The v1 corpus, frozen in its historical order (seed -> category of every v1 dataset).
V1_CATEGORIES = (
    "chair", "table", "stool", "bench", "bookshelf", "cabinet", "bed", "sofa", "desk_lamp", "floor_lamp",
    "mug", "bottle", "teapot", "vase_with_flowers", "bucket", "car", "truck", "airplane", "rocket", "boat",
    "bicycle", "humanoid_toy", "robot", "snowman", "mushroom", "tree", "cactus", "windmill", "hammer",
    "screwdriver", "axe",
)

BUILDERS: dict[str, Builder] = {}
SINCE: dict[str, str] = {}


def register(name: str, since: str = "v1") -> Callable[[Builder], Builder]:
    """Decorator adding ``builder`` as category ``name`` of corpus ``since`` and later ones."""
    if since not in CORPUS_VERSIONS:
        raise ValueError(f"category {name}: unknown corpus {since!r}; add it to CORPUS_VERSIONS")

    def add(builder: Builder) -> Builder:
        if name in BUILDERS:
            raise ValueError(f"category {name!r} registered twice")
        if since == "v1" and name not in V1_CATEGORIES:
            raise ValueError(f"category {name!r}: v1 is frozen; register new categories with a later corpus")
        BUILDERS[name] = builder
        SINCE[name] = since
        return builder

    return add


def corpus_categories(corpus: str) -> list[str]:
    """The category list of ``corpus`` in seed order (``v1``: historical order; later: + new ones by name)."""
    if corpus not in CORPUS_VERSIONS:
        raise ValueError(f"unknown corpus {corpus!r}; choose one of {', '.join(CORPUS_VERSIONS)}")
    names = list(V1_CATEGORIES)
    for version in CORPUS_VERSIONS[1:CORPUS_VERSIONS.index(corpus) + 1]:
        names += sorted(n for n, v in SINCE.items() if v == version)
    return names
