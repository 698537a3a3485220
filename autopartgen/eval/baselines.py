"""Baselines: what a user would reach for instead of a part generator, behind one interface.

``run_baseline(name, mesh, **options) -> list[trimesh.Trimesh]`` returns parts the way our pipeline
does: separate meshes in the input mesh's frame, in canonical order (bottom-to-top by the part's lowest
point, then left-to-right, then front-to-back by the bounding-box centre).

==============  =========================================================================================
``single``      the input as one part (lower bound for the part metrics, upper bound for the whole shape)
``components``  the connected components of the input mesh (after merging coincident vertices)
``coacd``       approximate convex decomposition with the ``coacd`` package at its documented defaults
``coacd_tuned`` ``coacd`` asked for about as many parts as the ground truth: ``max_convex_hull`` set to
                ``target_count``, and the concavity threshold lowered in steps while it gives fewer
==============  =========================================================================================

``coacd`` is an optional dependency (``pip install autopartgen[eval]``); without it the two coacd
baselines raise :class:`BaselineUnavailableError`.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np
import trimesh

from autopartgen.errors import PartGenError

log = logging.getLogger(__name__)

#: coacd's documented default concavity threshold, and the thresholds ``coacd_tuned`` tries in turn.
COACD_DEFAULT_THRESHOLD = 0.05
COACD_TUNED_THRESHOLDS = (0.05, 0.03, 0.02)


class BaselineUnavailableError(PartGenError):
    """A baseline needs a package that is not installed, or an option that was not given."""


def canonical_order(parts: Sequence[trimesh.Trimesh]) -> list[trimesh.Trimesh]:
    """Sort parts bottom-to-top (lowest y), then left-to-right (centre x), then back-to-front (centre z).

    Coordinates are rounded to 1e-3 before comparing so that parts at the same height tie.
    """
    def key(part: trimesh.Trimesh):
        lo, hi = part.bounds
        centre = 0.5 * (lo + hi)
        return (round(float(lo[1]), 3), round(float(centre[0]), 3), round(float(centre[2]), 3))

    return sorted(parts, key=key)


def _as_trimesh(mesh) -> trimesh.Trimesh:
    """Accept a Trimesh, a Scene (concatenated) or a ``(V, F)`` pair; return a new Trimesh."""
    if isinstance(mesh, trimesh.Scene):
        mesh = mesh.to_geometry() if hasattr(mesh, "to_geometry") else mesh.dump(concatenate=True)
    if isinstance(mesh, trimesh.Trimesh):
        return mesh.copy()
    vertices, faces = mesh
    return trimesh.Trimesh(np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64), process=False)


def single(mesh) -> list[trimesh.Trimesh]:
    """The input mesh as one part: ``[copy of mesh]``."""
    return [_as_trimesh(mesh)]


def components(mesh, *, min_faces: int = 1) -> list[trimesh.Trimesh]:
    """Connected components of the input, after merging coincident vertices (GLB seams split vertices).

    Args:
        mesh: the input mesh.
        min_faces: components with fewer faces are dropped (default keeps everything).
    """
    merged = _as_trimesh(mesh)
    merged.merge_vertices(merge_tex=True, merge_norm=True)
    parts = merged.split(only_watertight=False)
    parts = [p for p in parts if len(p.faces) >= min_faces]
    return canonical_order(parts) if parts else [merged]


def _import_coacd():
    try:
        import coacd
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise BaselineUnavailableError(
            "the coacd baselines need the 'coacd' package: pip install coacd  (or pip install autopartgen[eval])"
        ) from error
    return coacd


def _run_coacd(mesh, **coacd_options) -> list[trimesh.Trimesh]:
    """One coacd run: the input mesh -> convex parts (trimesh, canonical order)."""
    coacd = _import_coacd()
    coacd.set_log_level("error")
    source = _as_trimesh(mesh)
    source.merge_vertices()
    hulls = coacd.run_coacd(coacd.Mesh(np.asarray(source.vertices, dtype=np.float64),
                                       np.asarray(source.faces, dtype=np.int64)), **coacd_options)
    parts = [trimesh.Trimesh(np.asarray(v), np.asarray(f), process=False) for v, f in hulls]
    return canonical_order([p for p in parts if len(p.faces)])


def coacd_default(mesh, *, seed: int = 0, **coacd_options) -> list[trimesh.Trimesh]:
    """Approximate convex decomposition with coacd's documented defaults (threshold 0.05, no hull limit).

    ``coacd_options`` are passed to ``coacd.run_coacd`` unchanged (e.g. ``resolution``, ``mcts_iterations``)
    for experiments; the protocol uses none.
    """
    return _run_coacd(mesh, seed=seed, **coacd_options)


def coacd_tuned(mesh, *, target_count: int | None = None, gt_count: int | None = None, seed: int = 0,
                thresholds: Sequence[float] = COACD_TUNED_THRESHOLDS, **coacd_options) -> list[trimesh.Trimesh]:
    """coacd set up to return about ``target_count`` parts (the ground-truth count in the benchmark).

    ``max_convex_hull = target_count`` caps the count (coacd merges hulls down to it); when a run gives
    fewer parts than the target, the concavity threshold is lowered to the next value of ``thresholds``
    and coacd runs again. The result closest to the target (first on ties) is returned.

    Args:
        mesh: the input mesh.
        target_count: wanted number of parts (``gt_count`` is accepted as an alias).
        seed: coacd's random seed.
        thresholds: concavity thresholds to try, in order.
    """
    target = target_count if target_count is not None else gt_count
    if target is None or int(target) < 1:
        raise BaselineUnavailableError("coacd_tuned needs target_count (the ground-truth part count), at least 1")
    target = int(target)
    best: list[trimesh.Trimesh] | None = None
    for threshold in thresholds:
        parts = _run_coacd(mesh, threshold=threshold, max_convex_hull=target, seed=seed, **coacd_options)
        log.debug("coacd_tuned: threshold %.3f -> %d parts (target %d)", threshold, len(parts), target)
        if best is None or abs(len(parts) - target) < abs(len(best) - target):
            best = parts
        if len(parts) >= target:
            break
    return best


#: name -> function(mesh, **options) -> list of parts.
BASELINES: dict[str, Callable[..., list[trimesh.Trimesh]]] = {
    "single": lambda mesh, **_: single(mesh),
    "components": lambda mesh, min_faces=1, **_: components(mesh, min_faces=min_faces),
    "coacd": lambda mesh, seed=0, gt_count=None, target_count=None, **opts: coacd_default(mesh, seed=seed, **opts),
    "coacd_tuned": coacd_tuned,
}


def run_baseline(name: str, mesh, **options) -> list[trimesh.Trimesh]:
    """Run the baseline ``name`` (one of :data:`BASELINES`) on ``mesh``; returns the parts as new meshes.

    Every baseline accepts ``gt_count`` (alias ``target_count``) and ``seed``, used or not, so a caller
    can always pass them; ``coacd_tuned`` needs one of the two counts. ``single`` and ``components`` ignore
    other options except ``min_faces``; the coacd baselines pass them on to ``coacd.run_coacd``.
    """
    if name not in BASELINES:
        raise BaselineUnavailableError(f"unknown baseline {name!r}; choose one of {', '.join(BASELINES)}")
    return BASELINES[name](mesh, **options)
