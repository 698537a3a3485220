"""autopartgen: split an object (image, indexed part mask and/or mesh) into separate 3D part meshes.

An implementation of AutoPartGen (Chen et al., NeurIPS 2025): a 3DShape2VecSet / TripoSG shape VAE and a
diffusion transformer that generates one part latent at a time, conditioned on the whole object, the
parts generated so far and the image, until it emits an end token.
"""

__version__ = "0.1.0"

from autopartgen.errors import PartGenError  # noqa: E402,F401
