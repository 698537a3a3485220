"""The realistic whole-object input: the parts fused into one re-meshed surface, decimated, with noise.

Real inputs are single surfaces with no seams or components that give the parts away, decimated and a
little noisy. :func:`realistic_input_mesh` makes such an input from ground-truth parts; the evaluation
(``--input-form realistic``) and training preparation call the same function, with randomness drawn from
a seed so that an object's input is reproducible.
"""

from __future__ import annotations

import logging
import math
import zlib
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import trimesh

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputDegradation:
    """How one input was degraded. ``max_faces``: decimation target; ``noise``: standard deviation of the
    displacement along the vertex normals, in normalised units (the [-1, 1] cube; a 192^3 fusion cell is
    0.0104)."""

    max_faces: int
    noise: float

    def as_dict(self) -> dict:
        return asdict(self)


def draw_degradation(seed: int, faces_range=(4_000, 20_000), noise_range=(0.0005, 0.004)) -> InputDegradation:
    """Decimation target log-uniform in ``faces_range``, noise uniform in ``noise_range``, from ``seed``."""
    rng = np.random.default_rng([int(seed), 0xF05E])
    faces = int(round(math.exp(rng.uniform(math.log(faces_range[0]), math.log(faces_range[1])))))
    return InputDegradation(faces, float(rng.uniform(*noise_range)))


def seed_of(name: str) -> int:
    """A stable 32-bit seed from a name (an object id), the same in every process and Python version."""
    return zlib.crc32(name.encode())


def degrade_mesh(mesh: trimesh.Trimesh, degradation: InputDegradation, seed: int) -> trimesh.Trimesh:
    """``mesh`` decimated to at most ``degradation.max_faces`` faces (quadric, ``fast_simplification``),
    then each vertex moved along its normal by Gaussian noise of ``degradation.noise``. Returns a new mesh."""
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if len(faces) > degradation.max_faces:
        import fast_simplification

        v, f = fast_simplification.simplify(vertices.astype(np.float32), faces.astype(np.int32),
                                            target_reduction=1.0 - degradation.max_faces / len(faces))
        vertices, faces = np.asarray(v, dtype=np.float64), np.asarray(f, dtype=np.int64)
    out = trimesh.Trimesh(vertices, faces, process=True)
    if degradation.noise > 0 and len(out.vertices):
        rng = np.random.default_rng([int(seed), 0x401])
        shift = rng.normal(0.0, degradation.noise, len(out.vertices))[:, None] * out.vertex_normals
        out = trimesh.Trimesh(out.vertices + shift, out.faces, process=False)
    if out.volume < 0:
        out.invert()
    return out


def realistic_input_mesh(parts: Sequence[trimesh.Trimesh], seed: int, resolution: int = 192,
                         smooth_sigma: float = 0.5, degradation: InputDegradation | None = None
                         ) -> tuple[trimesh.Trimesh, InputDegradation]:
    """The fused whole of ``parts`` (normalised frame) as a method would receive a real scan or asset.

    Args:
        parts: ground-truth part meshes in the normalised frame.
        seed: draws the degradation (unless given) and the noise.
        resolution, smooth_sigma: the fusion grid and blur of ``eval.runner.make_input_mesh``.
        degradation: decimation and noise; default :func:`draw_degradation` of ``seed``.

    Returns:
        ``(mesh, degradation)``: one surface, no part seams, at most ``degradation.max_faces`` faces.
    """
    from autopartgen.eval.runner import make_input_mesh

    degradation = degradation or draw_degradation(seed)
    fused = make_input_mesh(parts, "fused", resolution, smooth_sigma, max_faces=None)
    return degrade_mesh(fused, degradation, seed), degradation
