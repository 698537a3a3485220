"""Shape variation that makes procedural objects look like real ones: blended joints, a random turn about
the up axis and a non-uniform scale, all drawn from the object's seed.

The variation acts on the raw part SDFs (object units) before meshing, so every part stays an exact-enough
SDF (a Lipschitz bound) and its mesh, the normalisation and the canonical order are computed as for any
object. The fused, noisy, decimated whole a method receives is made from the parts by
:func:`autopartgen.data.fused_input.realistic_input_mesh`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from autopartgen.data.procedural.primitives import Shape, rot_y, smooth_min

# The variation's random stream: (seed, VARIATION_STREAM), apart from the shape grammar's stream, so the
# same seed draws the same proportions with and without variation.
VARIATION_STREAM = 0x5A17


@dataclass(frozen=True)
class ShapeVariation:
    """Per-object variation (object units, before normalisation: objects are about 2 units tall).

    Attributes:
        blend: smooth-union radius at the joints between parts (0: sharp joints). The fillet material
            lies within ``blend / 4`` of the parts and is given to the nearest part.
        yaw: rotation about +Y in radians, applied after the scale.
        scale: (3,) scale factors along the object's own x, y, z (before the turn).
    """

    blend: float = 0.0
    yaw: float = 0.0
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @property
    def is_identity(self) -> bool:
        return self.blend == 0.0 and self.yaw == 0.0 and tuple(self.scale) == (1.0, 1.0, 1.0)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["scale"] = [round(float(v), 6) for v in self.scale]
        d["blend"], d["yaw"] = round(float(self.blend), 6), round(float(self.yaw), 6)
        return d


NO_VARIATION = ShapeVariation()


def draw_variation(seed: int, blend_range=(0.02, 0.07), log_scale: float = 0.12) -> ShapeVariation:
    """The variation of object ``seed``: blend radius uniform in ``blend_range``, yaw uniform in [-pi, pi),
    each axis scaled by ``exp(U(-log_scale, log_scale))`` (axes at most 1.27x apart at the default)."""
    rng = np.random.default_rng([int(seed), VARIATION_STREAM])
    blend = float(rng.uniform(*blend_range))
    yaw = float(rng.uniform(-math.pi, math.pi))
    scale = tuple(float(v) for v in np.exp(rng.uniform(-log_scale, log_scale, 3)))
    return ShapeVariation(blend, yaw, scale)


class BlendedPart(Shape):
    """Part ``own`` plus its share of the fillets where it meets ``neighbours`` (a bound of the distance).

    With ``a`` = own distance and ``m`` = the nearest neighbour's, the blended whole near this part is
    ``w = smooth_min(a, m, k)``; the part keeps everything it had and takes the fillet points of ``w``
    that are closer to it than to any neighbour: ``min(a, max(w, (a - m) / 2))``. Neighbouring parts take
    the rest of ``w``, so the blended parts still tile the blended whole and a part boundary moves by at
    most ``k / 4``.
    """

    def __init__(self, own: Shape, neighbours: list[Shape], k: float):
        self.own, self.neighbours, self.k = own, list(neighbours), float(k)
        self.lo, self.hi = own.lo - 0.25 * self.k, own.hi + 0.25 * self.k
        self.thickness = own.thickness

    def __call__(self, points):
        a = self.own(points)
        if not self.neighbours:
            return a
        m = np.min([n(points) for n in self.neighbours], axis=0)
        whole = smooth_min(a, m, self.k)
        return np.minimum(a, np.maximum(whole, 0.5 * (a - m)))


class ScaledTurned(Shape):
    """``child`` scaled by ``scale`` (3,) along its axes, then turned by ``yaw`` about +Y through the origin.

    ``x_world = R_y(yaw) @ (scale * x)``; the distance is ``child(x) * min(scale)``, a bound (exact when
    the scale is uniform) whose gradient is at most ``max(scale) / min(scale)``.
    """

    def __init__(self, child: Shape, scale, yaw: float):
        self.child, self.scale, self.rot = child, np.asarray(scale, float), rot_y(yaw)
        corners = np.array([[x, y, z] for x in (child.lo[0], child.hi[0]) for y in (child.lo[1], child.hi[1])
                            for z in (child.lo[2], child.hi[2])])
        world = (corners * self.scale) @ self.rot.T
        self.lo, self.hi = world.min(0), world.max(0)
        self.thickness = child.thickness * float(self.scale.min())

    def __call__(self, points):
        local = (np.asarray(points, float) @ self.rot) / self.scale
        return self.child(local) * float(self.scale.min())


def _boxes_near(a: Shape, b: Shape, gap: float) -> bool:
    return bool(np.all(a.lo - gap <= b.hi) and np.all(b.lo - gap <= a.hi))


def blend_joints(shapes: list[Shape], k: float) -> list[Shape]:
    """Each shape as a :class:`BlendedPart` with the shapes whose boxes come within ``2 k`` of its own."""
    out = []
    for i, own in enumerate(shapes):
        near = [other for j, other in enumerate(shapes) if j != i and _boxes_near(own, other, 2.0 * k)]
        out.append(BlendedPart(own, near, k) if near else own)
    return out


def apply_variation(raw: list[tuple[str, Shape]], variation: ShapeVariation) -> list[tuple[str, Shape]]:
    """The parts ``raw`` [(name, Shape)] with ``variation`` applied (names and order kept)."""
    if variation.is_identity:
        return list(raw)
    names = [name for name, _ in raw]
    shapes = [shape for _, shape in raw]
    if variation.blend > 0:
        shapes = blend_joints(shapes, variation.blend)
    if variation.yaw != 0.0 or tuple(variation.scale) != (1.0, 1.0, 1.0):
        shapes = [ScaledTurned(s, variation.scale, variation.yaw) for s in shapes]
    return list(zip(names, shapes))
