"""`--method ours` for `autopartgen eval`: our pipeline as an evaluation method.

The model is loaded once per process (the shipped model, or ``--weights DIR`` with its config.yaml).
Mesh mode feeds the evaluation's input mesh (parts come back in its frame, which is the ground
truth's); image modes feed the object's first rendered view (and its indexed mask), whose output is
in the normalised frame the dataset uses.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from autopartgen.eval.runner import register_method


@lru_cache(maxsize=2)
def _pipeline(weights: str | None):
    from autopartgen.api import load_pipeline

    return load_pipeline(weights, device="cpu")


def ours(mesh, *, mode: str = "mesh", weights: str | None = None, seed: int = 0, object_dir=None, **_):
    from autopartgen.inputs import load_image, load_mask
    from autopartgen.pipeline import GenerationOptions

    pipe = _pipeline(weights)
    options = GenerationOptions(seed=seed, progress=False)
    views = Path(object_dir) / "views" if object_dir is not None else None
    if mode == "mesh":
        result = pipe.generate(mesh=mesh, options=options)
    elif mode == "image":
        result = pipe.generate(image=load_image(views / "rgba_00.png"), options=options)
    else:
        image = load_image(views / "rgba_00.png")
        result = pipe.generate(image=image, mask=load_mask(views / "mask_00.png", image_size=image.size),
                               options=options)
    return [part.mesh for part in result.parts]


register_method("ours", ours, modes=("mesh", "image", "image_mask"),
                description="autopartgen (shipped model or --weights DIR)")
