"""`--method ours` for `autopartgen eval`: our pipeline as an evaluation method.

The model is loaded once per process (the shipped model, or ``--weights DIR`` with its config.yaml).
Mesh mode feeds the evaluation's input mesh (parts come back in its frame, which is the ground
truth's); image modes feed the object's first rendered view (and its indexed mask), whose output is
in the normalised frame the dataset uses.

`--method vae_recon` is the geometry ceiling of a model: every ground-truth part encoded and decoded
by its VAE alone (no DiT), so its matched-part IoU is the VAE's single-part reconstruction IoU.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from autopartgen.eval.runner import register_method


@lru_cache(maxsize=2)
def _pipeline(weights: str | None):
    from autopartgen.api import load_pipeline

    return load_pipeline(weights, device="cpu")


def ours(mesh, *, mode: str = "mesh", weights: str | None = None, seed: int = 0, object_dir=None,
         generation_grid: int | None = None, **_):
    from autopartgen.inputs import load_image, load_mask
    from autopartgen.pipeline import GenerationOptions

    pipe = _pipeline(weights)
    options = GenerationOptions(seed=seed, progress=False, grid_size=generation_grid)
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


def vae_recon(mesh, *, weights: str | None = None, seed: int = 0, object_dir=None,
              generation_grid: int | None = None, **_):
    from autopartgen.eval.runner import load_gt_parts
    from autopartgen.pipeline import GenerationOptions

    if object_dir is None:
        raise ValueError("vae_recon needs the object's folder (its ground-truth parts)")
    options = GenerationOptions(seed=seed, progress=False, grid_size=generation_grid)
    return _pipeline(weights).reconstruct_parts(load_gt_parts(object_dir), options)


register_method("ours", ours, modes=("mesh", "image", "image_mask"),
                description="autopartgen (shipped model or --weights DIR)")
register_method("vae_recon", vae_recon, modes=("mesh",),
                description="oracle: each GT part through the model's VAE alone (reconstruction ceiling)")
