"""Edge topology of triangle meshes: undirected edge keys, the watertight test and a part's solid statistics.

trimesh answers the same questions through its cached edge tables (``Trimesh.is_watertight`` groups the
sorted edge rows with ``grouping.group_rows``); on the million-face meshes a noisy field gives, that costs
seconds per mesh. Encoding each undirected edge as one int64 and sorting those keys gives the same answer
(the same rows are equal) several times faster; ``tests/test_geometry_topology.py`` checks both agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh


def undirected_edge_keys(faces: np.ndarray) -> np.ndarray:
    """One int64 key per face edge, equal for the two orientations of an edge.

    Args:
        faces: (F, 3) int vertex indices.

    Returns:
        (3F,) int64: for face f, entries 3f, 3f + 1, 3f + 2 are its edges (v0, v1), (v1, v2), (v2, v0),
        each encoded as ``min * (V + 1) + max`` with V the largest vertex index.
    """
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(faces) == 0:
        return np.zeros(0, dtype=np.int64)
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    return edges[:, 0] * (int(faces.max()) + 1) + edges[:, 1]


def every_edge_in_two_faces(faces: np.ndarray) -> bool:
    """Whether every undirected edge of ``faces`` (F, 3) is used by exactly two faces (False for F = 0).

    This is trimesh's watertight test (``trimesh.graph.is_watertight``) without its winding check: a
    repeated index in a face (a degenerate face) counts as trimesh counts it.
    """
    keys = undirected_edge_keys(faces)
    if len(keys) == 0:
        return False
    keys.sort()
    boundaries = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    run_lengths = np.diff(np.concatenate([[0], boundaries, [len(keys)]]))
    return bool((run_lengths == 2).all())


@dataclass(frozen=True)
class SolidStatistics:
    """What ``parts.json`` reports about a part's solid: ``watertight`` and its ``volume`` (None unless
    watertight; in the mesh's units cubed)."""

    watertight: bool
    volume: float | None


def solid_statistics(vertices: np.ndarray, faces: np.ndarray) -> SolidStatistics:
    """Watertightness and volume of a part, welded by position first.

    A textured part stores its UV seams and cut faces as separate vertices (as glTF does), so the mesh is
    welded with trimesh's own ``process=True`` (vertices equal to 8 decimals merged) before the test.
    Same answers as ``trimesh.Trimesh(vertices, faces, process=True)`` and its ``is_watertight`` /
    ``volume``, with the edge test of :func:`every_edge_in_two_faces` instead of trimesh's.

    Args:
        vertices: (V, 3) float.
        faces: (F, 3) int.
    """
    welded = trimesh.Trimesh(vertices=vertices, faces=faces, process=True)
    watertight = len(faces) > 0 and every_edge_in_two_faces(welded.faces)
    return SolidStatistics(watertight, float(welded.volume) if watertight else None)
