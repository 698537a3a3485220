"""autopartgen: split an object (image, indexed part mask and/or mesh) into separate 3D part meshes.

An implementation of AutoPartGen (Chen et al., NeurIPS 2025): a 3DShape2VecSet / TripoSG shape VAE and a
diffusion transformer that generates one part latent at a time, conditioned on the whole object, the
parts generated so far and the image, until it emits an end token.

    from autopartgen import load_pipeline, generate_from_mesh
    result = generate_from_mesh(load_pipeline(), "chair.glb", output_dir="out/chair")
"""

from autopartgen.version import __version__  # noqa: F401

from autopartgen.errors import PartGenError  # noqa: E402,F401

_API = {"load_pipeline", "generate_parts", "generate_from_image", "generate_from_mesh",
        "generate_from_image_and_mesh", "generate_from_image_and_mask"}


def __getattr__(name):
    """The API is imported lazily so that ``import autopartgen`` stays light (no torch until needed)."""
    if name in _API:
        from autopartgen import api

        return getattr(api, name)
    if name in ("GenerationOptions", "PartResult", "AutoPartGen"):
        from autopartgen import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'autopartgen' has no attribute {name!r}")
