"""Off-screen CPU rendering of coloured part meshes: RGBA images, indexed part masks, previews.

Why a numpy z-buffer rasteriser and not a GL library: pyrender is not installed and needs PyOpenGL with
OSMesa/EGL; moderngl with Mesa's EGL llvmpipe does start on the development machine, but it depends on
system GL libraries that ``pip`` cannot install (a fresh CI or user machine may lack them), its output
can change with the Mesa version, and the training corpus must be reproducible bit for bit. The
rasteriser below is vectorised over the pixels of every triangle's bounding box, renders a 256 px view of
a ~20k-triangle object in a few tens of milliseconds, and samples exactly at pixel centres, so the
RGBA alpha and the indexed mask come from the very same visibility decision (no anti-aliasing: the mask
union equals ``alpha > 0.5`` exactly).

Conventions: right-handed world, +Y up; the canonical front camera sits on +Z looking at the origin.
Azimuth (degrees) turns the camera about +Y (positive towards +X), elevation (degrees) raises it.
Image rows go down, columns right; pixel (i, j) has its centre at (j + 0.5, i + 0.5).
"""

from __future__ import annotations

import colorsys
import logging
import math
from dataclasses import asdict, dataclass

import numpy as np

from autopartgen.geometry.sampling import as_mesh_arrays

logger = logging.getLogger(__name__)

# The preview palette (RGB in [0, 1]): distinct, saturated, readable on white and on transparency.
PALETTE = np.array([
    [0.90, 0.30, 0.25], [0.20, 0.55, 0.85], [0.30, 0.72, 0.35], [0.95, 0.70, 0.20], [0.60, 0.40, 0.80],
    [0.15, 0.75, 0.75], [0.95, 0.50, 0.65], [0.55, 0.45, 0.30], [0.70, 0.80, 0.25], [0.35, 0.35, 0.65],
    [0.95, 0.55, 0.15], [0.45, 0.65, 0.55], [0.80, 0.25, 0.55], [0.25, 0.40, 0.30], [0.65, 0.65, 0.70],
    [0.85, 0.80, 0.55],
])

_MAX_CANDIDATES = 4_000_000  # pixel candidates evaluated per chunk (bounds memory to ~300 MB)


def part_colors(n: int) -> np.ndarray:
    """Deterministic preview colours (n, 3) in [0, 1]: the palette, then golden-ratio hues past 16."""
    out = [PALETTE[i] if i < len(PALETTE) else colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.65, 0.9)
           for i in range(n)]
    return np.asarray(out, dtype=np.float64).reshape(n, 3)


@dataclass
class Camera:
    """A pinhole camera looking at the origin from ``distance`` (object units) at ``azimuth``/``elevation``
    (degrees), vertical field of view ``fov`` (degrees), square images of ``size`` pixels."""

    azimuth: float = 0.0
    elevation: float = 20.0
    distance: float = 3.5
    fov: float = 40.0
    size: int = 256

    @property
    def position(self) -> np.ndarray:
        """Camera centre (3,) in world units."""
        az, el = math.radians(self.azimuth), math.radians(self.elevation)
        return self.distance * np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)])

    def rotation(self) -> np.ndarray:
        """World-to-camera rotation (3, 3); rows are the camera's right, up and forward axes."""
        forward = -self.position / np.linalg.norm(self.position)
        up = np.array([0.0, 1.0, 0.0])
        right = np.cross(forward, up)
        if np.linalg.norm(right) < 1e-9:  # looking straight up or down
            right = np.array([1.0, 0.0, 0.0])
        right /= np.linalg.norm(right)
        true_up = np.cross(right, forward)
        return np.stack([right, true_up, forward])

    def world_to_camera(self) -> np.ndarray:
        """4x4 extrinsics (camera frame: x right, y up, z forward = depth)."""
        m = np.eye(4)
        m[:3, :3] = self.rotation()
        m[:3, 3] = -m[:3, :3] @ self.position
        return m

    @property
    def focal(self) -> float:
        return (self.size / 2.0) / math.tan(math.radians(self.fov) / 2.0)

    def intrinsics(self) -> np.ndarray:
        """3x3 intrinsics mapping camera (x, y, z) to pixel (u, v) with v down (y is flipped)."""
        f, c = self.focal, self.size / 2.0
        return np.array([[f, 0.0, c], [0.0, -f, c], [0.0, 0.0, 1.0]])

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project world points (N, 3): returns pixel coordinates (N, 2) as (u=column, v=row) and depth (N,)."""
        cam = (np.asarray(points, float) - self.position) @ self.rotation().T
        z = cam[:, 2]
        safe = np.where(np.abs(z) < 1e-9, 1e-9, z)
        u = self.size / 2.0 + self.focal * cam[:, 0] / safe
        v = self.size / 2.0 - self.focal * cam[:, 1] / safe
        return np.stack([u, v], axis=1), z

    def to_dict(self) -> dict:
        d = asdict(self)
        d["world_to_camera"] = self.world_to_camera().round(8).tolist()
        d["intrinsics"] = self.intrinsics().round(8).tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Camera":
        return cls(**{k: d[k] for k in ("azimuth", "elevation", "distance", "fov", "size")})


def fit_distance(vertices: np.ndarray, fov: float, margin: float = 1.08, azimuth: float | None = None,
                 elevation: float | None = None) -> float:
    """Camera distance (looking at the origin) at which ``vertices`` (N, 3) fill the square view.

    With ``azimuth``/``elevation`` the fit is tight for that direction (every vertex projects inside the
    central ``1 / margin`` of the image); without them it fits the bounding sphere about the origin.
    """
    v = np.asarray(vertices, float).reshape(-1, 3)
    if len(v) == 0:
        return 3.0
    tan = math.tan(math.radians(fov) / 2.0)
    if azimuth is None or elevation is None:
        return margin * float(np.linalg.norm(v, axis=1).max()) / math.sin(math.radians(fov) / 2.0)
    rot = Camera(azimuth, elevation, 1.0, fov).rotation()
    cam = v @ rot.T  # x right, y up, z forward (depth relative to the origin)
    need = margin * np.maximum(np.abs(cam[:, 0]), np.abs(cam[:, 1])) / tan - cam[:, 2]
    near = float(cam[:, 2].min() * -1.0) + 0.05  # stay in front of every vertex
    return max(float(need.max()), near)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3)."""
    tri = vertices[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    idx = faces.reshape(-1)
    weights = np.repeat(fn, 3, axis=0)  # each face normal goes to its three corners
    vn = np.stack([np.bincount(idx, weights[:, c], minlength=len(vertices)) for c in range(3)], axis=1)
    norm = np.linalg.norm(vn, axis=1, keepdims=True)
    return vn / np.where(norm > 0, norm, 1.0)


def rasterize(meshes, camera: Camera) -> dict:
    """Z-buffer the meshes (trimesh objects or ``(vertices, faces)`` pairs) from ``camera``.

    Returns a dict of per-pixel arrays, all (S, S): ``part`` (int, -1 = background), ``face`` (index into
    the part's faces), ``triangle`` (index into the concatenated ``faces``), ``bary`` (S, S, 3)
    perspective-correct barycentric weights and ``depth`` (inf on background); plus the concatenated
    ``vertices`` (V, 3) and ``faces`` (F, 3) the indices refer to. Back faces are culled, so meshes must be closed and outward oriented (or seen from
    outside).
    """
    size = camera.size
    verts, faces, owners, local = [], [], [], []
    offset = 0
    for k, mesh in enumerate(meshes):
        v, f = as_mesh_arrays(mesh)
        verts.append(v)
        faces.append(f + offset)
        owners.append(np.full(len(f), k))
        local.append(np.arange(len(f)))
        offset += len(v)
    part = np.full((size, size), -1, dtype=np.int64)
    face = np.full((size, size), -1, dtype=np.int64)
    bary = np.zeros((size, size, 3))
    depth = np.full((size, size), np.inf)
    if offset == 0:
        return {"part": part, "face": face, "triangle": face.copy(), "bary": bary, "depth": depth,
                "vertices": np.zeros((0, 3)), "faces": np.zeros((0, 3), np.int64)}
    verts = np.concatenate(verts)
    faces = np.concatenate(faces)
    owners = np.concatenate(owners)
    local = np.concatenate(local)
    uv, z = camera.project(verts)
    tri_uv = uv[faces]  # (T, 3, 2)
    tri_z = z[faces]  # (T, 3)
    e1 = tri_uv[:, 1] - tri_uv[:, 0]
    e2 = tri_uv[:, 2] - tri_uv[:, 0]
    area = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]  # > 0: clockwise on screen with v down = front face
    keep = (tri_z.min(axis=1) > 1e-6) & (area < -1e-12)
    lo = np.ceil(tri_uv.min(axis=1) - 0.5).astype(np.int64)
    hi = np.floor(tri_uv.max(axis=1) - 0.5).astype(np.int64)
    lo = np.clip(lo, 0, size - 1)
    hi = np.clip(hi, -1, size - 1)
    w = hi[:, 0] - lo[:, 0] + 1
    h = hi[:, 1] - lo[:, 1] + 1
    keep &= (w > 0) & (h > 0) & (tri_uv.max(axis=1) >= 0).all(axis=1) & (tri_uv.min(axis=1) < size).all(axis=1)
    idx = np.nonzero(keep)[0]
    counts = (w[idx] * h[idx]).astype(np.int64)
    flat_depth = depth.reshape(-1)
    flat_tri = np.full(size * size, -1, dtype=np.int64)
    flat_bary = bary.reshape(-1, 3)
    starts = np.concatenate([[0], np.cumsum(counts)])
    chunk_start = 0
    while chunk_start < len(idx):
        # Take triangles until the candidate budget is used (at least one triangle).
        stop = int(np.searchsorted(starts, starts[chunk_start] + _MAX_CANDIDATES, side="right")) - 1
        stop = max(stop, chunk_start + 1)
        tris = idx[chunk_start:stop]
        n = counts[chunk_start:stop]
        total = int(n.sum())
        chunk_start = stop
        t_rep = np.repeat(np.arange(len(tris)), n)
        k = np.arange(total) - np.repeat(np.cumsum(n) - n, n)
        tw = w[tris][t_rep]
        px = lo[tris, 0][t_rep] + k % tw
        py = lo[tris, 1][t_rep] + k // tw
        cx, cy = px + 0.5, py + 0.5
        a = tri_uv[tris][t_rep]  # (M, 3, 2)
        ar = area[tris][t_rep]
        # Barycentric weights from edge functions (screen space).
        b0 = ((a[:, 1, 0] - cx) * (a[:, 2, 1] - cy) - (a[:, 1, 1] - cy) * (a[:, 2, 0] - cx)) / ar
        b1 = ((a[:, 2, 0] - cx) * (a[:, 0, 1] - cy) - (a[:, 2, 1] - cy) * (a[:, 0, 0] - cx)) / ar
        b2 = 1.0 - b0 - b1
        inside = (b0 >= -1e-9) & (b1 >= -1e-9) & (b2 >= -1e-9)
        if not inside.any():
            continue
        t_rep, px, py = t_rep[inside], px[inside], py[inside]
        bs = np.stack([b0[inside], b1[inside], b2[inside]], axis=1)
        zz = tri_z[tris][t_rep]
        inv_z = (bs / zz).sum(axis=1)
        d = 1.0 / inv_z
        pid = py * size + px
        order = np.lexsort((tris[t_rep], d, pid))  # nearest first; ties by triangle index
        pid_sorted = pid[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = pid_sorted[1:] != pid_sorted[:-1]
        win = order[first]
        wp = pid[win]
        better = d[win] < flat_depth[wp]
        win, wp = win[better], wp[better]
        flat_depth[wp] = d[win]
        flat_tri[wp] = tris[t_rep[win]]
        flat_bary[wp] = bs[win] / zz[win] / inv_z[win, None]
    hit = flat_tri >= 0
    part.reshape(-1)[hit] = owners[flat_tri[hit]]
    face.reshape(-1)[hit] = local[flat_tri[hit]]
    return {"part": part, "face": face, "bary": flat_bary.reshape(size, size, 3),
            "depth": flat_depth.reshape(size, size), "triangle": flat_tri.reshape(size, size),
            "vertices": verts, "faces": faces}


@dataclass
class Lighting:
    """A directional light (``direction`` points from the scene towards the light, world frame) plus ambient."""

    direction: tuple = (-0.4, 0.8, 0.6)
    ambient: float = 0.35
    diffuse: float = 0.7


def shade(raster: dict, colors: np.ndarray, camera: Camera, lighting: Lighting | None = None,
          specular: np.ndarray | None = None, shininess: np.ndarray | None = None) -> np.ndarray:
    """Lambert + ambient (+ optional Blinn-Phong specular per part) shading of a raster: RGBA uint8 (S, S, 4).

    ``colors`` (K, 3) in [0, 1]; ``specular`` (K,) strengths and ``shininess`` (K,) exponents (a
    roughness-like control: low exponent = rough). Background is fully transparent.
    """
    lighting = lighting or Lighting()
    size = camera.size
    rgba = np.zeros((size, size, 4), dtype=np.uint8)
    tri = raster["triangle"]
    hit = raster["part"] >= 0
    if not hit.any():
        return rgba
    verts, faces = raster["vertices"], raster["faces"]
    normals = vertex_normals(verts, faces)
    t = tri[hit]
    b = raster["bary"][hit]
    n = np.einsum("mk,mkj->mj", b, normals[faces[t]])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    pos = np.einsum("mk,mkj->mj", b, verts[faces[t]])
    view = camera.position - pos
    view /= np.maximum(np.linalg.norm(view, axis=1, keepdims=True), 1e-12)
    n = np.where((n * view).sum(axis=1, keepdims=True) < 0, -n, n)  # silhouette normals face the viewer
    light = np.asarray(lighting.direction, float)
    light = light / np.linalg.norm(light)
    k = raster["part"][hit]
    col = np.asarray(colors, float)[k]
    lam = np.clip(n @ light, 0.0, 1.0)
    out = col * (lighting.ambient + lighting.diffuse * lam)[:, None]
    if specular is not None:
        half = light[None, :] + view
        half /= np.maximum(np.linalg.norm(half, axis=1, keepdims=True), 1e-12)
        spec = np.clip((n * half).sum(axis=1), 0.0, 1.0) ** np.asarray(shininess, float)[k]
        out = out + (np.asarray(specular, float)[k] * spec)[:, None]
    rgba[hit, :3] = np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)
    rgba[hit, 3] = 255
    return rgba


def mask_from_raster(raster: dict) -> np.ndarray:
    """Indexed mask (S, S): 0 = background, k + 1 = part k (uint8 up to 255 parts, else uint16)."""
    part = raster["part"]
    dtype = np.uint8 if part.max(initial=-1) < 255 else np.uint16
    return (part + 1).astype(dtype)


def render(meshes, colors, camera: Camera, lighting: Lighting | None = None,
           specular=None, shininess=None) -> tuple[np.ndarray, np.ndarray]:
    """Render part meshes: returns (RGBA uint8 (S, S, 4) on transparent background, indexed mask (S, S))."""
    raster = rasterize(meshes, camera)
    return shade(raster, colors, camera, lighting, specular, shininess), mask_from_raster(raster)


# --- training views ----------------------------------------------------------------------------------

_VIEW_AZIMUTHS = [0.0, 45.0, -45.0, 90.0, -90.0, 135.0, -135.0, 180.0]


def random_materials(n_parts: int, rng: np.random.Generator) -> dict:
    """Random per-part materials: ``colors`` (n, 3), ``specular`` (n,), ``shininess`` (n,)."""
    hues = (rng.random() + np.arange(n_parts) * 0.618034 + rng.normal(0, 0.04, n_parts)) % 1.0
    sat = rng.uniform(0.35, 0.85, n_parts)
    val = rng.uniform(0.55, 0.95, n_parts)
    colors = np.array([colorsys.hsv_to_rgb(h, s, v) for h, s, v in zip(hues, sat, val)]).reshape(n_parts, 3)
    rough = rng.random(n_parts)
    return {"colors": colors, "specular": 0.35 * (1 - rough), "shininess": 4 + 60 * (1 - rough) ** 2}


def sample_views(n_views: int, rng: np.random.Generator, vertices: np.ndarray, size: int = 256,
                 fov: float = 40.0) -> list[Camera]:
    """``n_views`` cameras: view 0 near the canonical front (+Z), the others around it, all jittered."""
    cams = []
    for i in range(n_views):
        base = _VIEW_AZIMUTHS[i % len(_VIEW_AZIMUTHS)] + 360.0 * (i // len(_VIEW_AZIMUTHS)) / 16.0
        az = base + float(rng.normal(0.0, 12.0))
        el = float(np.clip(rng.normal(20.0, 8.0), -5.0, 50.0))
        dist = fit_distance(vertices, fov, float(rng.uniform(1.05, 1.2)), az, el)
        cams.append(Camera(round(az, 4), round(el, 4), round(dist, 6), fov, size))
    return cams


def random_lighting(rng: np.random.Generator, camera: Camera) -> Lighting:
    """A light above and to one side of the camera, jittered."""
    az = math.radians(camera.azimuth + float(rng.uniform(-60.0, 60.0)))
    el = math.radians(float(rng.uniform(25.0, 70.0)))
    d = (math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az))
    return Lighting(tuple(round(x, 6) for x in d), float(rng.uniform(0.25, 0.45)), float(rng.uniform(0.55, 0.8)))


def render_views(meshes, n_views: int, rng: np.random.Generator, size: int = 256) -> list[dict]:
    """Render ``n_views`` jittered views with random materials and lights.

    Returns one dict per view: ``rgba`` (S, S, 4) uint8, ``mask`` (S, S), ``camera`` (:class:`Camera`),
    ``lighting`` (:class:`Lighting`), ``materials`` (dict of arrays). Materials are drawn once per
    object, so a part keeps its colour across views.
    """
    arrays = [as_mesh_arrays(m) for m in meshes]
    allv = np.concatenate([v for v, _ in arrays]) if arrays else np.zeros((1, 3))
    mats = random_materials(len(arrays), rng)
    out = []
    for cam in sample_views(n_views, rng, allv, size):
        light = random_lighting(rng, cam)
        rgba, mask = render(arrays, mats["colors"], cam, light, mats["specular"], mats["shininess"])
        out.append({"rgba": rgba, "mask": mask, "camera": cam, "lighting": light, "materials": mats})
    return out


# --- previews -----------------------------------------------------------------------------------------


# A preview is 2 x 384 px, the object covering a fraction of each half: 100k triangles already outnumber
# the pixels they land on. Parts over this many faces in all are drawn from decimated copies: the
# rasteriser's cost grows with the faces (about 45 s for the 9M faces of six noisy-field parts on 2
# cores), the copies take a few seconds.
PREVIEW_FACE_BUDGET = 100_000
_PREVIEW_MIN_PART_FACES = 2_000


def exploded(meshes, factor: float = 0.6) -> list[tuple[np.ndarray, np.ndarray]]:
    """Parts pushed away from the object's centroid along their own centroid direction by ``factor``."""
    arrays = [as_mesh_arrays(m) for m in meshes]
    if not arrays:
        return []
    cents = np.array([v.mean(axis=0) if len(v) else np.zeros(3) for v, _ in arrays])
    centre = np.concatenate([v for v, _ in arrays]).mean(axis=0)
    return [(v + factor * (c - centre), f) for (v, f), c in zip(arrays, cents)]


def preview_copies(meshes, face_budget: int | None = PREVIEW_FACE_BUDGET) -> list[tuple[np.ndarray, np.ndarray]]:
    """The parts as a preview draws them: unchanged when they have at most ``face_budget`` faces in all,
    else each part over its share of the budget (its share of all faces) decimated to that share
    (fast-simplification's quadric decimation, at least 2,000 faces a part; one part at a time, as
    fast-simplification allows).

    Returns:
        ``(vertices (V', 3), faces (F', 3))`` per part, in order.
    """
    from autopartgen.geometry.cleanup import simplify

    arrays = [as_mesh_arrays(m) for m in meshes]
    total = sum(len(f) for _, f in arrays)
    if face_budget is None or total <= face_budget:
        return arrays
    # A part within its share comes back as it is.
    return [simplify(v, f, max(_PREVIEW_MIN_PART_FACES, face_budget * len(f) // total)) for v, f in arrays]


def render_preview(meshes, colors=None, size: int = 384, azimuth: float = 30.0, elevation: float = 20.0,
                   face_budget: int | None = PREVIEW_FACE_BUDGET) -> np.ndarray:
    """Assembled (left) and exploded (right) views side by side: RGBA uint8 (size, 2 * size, 4).

    ``meshes`` are trimesh objects or ``(vertices, faces)`` pairs; ``colors`` (K, 3) in [0, 1] or 0-255,
    defaulting to :func:`part_colors`. Both halves use the same camera direction; each is framed to fit.
    Past ``face_budget`` faces in all, the picture is made of :func:`preview_copies` (framing and
    exploded offsets included); ``None`` draws every face.
    """
    arrays = preview_copies(meshes, face_budget)
    colors = part_colors(len(arrays)) if colors is None else np.asarray(colors, float)[:, :3]
    if colors.size and colors.max() > 1.0:
        colors = colors / 255.0
    halves = []
    for parts in (arrays, exploded(arrays)):
        allv = np.concatenate([v for v, _ in parts]) if parts else np.zeros((1, 3))
        centre = (allv.min(0) + allv.max(0)) / 2
        shifted = [(v - centre, f) for v, f in parts]
        cam = Camera(azimuth, elevation, fit_distance(allv - centre, 35.0, 1.06, azimuth, elevation), 35.0, size)
        light = Lighting((-0.3 + math.sin(math.radians(azimuth)), 0.9, 0.7))
        rgba, _ = render(shifted, colors, cam, light, np.full(len(parts), 0.15), np.full(len(parts), 24.0))
        halves.append(rgba)
    return np.concatenate(halves, axis=1)
