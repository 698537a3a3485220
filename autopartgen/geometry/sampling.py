"""Surface sampling and farthest point sampling (SPEC 1.4 and 1.10).

Every random draw comes from an explicit ``numpy.random.Generator``, except in
:func:`resample_surface_for_encoder` with ``reference_rng=True``, which reproduces the reference's use
of the global torch CPU generator for parity tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import fpsample
import numpy as np
import trimesh

# fpsample's KD-line bucket depth, as the reference chooses it (SPEC 1.4).
_FPS_SMALL_CLOUD = 25_000


def as_mesh_arrays(mesh: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(vertices (V,3) float64, faces (F,3) int64)`` from a ``(vertices, faces)`` pair or a trimesh-like object."""
    if hasattr(mesh, "vertices") and hasattr(mesh, "faces"):
        vertices, faces = mesh.vertices, mesh.faces
    else:
        vertices, faces = mesh
    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    return vertices, faces


def concatenate_meshes(meshes: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate meshes in order (faces re-indexed), like ``trimesh.util.concatenate``.

    Args:
        meshes: sequence of ``(vertices (V,3), faces (F,3))`` pairs or trimesh-like objects.

    Returns:
        ``(vertices (sum V, 3) float64, faces (sum F, 3) int64)``.
    """
    all_v, all_f, offset = [], [], 0
    for mesh in meshes:
        v, f = as_mesh_arrays(mesh)
        all_v.append(v)
        all_f.append(f + offset)
        offset += len(v)
    if not all_v:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    return np.concatenate(all_v), np.concatenate(all_f)


def sample_surface(
    vertices: np.ndarray, faces: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Area-weighted uniform samples on a triangle mesh.

    The same draws, points and face normals as ``trimesh.sample.sample_surface(mesh, count, seed=rng)``,
    bit for bit (see :class:`MeshSurface` for why it is written out).

    Args:
        vertices: (V, 3) float array.
        faces: (F, 3) int array, F >= 1.
        count: number of samples.
        rng: the generator every draw comes from.

    Returns:
        ``(points, normals)``: (count, 3) float32 positions in the mesh's units and (count, 3) float32
        unit normals of the faces the points lie on (zero for degenerate faces).
    """
    return MeshSurface([(vertices, faces)]).sample(count, rng)


def triangle_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F,) float64 face areas, bit for bit ``trimesh.triangles.area(crosses=trimesh.triangles.cross(vertices[faces]))``.

    The same floating-point operations in the same order (edges ``c1 - c0`` and ``c2 - c1``, numpy's cross
    product component by component, the squares summed x + y + z, square root, halved), computed per
    coordinate column instead of through (F, 3, 3) and (F, 2, 3) temporaries: several times faster on
    million-face meshes, and the area-weighted draws of the reference loop (which depend on every bit of
    the cumulative areas) stay the same.

    Args:
        vertices: (V, 3) float64.
        faces: (F, 3) int.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    first, second, third = (vertices[faces[:, k]] for k in range(3))
    a, b = second - first, third - second
    x = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    y = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    z = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return np.sqrt(x * x + y * y + z * z) / 2.0


class MeshSurface:
    """Meshes prepared for area-weighted draws on their union, each mesh's face areas computed once.

    ``draw(count, rng)`` makes the draws of ``trimesh.sample.sample_surface`` on the meshes concatenated in
    order, bit for bit (the reference's random streams are kept), without trimesh's edge vectors, unit
    normals and cache hashing for every face, and a mesh added to a growing union (the accepted parts of a
    run) is not measured again: on the million-face meshes of noisy fields that per-face work was most of
    each duplicate test and history encoding.
    """

    def __init__(self, meshes: Sequence[Any] = ()):
        self.meshes: list[tuple[np.ndarray, np.ndarray]] = []
        self.areas: list[np.ndarray] = []
        for mesh in meshes:
            self.add(mesh)

    def add(self, mesh: Any, face_areas: np.ndarray | None = None) -> None:
        """Append a ``(vertices, faces)`` pair or trimesh-like object (meshes without faces are skipped).

        ``face_areas`` (F,): its faces' :func:`triangle_areas` if the caller has them (as
        :func:`~autopartgen.geometry.cleanup.remove_floaters_with_areas` returns them), else measured here.
        """
        vertices, faces = as_mesh_arrays(mesh)
        if len(faces):
            if face_areas is None:
                face_areas = triangle_areas(vertices, faces)
            elif np.shape(face_areas) != (len(faces),):
                raise ValueError(f"{np.shape(face_areas)} face areas for {len(faces)} faces")
            self.meshes.append((vertices, faces))
            self.areas.append(np.asarray(face_areas, dtype=np.float64))

    @property
    def num_faces(self) -> int:
        return sum(len(faces) for _, faces in self.meshes)

    def draw(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(points (count, 3) float64, crosses (count, 3))``: the edge cross product of each point's face
        (twice its area times its normal)."""
        if not self.meshes:
            raise ValueError("cannot sample the surface of a mesh without faces")
        cumulative_area = np.cumsum(np.concatenate(self.areas))
        face_index = np.searchsorted(cumulative_area, rng.random(int(count)) * cumulative_area[-1])
        triangles = self.triangles(face_index)
        origins = triangles[:, 0]
        edges = triangles[:, 1:] - origins[:, None, :]
        lengths = rng.random((len(face_index), 2, 1))  # a point in the unit square, folded into the triangle
        lengths[lengths.sum(axis=1).reshape(-1) > 1.0] -= 1.0
        lengths = np.abs(lengths)
        return (edges * lengths).sum(axis=1) + origins, trimesh.triangles.cross(triangles)

    def triangles(self, face_index: np.ndarray) -> np.ndarray:
        """(K, 3, 3) corners of faces given by their index in the concatenation."""
        offsets = np.cumsum([0] + [len(faces) for _, faces in self.meshes])
        mesh_of = np.searchsorted(offsets, face_index, side="right") - 1
        out = np.empty((len(face_index), 3, 3))
        for number, (vertices, faces) in enumerate(self.meshes):
            rows = np.flatnonzero(mesh_of == number)
            out[rows] = vertices[faces[face_index[rows] - offsets[number]]]
        return out

    def sample(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(points, normals)`` as :func:`sample_surface` returns them for the concatenation."""
        points, face_crosses = self.draw(count, rng)
        unit, valid = trimesh.triangles.normals(crosses=face_crosses)
        normals = np.zeros((len(points), 3))
        normals[valid] = unit
        return points.astype(np.float32), normals.astype(np.float32)


def _fps_level(num_points: int) -> int:
    return 5 if num_points <= _FPS_SMALL_CLOUD else 7


def farthest_point_sample(points: np.ndarray, k: int, start_index: int = 0) -> np.ndarray:
    """Farthest point sampling with fpsample's KD-line bucket algorithm (exact FPS, SPEC 1.4).

    Args:
        points: (N, C) float array; only the first three columns (xyz) are used.
        k: number of points to select, 1 <= k <= N.
        start_index: fpsample's ``start_idx``. fpsample reads it as an index into its internal
            reordering, so the first returned index is generally *not* ``start_index``; the rest of the
            sequence equals textbook FPS started from the first returned index.

    Returns:
        (k,) int64 indices into ``points``.
    """
    xyz = np.ascontiguousarray(np.asarray(points)[:, :3], dtype=np.float32)
    n = len(xyz)
    if not 1 <= k <= n:
        raise ValueError(f"cannot pick {k} of {n} points")
    indices = fpsample.bucket_fps_kdline_sampling(xyz, int(k), h=_fps_level(n), start_idx=int(start_index))
    return np.asarray(indices, dtype=np.int64)


def farthest_point_sample_numpy(points: np.ndarray, k: int, first_index: int = 0) -> np.ndarray:
    """Textbook farthest point sampling in numpy, O(N k): the check for :func:`farthest_point_sample`.

    Squared Euclidean distances in float32, argmax with the lowest index on ties.

    Args:
        points: (N, C) float array (xyz in the first three columns).
        k: number of points, 1 <= k <= N.
        first_index: the first selected point.

    Returns:
        (k,) int64 indices, starting with ``first_index``.
    """
    xyz = np.asarray(points)[:, :3].astype(np.float32)
    n = len(xyz)
    if not 1 <= k <= n:
        raise ValueError(f"cannot pick {k} of {n} points")
    selected = np.empty(k, dtype=np.int64)
    selected[0] = first_index
    nearest = np.full(n, np.inf, dtype=np.float32)
    for i in range(1, k):
        diff = xyz - xyz[selected[i - 1]]
        np.minimum(nearest, np.einsum("ij,ij->i", diff, diff), out=nearest)
        selected[i] = int(np.argmax(nearest))
    return selected


def resample_surface_for_encoder(
    meshes: Sequence[Any],
    rng: np.random.Generator,
    point_cloud_size: int = 32768,
    num_samples: int = 500_000,
    fps_max_points: int = 65536,
    reference_rng: bool = False,
) -> np.ndarray:
    """The VAE encoder's input cloud from a list of meshes (SPEC 1.10).

    Concatenate the meshes (no normalisation: parts are already in the object frame), draw
    ``num_samples`` area-weighted surface samples with face normals, keep a random subset of
    ``fps_max_points``, then farthest-point-sample ``point_cloud_size`` of them.

    Args:
        meshes: ``(vertices, faces)`` pairs or trimesh-like objects, in the object frame, or a
            :class:`MeshSurface` of them.
        rng: generator for the surface samples, and for the subset and FPS start unless
            ``reference_rng``.
        point_cloud_size: P, the number of returned points.
        num_samples: surface samples drawn before subsetting.
        fps_max_points: size of the random subset FPS runs on.
        reference_rng: draw the subset (``torch.randperm``) and then the FPS start (``torch.randint``)
            from the global torch CPU generator, as the reference does.

    Returns:
        (P, 6) float32: xyz then unit face normals. All zeros when the meshes have no faces.
    """
    surface = meshes if isinstance(meshes, MeshSurface) else MeshSurface(meshes)
    if surface.num_faces == 0:
        return np.zeros((point_cloud_size, 6), dtype=np.float32)
    points, normals = surface.sample(num_samples, rng)
    cloud = np.concatenate([points, normals], axis=1)
    subset_size = min(num_samples, fps_max_points)
    if point_cloud_size > subset_size:
        raise ValueError(f"point_cloud_size {point_cloud_size} exceeds the FPS input size {subset_size}")
    if reference_rng:
        import torch

        subset = torch.randperm(num_samples)[:subset_size].numpy()
        start = int(torch.randint(subset_size, (1,)))
    else:
        subset = rng.permutation(num_samples)[:subset_size]
        start = int(rng.integers(subset_size))
    cloud = cloud[subset]
    chosen = farthest_point_sample(cloud, point_cloud_size, start_index=start)
    return np.ascontiguousarray(cloud[chosen], dtype=np.float32)
