"""`--method ours` for `autopartgen eval`: our pipeline as an evaluation method.

The model is loaded once per process (the shipped model, or ``--weights DIR`` with its config.yaml).
Mesh mode feeds the evaluation's input mesh (parts come back in its frame, which is the ground
truth's): `ours` gives the parts cut from that mesh (the default output), `ours_generated` the
generated, amodal parts (the released pipeline's kind of output); image modes feed the object's first rendered view (and its indexed mask), whose output is
in the normalised frame the dataset uses.

`--method vae_recon` is the geometry ceiling of a model: every ground-truth part encoded and decoded
by its VAE alone (no DiT), so its matched-part IoU is the VAE's single-part reconstruction IoU.
`--method oracle_anchored` feeds the ground-truth parts' latents to the input-anchored split: the
ceiling of `ours` with a perfect DiT.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from autopartgen.eval.runner import MethodParts, register_method


@lru_cache(maxsize=2)
def _pipeline(weights: str | None):
    from autopartgen.api import load_pipeline

    return load_pipeline(weights, device="cpu")


def ours(mesh, *, mode: str = "mesh", weights: str | None = None, seed: int = 0, object_dir=None,
         generation_grid: int | None = None, parts: str = "input", **_):
    from autopartgen.inputs import load_image, load_mask
    from autopartgen.pipeline import GenerationOptions

    pipe = _pipeline(weights)
    options = GenerationOptions(seed=seed, progress=False, grid_size=generation_grid, parts=parts)
    views = Path(object_dir) / "views" if object_dir is not None else None
    if mode == "mesh":
        result = pipe.generate(mesh=mesh, options=options)
    elif mode == "image":
        result = pipe.generate(image=load_image(views / "rgba_00.png"), options=options)
    else:
        image = load_image(views / "rgba_00.png")
        result = pipe.generate(image=image, mask=load_mask(views / "mask_00.png", image_size=image.size),
                               options=options)
    return MethodParts([part.mesh for part in result.parts], stop=result.stop_reason)


def vae_recon(mesh, *, weights: str | None = None, seed: int = 0, object_dir=None,
              generation_grid: int | None = None, **_):
    from autopartgen.eval.runner import load_gt_parts
    from autopartgen.pipeline import GenerationOptions

    if object_dir is None:
        raise ValueError("vae_recon needs the object's folder (its ground-truth parts)")
    options = GenerationOptions(seed=seed, progress=False, grid_size=generation_grid)
    return _pipeline(weights).reconstruct_parts(load_gt_parts(object_dir), options)


def ours_generated(mesh, **context):
    return ours(mesh, parts="generated", **context)


def oracle_anchored(mesh, *, weights: str | None = None, seed: int = 0, object_dir=None, **_):
    """Ground-truth part latents (each GT part encoded by the model's VAE) split the input as the anchored
    loop does: the ceiling of ``ours`` for this VAE, with a perfect DiT."""
    from autopartgen.eval.runner import load_gt_parts
    from autopartgen.geometry.normalize import normalization_transform
    from autopartgen.pipeline import GenerationOptions

    if object_dir is None:
        raise ValueError("oracle_anchored needs the object's folder (its ground-truth parts)")
    pipe = _pipeline(weights)
    options = GenerationOptions(seed=seed, progress=False)
    latents = pipe.encode_meshes(load_gt_parts(object_dir), normalization_transform(np.asarray(mesh.vertices)), seed)
    return [part.mesh for part in pipe.split_input_with_latents(mesh, latents, options)]


register_method("ours", ours, modes=("mesh", "image", "image_mask"),
                description="autopartgen (shipped model or --weights DIR)")
register_method("ours_generated", ours_generated, modes=("mesh",),
                description="autopartgen's generated (amodal, decoded) parts for a mesh input")
register_method("oracle_anchored", oracle_anchored, modes=("mesh",),
                description="oracle: GT part latents through the input-anchored split (ceiling of ours)")
register_method("vae_recon", vae_recon, modes=("mesh",),
                description="oracle: each GT part through the model's VAE alone (reconstruction ceiling)")
