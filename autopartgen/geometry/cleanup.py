"""Mesh clean-up after extraction: floater removal, quadric simplification, Taubin smoothing (SPEC 7.3, 6.4)."""

from __future__ import annotations

import logging

import fast_simplification
import numpy as np
import trimesh

logger = logging.getLogger(__name__)

# The reference passes agg=1.0, which on smooth meshes often stops far above the target (an icosphere
# of 20480 faces asked for 3333 keeps all 20480); fast-simplification's own default reaches it.
REFERENCE_SIMPLIFY_AGGRESSIVENESS = 1.0
DEFAULT_SIMPLIFY_AGGRESSIVENESS = 7.0


def _mesh(vertices: np.ndarray, faces: np.ndarray) -> trimesh.Trimesh:
    return trimesh.Trimesh(
        vertices=np.asarray(vertices, dtype=np.float64), faces=np.asarray(faces, dtype=np.int64), process=False
    )


def remove_floaters(
    vertices: np.ndarray, faces: np.ndarray, min_area_ratio: float = 0.01
) -> tuple[np.ndarray, np.ndarray]:
    """Drop small disconnected pieces (SPEC 7.3 step 2).

    Components are face-connected (shared edges). A component is kept when its area is at least
    ``min_area_ratio`` of the total area. If every component or no component passes, the mesh is
    returned unchanged.

    Args:
        vertices: (V, 3) float array.
        faces: (F, 3) int array.
        min_area_ratio: area fraction below which a component is a floater.

    Returns:
        ``(vertices (V',3) float64, faces (F',3) int64)``; unreferenced vertices are dropped.
    """
    mesh = _mesh(vertices, faces)
    if len(mesh.faces) == 0:
        return mesh.vertices, mesh.faces
    components = trimesh.graph.connected_components(
        edges=mesh.face_adjacency, nodes=np.arange(len(mesh.faces)), min_len=1
    )
    areas = mesh.area_faces
    total = areas.sum()
    kept = [c for c in components if areas[c].sum() >= min_area_ratio * total]
    if len(kept) == len(components) or not kept:
        return mesh.vertices, mesh.faces
    logger.debug("removing %d of %d components", len(components) - len(kept), len(components))
    cleaned = mesh.submesh(kept, append=True, repair=False)
    return np.asarray(cleaned.vertices), np.asarray(cleaned.faces, dtype=np.int64)


def simplify(
    vertices: np.ndarray,
    faces: np.ndarray,
    target_faces: int,
    aggressiveness: float = DEFAULT_SIMPLIFY_AGGRESSIVENESS,
) -> tuple[np.ndarray, np.ndarray]:
    """Quadric edge-collapse simplification with fast-simplification (SPEC 7.3 step 1).

    Args:
        vertices: (V, 3) float array.
        faces: (F, 3) int array.
        target_faces: face budget; meshes already within it are returned unchanged.
        aggressiveness: fast-simplification's ``agg``; use
            :data:`REFERENCE_SIMPLIFY_AGGRESSIVENESS` (1.0) for parity with the reference.

    Returns:
        ``(vertices float64, faces int64)``, at most about ``target_faces`` faces.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces)
    if len(faces) <= target_faces:
        return vertices, faces.astype(np.int64)
    new_vertices, new_faces = fast_simplification.simplify(
        vertices, faces.astype(np.int32), target_count=int(target_faces), agg=float(aggressiveness)
    )
    return np.asarray(new_vertices, dtype=np.float64), np.asarray(new_faces, dtype=np.int64)


def taubin_smooth(
    vertices: np.ndarray, faces: np.ndarray, iterations: int, lamb: float = 0.5, nu: float = 0.5
) -> np.ndarray:
    """Taubin (lambda|mu) smoothing with trimesh's ``filter_taubin``; connectivity is unchanged.

    Args:
        vertices: (V, 3) float array.
        faces: (F, 3) int array.
        iterations: smoothing passes; 0 returns a copy.
        lamb, nu: trimesh's shrink / inflate weights (the reference uses the defaults 0.5, 0.5).

    Returns:
        (V, 3) float64 smoothed vertices, same order as the input.
    """
    mesh = _mesh(vertices, faces)
    if iterations > 0 and len(mesh.faces):
        trimesh.smoothing.filter_taubin(mesh, lamb=lamb, nu=nu, iterations=int(iterations))
    return np.array(mesh.vertices, dtype=np.float64)
