"""Thin pieces standing proud of a flat face of the input: doors, drawer fronts, buttons and knobs.

On the 64^3 anchor grid a door sits one or two cells proud of its cabinet and a button is a dozen cells,
so no region of the solid isolates them (measured in the MODEL_CARD: the true grouping of the regions
reaches 0.16-0.25 part IoU on the procedural cupboard, microwave and oven). The input mesh itself still
holds them at its own resolution: they are the pieces of the solid in front of the plane of a large flat
face, attached to that face, and thin. This module finds them on the mesh:

- :func:`flat_faces`: the large flat faces of a mesh (seeded region growing over triangle normals,
  smoothed first so the terraces of a re-meshed, slightly rotated face do not break a face into strips);
- :func:`thin_protrusions`: for each upright flat face, the pieces of the solid in front of its plane that
  touch the face along most of their base and stand at most a few anchor cells proud. Each comes back as
  a convex region of space (the piece's hull swept back to the cutting plane) that the cut can use as a
  part region.

Faces looking up or down are left out: what sits on top of an object (a hob's burners, a cushion, a vent)
or under it (feet) is, in the assets users rig, part of the body; doors, drawers, buttons and knobs sit on
its upright faces. Lengths are in the [-1, 1] frame; thresholds are given in anchor cells. Written by hand:
trimesh finds coplanar facets only when triangles are exactly coplanar, which a re-meshed surface is not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class FlatFace:
    """A large flat face of a mesh: ``normal`` (3,) unit, outward; ``offset`` the area-weighted median of
    ``normal . x`` over its triangles; ``top`` their 90th percentile (a re-meshed face is terraced: the
    plane just in front of ``top`` clears it); ``triangles`` (T,) indices into the mesh's faces."""

    normal: np.ndarray
    offset: float
    top: float
    triangles: np.ndarray


@dataclass(frozen=True)
class Protrusion:
    """A thin piece in front of a flat face: the closed convex ``region`` (vertices (V, 3), faces (F, 3))
    that holds it (its hull swept back to the cutting plane ``normal . x = cut``) and the same region as
    half-spaces ``planes`` (H, 4), inside where ``planes[:, :3] @ x + planes[:, 3] <= 0``; its ``height``
    above the face's plane, ``volume`` (frame units) and ``attachment``, the share of its base outline lying
    on the face."""

    region: tuple[np.ndarray, np.ndarray]
    planes: np.ndarray
    normal: np.ndarray
    cut: float
    height: float
    volume: float
    attachment: float


def smoothed_normals(normals: np.ndarray, areas: np.ndarray, adjacency: np.ndarray, rounds: int) -> np.ndarray:
    """(F, 3) unit normals averaged (area-weighted) with their edge neighbours ``rounds`` times."""
    summed = normals * areas[:, None]
    for _ in range(rounds):
        spread = summed.copy()
        np.add.at(spread, adjacency[:, 0], summed[adjacency[:, 1]])
        np.add.at(spread, adjacency[:, 1], summed[adjacency[:, 0]])
        summed = spread
    return summed / np.maximum(np.linalg.norm(summed, axis=1, keepdims=True), 1e-12)


def flat_faces(vertices: np.ndarray, faces: np.ndarray, min_area: float, max_angle: float = 10.0,
               smoothing_rounds: int = 6, max_spread: float = 0.02, merge_gap: float = 0.016,
               min_width: float = 0.0, max_bend: float = 0.3) -> list[FlatFace]:
    """The flat faces of a mesh with at least ``min_area`` (frame units^2).

    Seeds are taken in order of how well a triangle's smoothed normal agrees with its neighbours'; a face
    grows over edge neighbours whose smoothed normal is within ``max_angle`` degrees of its seed's. A face
    whose triangles spread more than ``max_spread`` between the median and the 90th percentile of their
    heights along its normal is curved, not flat, and is left out. Strips of one face (terraces of a face
    turned slightly off the axes of the grid the mesh was re-meshed on) are joined when their offsets
    differ by at most ``merge_gap``. A face narrower than ``min_width`` (the standard deviation of its
    triangles' centres across its longest direction) is a bevel or a rim, not a face, and is left out; so
    is one whose normals turn faster than ``max_bend`` radians per frame unit across it (a band of a
    curved surface: 0.3 is a radius of over three units, beyond the whole [-1, 1] frame).

    Args:
        vertices, faces: the mesh (V, 3) float, (F, 3) int; consistently wound (outward normals).
    """
    import trimesh

    mesh = trimesh.Trimesh(np.asarray(vertices, np.float64), np.asarray(faces, np.int64), process=False)
    raw, centres, areas = mesh.face_normals, mesh.triangles_center, mesh.area_faces
    adjacency = mesh.face_adjacency
    if len(adjacency) == 0:
        return []
    normals = smoothed_normals(raw, areas, adjacency, smoothing_rounds)
    neighbours = [[] for _ in range(len(normals))]
    for a, b in adjacency:
        neighbours[a].append(b)
        neighbours[b].append(a)
    agreement = np.zeros(len(normals))
    dots = np.einsum("ij,ij->i", normals[adjacency[:, 0]], normals[adjacency[:, 1]])
    np.add.at(agreement, adjacency[:, 0], dots)
    np.add.at(agreement, adjacency[:, 1], dots)
    agreement /= np.maximum(np.bincount(adjacency.ravel(), minlength=len(normals)), 1)
    cos_limit = np.cos(np.radians(max_angle))
    taken = np.zeros(len(normals), bool)
    grown = []
    for seed in np.argsort(-agreement, kind="stable"):
        if taken[seed]:
            continue
        seed_normal = normals[seed]
        taken[seed] = True
        stack, members = [seed], [seed]
        while stack:
            for other in neighbours[stack.pop()]:
                if not taken[other] and normals[other] @ seed_normal > cos_limit:
                    taken[other] = True
                    stack.append(other)
                    members.append(other)
        if areas[members].sum() >= 0.1 * min_area:
            grown.append(_flat_face(np.asarray(members), raw, centres, areas))
    found = []
    reach = 2.0 * float(np.median(mesh.edges_unique_length))
    for face in _join_terraces(grown, raw, mesh.triangles, areas, merge_gap, reach):
        if (areas[face.triangles].sum() >= min_area and face.top - face.offset <= max_spread
                and _width(centres[face.triangles], areas[face.triangles]) >= min_width
                and _bend(face, raw, centres, areas) <= max_bend):
            found.append(face)
    return found


def _bend(face: FlatFace, normals: np.ndarray, centres: np.ndarray, areas: np.ndarray) -> float:
    """How fast the triangles' normals turn across ``face`` (radians per frame unit): the largest rate of
    a least-squares linear fit of their tilt against their position in the face's plane. About 1 / r on
    a cylinder of radius r; near 0 on a flat face, however noisy its triangles (the noise has no trend)."""
    tangent = np.linalg.svd(np.eye(3) - np.outer(face.normal, face.normal))[0][:, :2]  # two directions in the plane
    weights = np.sqrt(areas[face.triangles])[:, None]
    position = (centres[face.triangles] - centres[face.triangles].mean(axis=0)) @ tangent
    tilt = normals[face.triangles] @ tangent
    design = np.concatenate([position, np.ones((len(position), 1))], axis=1) * weights
    rates = np.linalg.lstsq(design, tilt * weights, rcond=None)[0][:2]
    return float(np.linalg.svd(rates, compute_uv=False)[0])


def _width(points: np.ndarray, weights: np.ndarray) -> float:
    """The weighted standard deviation of ``points`` (N, 3) along their second principal direction."""
    centred = points - np.average(points, axis=0, weights=weights)
    covariance = (centred * weights[:, None]).T @ centred / weights.sum()
    return float(np.sqrt(max(np.linalg.eigvalsh(covariance)[-2], 0.0)))


def _flat_face(members: np.ndarray, normals: np.ndarray, centres: np.ndarray, areas: np.ndarray) -> FlatFace:
    """The :class:`FlatFace` of triangles ``members``: area-weighted mean normal, median and 90th
    percentile of the triangles' heights along it."""
    area = areas[members].sum()
    normal = (normals[members] * areas[members, None]).sum(axis=0)
    normal /= np.linalg.norm(normal)
    heights = centres[members] @ normal
    order = np.argsort(heights)
    cumulative = np.cumsum(areas[members][order]) / area
    offset = heights[order][min(np.searchsorted(cumulative, 0.5), len(order) - 1)]
    top = heights[order][min(np.searchsorted(cumulative, 0.9), len(order) - 1)]
    return FlatFace(normal, float(offset), float(top), members)


def _join_terraces(faces: list[FlatFace], normals: np.ndarray, triangles: np.ndarray, areas: np.ndarray, gap: float,
                   reach: float, max_angle: float = 3.0) -> list[FlatFace]:
    """Join flat faces that are strips of one face: a face turned a degree or two off the axes of a
    re-meshing grid comes out as terraces one grid cell apart, each grown on its own. Two faces join when
    their normals agree within ``max_angle`` degrees, their offsets within ``gap`` and a corner of one
    lies within ``reach`` of a corner of the other (``triangles``: (F, 3, 3) corners of the mesh)."""
    if len(faces) < 2:
        return faces
    parent = list(range(len(faces)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    trees = [cKDTree(triangles[face.triangles].reshape(-1, 3)) for face in faces]
    cos_limit = np.cos(np.radians(max_angle))
    for i in range(len(faces)):
        for j in range(i + 1, len(faces)):
            a, b = faces[i], faces[j]
            if a.normal @ b.normal < cos_limit or abs(a.offset - b.offset) > gap or root(i) == root(j):
                continue
            if np.isfinite(trees[i].query(triangles[b.triangles].reshape(-1, 3), distance_upper_bound=reach)[0]).any():
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(faces)):
        groups.setdefault(root(i), []).append(i)
    centres = triangles.mean(axis=1)
    joined = []
    for members in groups.values():
        if len(members) == 1:
            joined.append(faces[members[0]])
            continue
        joined.append(_flat_face(np.concatenate([faces[i].triangles for i in members]), normals, centres, areas))
    return joined


def surface_points(triangles: np.ndarray, spacing: float, rng: np.random.Generator) -> np.ndarray:
    """(N, 3) points on ``triangles`` (T, 3, 3): about one per ``spacing``^2 of area, at least one each.
    (``geometry.sampling.sample_surface`` draws a fixed count by area, which can leave a small triangle of
    the face without a point; the attachment test needs every one covered.)"""
    edges_a, edges_b = triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]
    areas = 0.5 * np.linalg.norm(np.cross(edges_a, edges_b), axis=1)
    counts = np.maximum(1, np.ceil(areas / spacing ** 2)).astype(np.int64)
    index = np.repeat(np.arange(len(triangles)), counts)
    u = rng.random((len(index), 2))
    folded = u.sum(axis=1) > 1.0
    u[folded] = 1.0 - u[folded]
    return triangles[index, 0] + u[:, :1] * edges_a[index] + u[:, 1:] * edges_b[index]


def thin_protrusions(vertices: np.ndarray, faces: np.ndarray, cell: float, *, max_height: float = 3.0,
                     min_height: float = 1.0, min_volume: float = 3.0, min_face_area: float = 30.0,
                     clearance: float = 0.1, attachment: float = 0.75, reach: float = 0.65,
                     max_tilt: float = 0.5) -> list[Protrusion]:
    """The thin pieces of a closed mesh standing proud of its upright flat faces.

    For each flat face (:func:`flat_faces`) whose normal's up component (+Y) is at most ``max_tilt`` in
    size and that is not itself the front of a thin piece (:func:`_base_faces`), the solid is cut by the plane ``clearance`` cells in front of the face's ``top``; each separate
    piece in front is a protrusion when it stands between ``min_height`` and ``max_height`` cells above
    the face's plane, holds at least ``min_volume`` cells^3, and at least ``attachment`` of its base
    outline lies within ``reach`` cells of the face (it sits on this face, not on some other part of the
    object that happens to reach past the plane). A piece found from two faces is kept once.

    Args:
        vertices, faces: the input, a closed mesh (V, 3), (F, 3) in the [-1, 1] frame, outward-wound.
        cell: the anchor cell size (frame units) the thresholds are counted in.
    Returns:
        the protrusions, largest first; [] when the mesh is not a closed solid.
    """
    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces, np.int64)
    solid = _solid(vertices, faces)
    if solid is None:
        return []
    rng = np.random.default_rng(0)
    found: list[Protrusion] = []
    triangles = vertices[faces]
    centres = triangles.mean(axis=1)
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    areas = 0.5 * np.linalg.norm(normals, axis=1)
    normals /= np.maximum(2.0 * areas[:, None], 1e-12)
    upright = [face for face in flat_faces(vertices, faces, min_face_area * cell ** 2, min_width=cell)
               if abs(face.normal[1]) <= max_tilt]
    for face in _base_faces(upright, centres, areas, max_height * cell + cell):
        cut = face.top + clearance * cell
        front = solid.trim_by_plane(tuple(float(x) for x in face.normal), float(cut))
        if front.is_empty():
            continue
        face_points = None
        for piece in front.decompose():
            if piece.volume() < min_volume * cell ** 3:
                continue
            piece_vertices = np.asarray(piece.to_mesh().vert_properties, np.float64)[:, :3]
            heights = piece_vertices @ face.normal - face.offset
            if not min_height * cell <= heights.max() <= max_height * cell:
                continue
            base = piece_vertices[heights <= cut - face.offset + 1e-4]
            if len(base) == 0:
                continue
            if face_points is None:  # the face's plane on the surface, up to the fillets at the pieces' feet
                heights_of_centres = centres @ face.normal - face.offset
                band = ((np.abs(heights_of_centres) <= face.top - face.offset + 0.5 * cell)
                        & (normals @ face.normal > np.cos(np.radians(45.0))))
                band[face.triangles] = True
                face_points = cKDTree(surface_points(triangles[band], 0.15 * cell, rng))
            attached = float((face_points.query(base)[0] < reach * cell).mean())
            if attached < attachment:
                continue
            region, planes = _swept_hull(piece_vertices, face.normal, cut)
            found.append(Protrusion(region, planes, face.normal, float(cut), float(heights.max()),
                                    float(piece.volume()), attached))
    return _distinct(sorted(found, key=lambda p: -p.volume))


def _base_faces(faces: list[FlatFace], centres: np.ndarray, areas: np.ndarray, reach: float, max_angle: float = 5.0
                ) -> list[FlatFace]:
    """The faces that are not the front of a thin piece themselves: a face lying less than ``reach`` in
    front of a larger parallel face, with triangles within ``reach`` of it, is a door's or a drawer's
    front, and what stands on it (a handle, a porthole's rim) belongs to that door or drawer."""
    cos_limit = np.cos(np.radians(max_angle))
    face_areas = [areas[face.triangles].sum() for face in faces]
    trees: dict[int, cKDTree] = {}
    kept = []
    for i, face in enumerate(faces):
        raised = False
        for j, other in enumerate(faces):
            if (j == i or face.normal @ other.normal < cos_limit or face_areas[j] <= face_areas[i]
                    or not 0.0 < face.offset - other.offset <= reach):
                continue
            if j not in trees:
                trees[j] = cKDTree(centres[other.triangles])
            if np.isfinite(trees[j].query(centres[face.triangles], distance_upper_bound=reach)[0]).any():
                raised = True
                break
        if not raised:
            kept.append(face)
    return kept


def _swept_hull(points: np.ndarray, normal: np.ndarray, cut: float) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """The convex hull of ``points`` and their projections onto the plane ``normal . x = cut``: (its
    outward-wound (vertices, faces), its (H, 4) facet planes)."""
    from scipy.spatial import ConvexHull

    projected = points - ((points @ normal) - cut)[:, None] * normal[None]
    both = np.concatenate([points, projected])
    hull = ConvexHull(both)
    used, inverse = np.unique(hull.simplices.reshape(-1), return_inverse=True)
    hull_vertices, hull_faces = both[used], inverse.reshape(-1, 3).astype(np.int64)
    # orient each facet along its outward hull normal
    corners = hull_vertices[hull_faces]
    facing = np.einsum("ij,ij->i", np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]),
                       hull.equations[:, :3])
    hull_faces[facing < 0] = hull_faces[facing < 0][:, ::-1]
    return (hull_vertices, hull_faces), hull.equations


def _distinct(protrusions: list[Protrusion]) -> list[Protrusion]:
    """Drop each protrusion whose region overlaps an earlier (larger) one by half its volume or more."""
    kept, solids = [], []
    for protrusion in protrusions:
        solid = _solid(*protrusion.region)
        if solid is None:
            continue
        if all((solid ^ other).volume() < 0.5 * solid.volume() for other in solids):
            kept.append(protrusion)
            solids.append(solid)
    return kept


def inside_protrusions(points: np.ndarray, protrusions: list[Protrusion], tolerance: float = 1e-9) -> np.ndarray:
    """(N,) int: the index of the protrusion region holding each point, -1 for none (the first one wins)."""
    points = np.asarray(points, np.float64)
    owner = np.full(len(points), -1, np.int64)
    for index, protrusion in enumerate(protrusions):
        inside = (points @ protrusion.planes[:, :3].T + protrusion.planes[:, 3] <= tolerance).all(axis=1)
        owner[inside & (owner < 0)] = index
    return owner


def carve_regions(regions: list, protrusions: list[Protrusion]) -> list:
    """Part regions (closed meshes tiling space, as ``partition.region_meshes`` makes them) with the
    protrusions' regions taken out of them and appended (each less the earlier ones, as
    :func:`inside_protrusions` gives a point to the first): ``len(regions) + len(protrusions)`` regions
    that still tile space. A region that cannot be read as a closed solid is kept as it is."""
    import manifold3d

    holes = [solid for solid in (_solid(*p.region) for p in protrusions) if solid is not None]
    if not holes:
        return list(regions)
    hole = manifold3d.Manifold.batch_boolean(holes, manifold3d.OpType.Add)
    carved = []
    for vertices, faces in regions:
        solid = _solid(vertices, faces) if len(faces) else None
        carved.append((vertices, faces) if solid is None else _arrays(solid - hole))
    earlier = None
    for solid in holes:
        carved.append(_arrays(solid if earlier is None else solid - earlier))
        earlier = solid if earlier is None else earlier + solid
    return carved


def _arrays(solid) -> tuple[np.ndarray, np.ndarray]:
    mesh = solid.to_mesh()
    return np.asarray(mesh.vert_properties, np.float64)[:, :3], np.asarray(mesh.tri_verts, np.int64)


def _solid(vertices: np.ndarray, faces: np.ndarray):
    """A manifold3d solid of a closed mesh, or None."""
    import manifold3d

    solid = manifold3d.Manifold(manifold3d.Mesh(np.ascontiguousarray(vertices, np.float32),
                                                np.ascontiguousarray(faces, np.uint32)))
    return solid if solid.status() == manifold3d.Error.NoError and not solid.is_empty() else None


def host_labels(protrusions: list[Protrusion], labels: np.ndarray, depth: float = 1.5) -> np.ndarray:
    """(P,) int: for each protrusion, the label most common in the cells ``depth`` cells behind its base
    (its base outline and the points halfway from it to the base's centre, moved back against the face's
    normal), on the (n, n, n) ``labels`` grid of the [-1, 1] frame; -1 where all those cells are outside
    (labels < 0)."""
    grid = labels.shape[0]
    cell = 2.0 / grid
    hosts = np.full(len(protrusions), -1, np.int64)
    for index, protrusion in enumerate(protrusions):
        vertices = protrusion.region[0]
        base = vertices[np.abs(vertices @ protrusion.normal - protrusion.cut) < 1e-6 + 1e-6 * abs(protrusion.cut)]
        if len(base) == 0:
            continue
        centre = base.mean(axis=0)
        points = np.concatenate([base, 0.5 * (base + centre), centre[None]]) - depth * cell * protrusion.normal
        index_3d = np.clip(np.floor((points + 1.0) / cell).astype(np.int64), 0, grid - 1)
        found = labels[index_3d[:, 0], index_3d[:, 1], index_3d[:, 2]]
        found = found[found >= 0]
        if len(found):
            hosts[index] = int(np.bincount(found).argmax())
    return hosts
