"""The five input modes and the one check of which inputs may go together.

The mode keys are the reference's: ``image``, ``mesh``, ``image_mesh``, ``image_mask``,
``image_mesh_mask``. A mask is drawn on an image, so it needs one; something to split is needed.
Light on purpose (no numpy, no torch): the web server checks uploads with it before loading anything.
"""

from __future__ import annotations

from autopartgen.errors import InputFileError

MODES = ("image", "mesh", "image_mesh", "image_mask", "image_mesh_mask")


def input_mode(image: bool, mesh: bool, mask: bool) -> str:
    """The mode key from which inputs are present; :class:`InputFileError` for a combination that cannot run."""
    if mask and not image:
        raise InputFileError("a part mask needs the image it was drawn on; pass --image as well as --mask")
    if not image and not mesh:
        raise InputFileError("nothing to split: pass --image, --mesh, or both")
    if mask:
        return "image_mesh_mask" if mesh else "image_mask"
    if image and mesh:
        return "image_mesh"
    return "mesh" if mesh else "image"
