"""The web app's HTTP server and job queue (standard library only).

Layout of the work root (every job in its own folder, named by a random UUID)::

    <work root>/<job id>/inputs/mesh.glb | image.png | mask.png    the uploads, under fixed names
    <work root>/<job id>/output/                                    what `autopartgen generate` writes
    <work root>/<job id>/parts.zip                                  the output folder as a zip, on demand

HTTP API (JSON unless noted)::

    GET  /                                   the page (static/index.html); /static/... its files
    GET  /api/info                           upload limit, accepted file types, queue length
    POST /api/jobs                           multipart form: files mesh / image / mask, fields seed,
                                             max_parts, grid_size, image_cfg_scale, geometry_cfg_scale
                                             -> 202 job status, or 400 / 413 {"error": one line}
    GET  /api/jobs/<id>                      job status: state, stage, place in queue, part k of n, files
    GET  /api/jobs/<id>/files/<path>         a file of the job (inputs/..., output/...)
    GET  /api/jobs/<id>/download.zip         the whole output folder as a zip

Jobs run one at a time in a worker thread, in submission order. Nothing outside the work root is
written, and nothing outside the work root or the static folder is served: request paths are decoded
once, ``.`` / ``..`` segments, back-slashes and NUL are refused, and the resolved path must lie inside
its base folder. Job folders older than ``keep_hours`` are deleted (never a queued or running job).
"""

from __future__ import annotations

import collections
import json
import logging
import mimetypes
import os
import re
import shutil
import signal
import tempfile
import threading
import time
import traceback
import uuid
import zipfile
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import unquote, urlsplit

from autopartgen.errors import ConfigError, OutputPathError, PartGenError
from autopartgen.modes import input_mode
from autopartgen.options import GenerationOptions

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply", ".stl", ".off")  # as autopartgen.inputs.MESH_SUFFIXES
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".webp")
UPLOAD_SUFFIXES = {"mesh": MESH_SUFFIXES, "image": IMAGE_SUFFIXES, "mask": MASK_SUFFIXES}
# name: (type, low, high)
OPTION_FIELDS = {
    "seed": (int, 0, 2**31 - 1),
    "max_parts": (int, 1, 64),
    "grid_size": (int, 8, 1024),
    "image_cfg_scale": (float, 0.0, 100.0),
    "geometry_cfg_scale": (float, 0.0, 100.0),
}
CONTENT_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".html": "text/html",
                 ".json": "application/json", ".glb": "model/gltf-binary", ".gltf": "model/gltf+json",
                 ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
                 ".zip": "application/zip", ".md": "text/plain", ".obj": "text/plain", ".txt": "text/plain"}
STAGES = ("queued", "loading model", "generating", "exporting", "done", "error", "cancelled")


class UploadError(PartGenError):
    """A bad request from the page: wrong type, too large, malformed form, bad option."""

    def __init__(self, message: str, status: int = HTTPStatus.BAD_REQUEST):
        super().__init__(" ".join(str(message).split()))
        self.status = int(status)


# ----------------------------------------------------------------------------------------------------
# jobs


@dataclass
class Job:
    id: str
    dir: Path
    mode: str
    inputs: dict  # kind -> saved Path
    names: dict  # kind -> the uploaded file's name (for display)
    options: dict  # GenerationOptions overrides
    state: str = "queued"  # queued | running | done | error | cancelled
    stage: str = "queued"  # one of STAGES
    error: Optional[str] = None
    created: float = field(default_factory=time.time)
    started: Optional[float] = None
    finished: Optional[float] = None
    num_parts: Optional[int] = None
    stop_reason: Optional[str] = None

    @property
    def output_dir(self) -> Path:
        return self.dir / "output"

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")


def _tqdm_progress() -> dict:
    """The pipeline's live tqdm bars ("parts", "diffusion") as numbers; {} when none is running.

    Only one job runs at a time, so the bars alive in this process are the running job's.
    """
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return {}
    with tqdm.get_lock():
        bars = list(getattr(tqdm, "_instances", []))
    found = {}
    for bar in bars:
        desc = str(getattr(bar, "desc", "") or "").strip(": ")
        if desc in ("parts", "diffusion"):
            found[desc] = (int(getattr(bar, "n", 0) or 0), int(getattr(bar, "total", 0) or 0))
    progress = {}
    if "parts" in found:
        done, total = found["parts"]
        progress.update(part=min(done + 1, total) if total else done + 1, max_parts=total)
        fraction = done
        if "diffusion" in found and found["diffusion"][1]:
            step, steps = found["diffusion"]
            progress.update(step=step, steps=steps)
            fraction += step / steps
        if total:
            progress["fraction"] = round(min(1.0, fraction / total), 4)
    return progress


class PipelineRunner:
    """Runs a job with the real pipeline; the model is loaded once (in the worker thread) and kept."""

    def __init__(self, weights=None, config=None, device=None):
        self.weights, self.config, self.device = weights, config, device
        self._pipe = None
        self._lock = threading.Lock()

    def pipeline(self):
        with self._lock:
            if self._pipe is None:
                from autopartgen.api import load_pipeline

                self._pipe = load_pipeline(self.weights, self.config, self.device)
            return self._pipe

    def warm(self) -> None:
        """Load the model ahead of the first job; a failure is reported again by each job."""
        try:
            self.pipeline()
        except Exception as error:  # noqa: BLE001 - logged; the jobs show it
            logger.error("could not load the model: %s", error)

    def __call__(self, job: Job, set_stage: Callable[[str], None]) -> None:
        from autopartgen.api import generate_parts
        from autopartgen.simulation import SimExportOptions

        options = GenerationOptions(progress=True, **job.options)
        result = generate_parts(self.pipeline, output_dir=job.output_dir, options=options,
                                input_names={kind: job.names.get(kind) for kind in job.inputs},
                                on_stage=set_stage, sim_export=SimExportOptions(formats=("urdf", "mjcf")),
                                **{kind: str(path) for kind, path in job.inputs.items()})
        job.num_parts, job.stop_reason = len(result.parts), result.stop_reason


def block_stop_signals() -> None:
    """In a background thread: leave SIGINT and SIGTERM to the main thread, which turns them into a clean
    shutdown. The threads this one starts (torch's intra-op pool among them) inherit the mask, so the
    signal never lands inside a library call that does not expect it: Ctrl-C while the worker imported
    torch aborted ``serve`` (SIGABRT) in about 1 try of 15. POSIX only; elsewhere a no-op."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


class JobManager:
    """The queue: jobs run one at a time in one worker thread, in submission order."""

    def __init__(self, work_root, runner: Callable[[Job, Callable[[str], None]], None], keep_hours: float = 24.0):
        self.work_root = Path(work_root).resolve()
        if self.work_root.exists() and not self.work_root.is_dir():
            raise OutputPathError(f"work root '{self.work_root}' is a file; pass a folder with --work-root")
        self.work_root.mkdir(parents=True, exist_ok=True)
        self.runner = runner
        self.keep_seconds = float(keep_hours) * 3600.0
        self.jobs: dict[str, Job] = {}
        self.waiting: collections.deque[str] = collections.deque()
        self.current: Optional[str] = None
        self.warming = False  # the worker is loading the model before the first job
        self._warmed = threading.Event()  # set once the worker has finished (or skipped) loading the model
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._zip_lock = threading.Lock()
        self._worker = threading.Thread(target=self._work, name="autopartgen-worker", daemon=True)
        self._janitor = threading.Thread(target=self._clean_periodically, name="autopartgen-cleanup", daemon=True)

    # lifecycle ------------------------------------------------------------------------------------
    def start(self) -> "JobManager":
        self.cleanup()
        self._worker.start()
        self._janitor.start()
        return self

    def stop(self, timeout: float = 2.0, warm_timeout: float = 120.0) -> None:
        """Stop taking jobs; queued jobs are cancelled; a running job is abandoned (daemon thread).

        A model still loading is waited for (up to ``warm_timeout`` s): the interpreter exiting while the
        worker thread imports torch or reads weights can abort (SIGABRT) or hang instead of exiting.
        """
        self._stopping.set()
        if self._worker.is_alive():
            self._warmed.wait(warm_timeout)
        with self._cond:
            for job_id in self.waiting:
                job = self.jobs[job_id]
                job.state = job.stage = "cancelled"
            self.waiting.clear()
            self._cond.notify_all()
        for thread in (self._worker, self._janitor):
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout)

    # queue ------------------------------------------------------------------------------------------
    def new_job_dir(self) -> tuple[str, Path]:
        job_id = uuid.uuid4().hex
        folder = self.work_root / job_id
        folder.mkdir()
        return job_id, folder

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._stopping.is_set():
                raise UploadError("the server is shutting down", HTTPStatus.SERVICE_UNAVAILABLE)
            self.jobs[job.id] = job
            self.waiting.append(job.id)
            self._cond.notify_all()
        logger.info("job %s queued (%s; %d waiting)", job.id, job.mode, len(self.waiting))

    def _work(self) -> None:
        block_stop_signals()
        warm = getattr(self.runner, "warm", None)
        try:
            if warm is not None and not self._stopping.is_set():
                self.warming = True
                warm()
        finally:
            self.warming = False
            self._warmed.set()
        while not self._stopping.is_set():
            with self._cond:
                while not self.waiting and not self._stopping.is_set():
                    self._cond.wait(0.5)
                if self._stopping.is_set():
                    return
                job = self.jobs[self.waiting.popleft()]
                self.current = job.id
                job.state, job.stage, job.started = "running", "loading model", time.time()
            try:
                self.runner(job, lambda stage, job=job: setattr(job, "stage", stage))
                job.state = job.stage = "done"
            except PartGenError as error:
                job.error = " ".join(_hide_paths(str(error), job).split())
                job.state = job.stage = "error"
            except Exception as error:  # noqa: BLE001 - a failed job must not stop the worker
                logger.error("job %s failed:\n%s", job.id, traceback.format_exc())
                job.error = " ".join(f"internal error ({type(error).__name__}): {_hide_paths(str(error), job)}".split())
                job.state = job.stage = "error"
            finally:
                job.finished = time.time()
                with self._cond:
                    self.current = None
                logger.info("job %s %s in %.1f s%s", job.id, job.state, job.finished - job.started,
                            f": {job.error}" if job.error else "")

    def position(self, job_id: str) -> int:
        """1 for the next job to run, 2 for the one after, ...; 0 when not waiting."""
        with self._cond:
            try:
                return self.waiting.index(job_id) + 1
            except ValueError:
                return 0

    def status(self, job_id: str) -> Optional[dict]:
        job = self.jobs.get(job_id)
        if job is None:
            return None
        base = f"/api/jobs/{job.id}"
        status = {
            "id": job.id, "state": job.state, "stage": job.stage, "mode": job.mode,
            "position": self.position(job.id), "queue_length": len(self.waiting),
            "options": job.options, "error": job.error,
            "inputs": {kind: {"name": job.names[kind], "url": f"{base}/files/inputs/{path.name}"}
                       for kind, path in job.inputs.items()},
            "elapsed_s": round((job.finished or time.time()) - job.started, 2) if job.started else 0.0,
            "progress": {},
        }
        if job.state == "queued" and status["position"] == 1 and self.warming:
            status["stage"] = "loading model"
        if job.state == "running" and job.stage == "generating":
            status["progress"] = _tqdm_progress()
        if job.state == "done":
            files = sorted(p.name for p in job.output_dir.iterdir() if p.is_file() and not p.name.startswith(".")) \
                if job.output_dir.is_dir() else []
            parts = sorted(name for name in files if re.fullmatch(r"mesh_\d{3,}\.glb", name))
            url = f"{base}/files/output/"
            status["result"] = {
                "num_parts": len(parts), "stop_reason": job.stop_reason,
                "files": [{"name": name, "url": url + name, "size": (job.output_dir / name).stat().st_size}
                          for name in files],
                "parts": [url + name for name in parts],
                "combined": url + "mesh_combined.glb" if "mesh_combined.glb" in files else None,
                "manifest": url + "parts.json" if "parts.json" in files else None,
                "preview": url + "preview.png" if "preview.png" in files else None,
                "mask_colored": url + "mask_colored.png" if "mask_colored.png" in files else None,
                "zip": f"{base}/download.zip",
                "simulation": url + "object.urdf" if "object.urdf" in files else None,
            }
        return status

    def summary(self) -> dict:
        with self._cond:
            return {"running": self.current is not None, "queued": len(self.waiting)}

    # files ------------------------------------------------------------------------------------------
    def job_file(self, job_id: str, relative: str) -> Optional[Path]:
        """The file ``relative`` inside a known job's folder, or None (unknown job, escape, hidden, missing)."""
        job = self.jobs.get(job_id)
        if job is None:
            return None
        return safe_join(job.dir, relative)

    def zip_path(self, job_id: str) -> Optional[Path]:
        """``parts.zip`` of a finished job: every visible file of its output folder, built once."""
        job = self.jobs.get(job_id)
        if job is None or job.state != "done":
            return None
        target = job.dir / "parts.zip"
        with self._zip_lock:
            if not target.is_file():
                fd, tmp = tempfile.mkstemp(prefix=".parts.zip.", dir=job.dir)
                try:
                    with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as zf:
                        for path in sorted(job.output_dir.rglob("*")) if job.output_dir.is_dir() else []:
                            relative = path.relative_to(job.output_dir)
                            if path.is_file() and not path.is_symlink() and \
                                    not any(piece.startswith(".") for piece in relative.parts):
                                zf.write(path, f"autopartgen-{job.id[:8]}/{relative.as_posix()}")
                    os.replace(tmp, target)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
        return target

    # cleanup ----------------------------------------------------------------------------------------
    def cleanup(self, now: Optional[float] = None) -> list[str]:
        """Delete job folders (UUID-named, in the work root) older than ``keep_hours``; returns their ids.

        The age of a known job counts from when it finished; a folder from an earlier server run counts
        from its modification time. Queued and running jobs and foreign files are never touched.
        """
        now = time.time() if now is None else now
        removed = []
        for folder in self.work_root.iterdir():
            if not JOB_ID.match(folder.name) or folder.is_symlink() or not folder.is_dir():
                continue
            job = self.jobs.get(folder.name)
            if job is not None and job.active:
                continue
            try:
                stamp = job.finished if job is not None and job.finished else folder.stat().st_mtime
            except OSError:
                continue
            if now - stamp > self.keep_seconds:
                shutil.rmtree(folder, ignore_errors=True)
                self.jobs.pop(folder.name, None)
                removed.append(folder.name)
        if removed:
            logger.info("removed %d old job folder(s)", len(removed))
        return removed

    def _clean_periodically(self) -> None:
        block_stop_signals()
        interval = min(600.0, max(1.0, self.keep_seconds / 4))
        while not self._stopping.wait(interval):
            try:
                self.cleanup()
            except OSError as error:  # pragma: no cover - keep the janitor alive
                logger.warning("cleanup failed: %s", error)


def _hide_paths(message: str, job: Job) -> str:
    """Show the uploaded file names instead of the server's paths in an error message."""
    for kind, path in job.inputs.items():
        message = message.replace(str(path), job.names.get(kind, path.name))
    return message.replace(str(job.dir), "<job>")


def safe_join(base: Path, relative: str) -> Optional[Path]:
    """``base / relative`` when it is an existing, visible, regular file inside ``base``; else None."""
    parts = relative.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
        return None
    base = base.resolve()
    try:
        path = base.joinpath(*parts).resolve()
    except (OSError, ValueError):
        return None
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


# ----------------------------------------------------------------------------------------------------
# uploads


def parse_multipart(body: bytes, content_type: str) -> tuple[dict, dict]:
    """Split a multipart/form-data body into ``({name: text}, {name: (filename, bytes)})``."""
    match = re.search(r'boundary="?([^";]+)"?', content_type or "")
    if not content_type.lower().startswith("multipart/form-data") or not match:
        raise UploadError("expected a multipart/form-data upload")
    delimiter = b"\r\n--" + match.group(1).encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    if len(chunks) < 2 or not chunks[-1].startswith(b"--"):
        raise UploadError("the upload is incomplete (malformed multipart form); try again")
    fields, files = {}, {}
    for chunk in chunks[1:-1]:
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise UploadError("malformed multipart form part")
        headers = head.decode("utf-8", "replace")
        disposition = re.search(r'(?im)^content-disposition:\s*form-data(.*)$', headers)
        if not disposition:
            raise UploadError("malformed multipart form part (no Content-Disposition)")
        params = dict(re.findall(r';\s*([\w*-]+)="((?:[^"\\]|\\.)*)"', disposition.group(1)))
        name = params.get("name")
        if not name:
            continue
        if "filename" in params:
            if params["filename"] or data:
                files[name] = (params["filename"], data)
        else:
            fields[name] = data.decode("utf-8", "replace")
    return fields, files


def display_name(filename: str) -> str:
    """The last path component of an uploaded file name, printable and at most 80 characters."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip() or "upload"
    return name if len(name) <= 80 else name[:38] + "..." + name[-39:]


def parse_options(fields: dict) -> dict:
    """The form's option fields -> GenerationOptions overrides, within the page's limits and then checked
    by :meth:`GenerationOptions.validate` (e.g. grid sizes the extraction cannot refine to)."""
    options = {}
    for name, (kind, low, high) in OPTION_FIELDS.items():
        text = str(fields.get(name, "")).strip()
        if not text:
            continue
        try:
            value = kind(text)
        except ValueError:
            raise UploadError(f"{name.replace('_', ' ')} must be {'a whole number' if kind is int else 'a number'}, "
                              f"got '{text[:20]}'") from None
        if not (low <= value <= high) or value != value:
            raise UploadError(f"{name.replace('_', ' ')} must be between {low} and {high}, got {text[:20]}")
        options[name] = value
    try:
        GenerationOptions(**options).validate()
    except ConfigError as error:
        raise UploadError(str(error)) from None
    return options


def mode_of(kinds) -> str:
    """The input mode of a set of upload kinds (:func:`autopartgen.modes.input_mode`), as an UploadError."""
    try:
        return input_mode("image" in kinds, "mesh" in kinds, "mask" in kinds)
    except PartGenError as error:
        raise UploadError(str(error)) from None


def validate_inputs(saved: dict, names: dict) -> None:
    """Load each upload as a run does (:func:`autopartgen.api.load_inputs`); errors name the uploaded file."""
    from autopartgen.api import load_inputs

    try:
        load_inputs(**{kind: str(path) for kind, path in saved.items()})
    except PartGenError as error:
        message = str(error)
        for kind, path in saved.items():
            message = message.replace(str(path), names[kind])
        raise UploadError(message) from None


# ----------------------------------------------------------------------------------------------------
# HTTP


class WebApp:
    """Everything a request handler needs: the job manager, limits, the static folder."""

    def __init__(self, manager: JobManager, max_upload_mb: float = 50.0, static_dir: Path = STATIC_DIR):
        self.manager = manager
        self.max_upload_bytes = int(max_upload_mb * 1024 * 1024)
        self.static_dir = Path(static_dir).resolve()

    def create_job(self, fields: dict, files: dict) -> Job:
        unknown = sorted(set(files) - set(UPLOAD_SUFFIXES))
        if unknown:
            raise UploadError(f"unexpected upload field '{unknown[0]}'; use mesh, image or mask")
        names = {kind: display_name(filename) for kind, (filename, _) in files.items()}
        suffixes = {}
        for kind, (filename, data) in files.items():
            suffix = Path(names[kind]).suffix.lower()
            if suffix not in UPLOAD_SUFFIXES[kind]:
                raise UploadError(f"{kind} '{names[kind]}': unsupported file type '{suffix or '(no suffix)'}'; "
                                  f"pick a {' / '.join(s[1:].upper() for s in UPLOAD_SUFFIXES[kind])} file")
            if not data:
                raise UploadError(f"{kind} '{names[kind]}': file is empty (0 bytes); pick another file")
            suffixes[kind] = ".jpg" if suffix == ".jpeg" else suffix
        mode = mode_of(files)
        options = parse_options(fields)
        job_id, folder = self.manager.new_job_dir()
        try:
            (folder / "inputs").mkdir()
            saved = {}
            for kind, (_, data) in files.items():
                saved[kind] = folder / "inputs" / f"{kind}{suffixes[kind]}"
                saved[kind].write_bytes(data)
            validate_inputs(saved, names)
            job = Job(job_id, folder, mode, saved, names, options)
            self.manager.submit(job)
            return job
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise


class Handler(BaseHTTPRequestHandler):
    server_version = "autopartgen"
    protocol_version = "HTTP/1.1"

    @property
    def app(self) -> WebApp:
        return self.server.app  # type: ignore[attr-defined]

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        logger.debug("%s %s", self.address_string(), format % args)

    # responses ------------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, extra: Optional[dict] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        self._send(status, (json.dumps(obj) + "\n").encode("utf-8"), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def _file(self, path: Path, download_name: Optional[str] = None) -> None:
        content_type = CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] \
            or "application/octet-stream"
        if content_type.startswith("text/") or content_type == "application/json":
            content_type += "; charset=utf-8"
        extra = {"Content-Disposition": f'attachment; filename="{download_name}"'} if download_name else None
        self._send(HTTPStatus.OK, path.read_bytes(), content_type, extra)

    # routing ----------------------------------------------------------------------------------------
    def _route(self) -> Optional[list]:
        """The decoded path segments, or None after answering a bad path / host."""
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()
        if getattr(self.server, "loopback_only", False) and host not in ("127.0.0.1", "localhost", "::1", ""):
            self._error(HTTPStatus.FORBIDDEN, "this server only answers requests for localhost")
            return None
        raw = urlsplit(self.path).path
        try:
            path = unquote(raw, errors="strict") if "%" in raw else raw
        except UnicodeDecodeError:
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return None
        segments = path.split("/")[1:]
        if any(s in (".", "..") or "\\" in s or "\x00" in s for s in segments):
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return None
        return segments

    def do_HEAD(self):  # noqa: N802
        self.do_GET()

    def do_GET(self):  # noqa: N802
        segments = self._route()
        if segments is None:
            return
        manager = self.app.manager
        if segments in ([""], ["index.html"]):
            return self._file(self.app.static_dir / "index.html")
        if segments[0] == "static" and len(segments) > 1:
            path = safe_join(self.app.static_dir, "/".join(segments[1:]))
            return self._file(path) if path else self._error(HTTPStatus.NOT_FOUND, "not found")
        if segments == ["api", "info"]:
            return self._json(HTTPStatus.OK, {"max_upload_mb": self.app.max_upload_bytes / 2**20,
                                              "accept": {k: list(v) for k, v in UPLOAD_SUFFIXES.items()},
                                              "options": {k: [v[1], v[2]] for k, v in OPTION_FIELDS.items()},
                                              **manager.summary()})
        if len(segments) >= 3 and segments[:2] == ["api", "jobs"]:
            job_id = segments[2]
            if not JOB_ID.match(job_id) or job_id not in manager.jobs:
                return self._error(HTTPStatus.NOT_FOUND, "no such job (finished jobs are deleted after a while)")
            if len(segments) == 3:
                return self._json(HTTPStatus.OK, manager.status(job_id))
            if len(segments) >= 5 and segments[3] == "files":
                path = manager.job_file(job_id, "/".join(segments[4:]))
                return self._file(path) if path else self._error(HTTPStatus.NOT_FOUND, "not found")
            if segments[3:] == ["download.zip"]:
                path = manager.zip_path(job_id)
                if path is None:
                    return self._error(HTTPStatus.CONFLICT, "the job has no results yet")
                return self._file(path, download_name=f"autopartgen-{job_id[:8]}.zip")
        return self._error(HTTPStatus.NOT_FOUND, "not found")

    def do_POST(self):  # noqa: N802
        segments = self._route()
        if segments is None:
            return
        if segments != ["api", "jobs"]:
            self.close_connection = True
            return self._error(HTTPStatus.NOT_FOUND, "not found")
        try:
            body = self._read_body()
            fields, files = parse_multipart(body, self.headers.get("Content-Type", ""))
            job = self.app.create_job(fields, files)
        except UploadError as error:
            return self._error(error.status, str(error))
        except PartGenError as error:
            return self._error(HTTPStatus.BAD_REQUEST, " ".join(str(error).split()))
        except Exception as error:  # noqa: BLE001 - a bad upload must not take the server down
            logger.error("upload failed:\n%s", traceback.format_exc())
            return self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"upload failed ({type(error).__name__})")
        self._json(HTTPStatus.ACCEPTED, self.app.manager.status(job.id))

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            raise UploadError("the upload has no Content-Length", HTTPStatus.LENGTH_REQUIRED)
        length, limit = int(length), self.app.max_upload_bytes
        if length > limit:
            # Drain a moderately oversized body so the client reads our answer instead of a reset.
            if length <= 4 * limit:
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            else:
                self.close_connection = True
            raise UploadError(f"the upload is {length / 2**20:.1f} MB, more than the {limit / 2**20:g} MB limit; "
                              "pick smaller files (or restart the server with a larger --max-upload-mb)",
                              HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            raise UploadError("the upload was cut off; try again")
        return body


class AppServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, app: WebApp):
        self.app = app
        self.loopback_only = address[0] in ("127.0.0.1", "localhost", "::1")
        super().__init__(address, Handler)


def make_server(host: str = "127.0.0.1", port: int = 7860, work_root=None, runner=None, weights=None,
                config=None, device=None, max_upload_mb: float = 50.0, keep_hours: float = 24.0) -> AppServer:
    """Build (and start the job worker of) a server; call ``serve_forever()`` on it, then :func:`close`."""
    work_root = Path(work_root) if work_root else Path(tempfile.gettempdir()) / "autopartgen-web"
    runner = runner or PipelineRunner(weights, config, device)
    manager = JobManager(work_root, runner, keep_hours=keep_hours).start()
    return AppServer((host, port), WebApp(manager, max_upload_mb=max_upload_mb))


def close(server: AppServer) -> None:
    """Stop a server made by :func:`make_server` (after ``serve_forever`` returned)."""
    server.server_close()
    server.app.manager.stop()


def serve(host: str = "127.0.0.1", port: int = 7860, **kwargs) -> int:
    """Run the app until Ctrl-C (or SIGTERM); returns 0 after a clean shutdown.

    SIGINT and SIGTERM are held back from building the server until its ``try`` is entered, so a Ctrl-C
    right after start-up (even before the URL shows) still stops the job worker before the interpreter
    exits: leaving it loading the model made the exit abort ("terminate called without an active
    exception", about 1 try in 10 with Ctrl-C sent as the URL appeared).
    """
    in_main = threading.current_thread() is threading.main_thread()
    masked = in_main and hasattr(signal, "pthread_sigmask")
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals) if masked else None

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt

    server, previous = None, None
    try:
        server = make_server(host, port, **kwargs)
        if in_main:
            previous = signal.signal(signal.SIGTERM, on_sigterm)
        url_host = f"[{host}]" if ":" in host else host
        logger.info("autopartgen web app on http://%s:%d/ (work root %s); Ctrl-C stops it", url_host,
                    server.server_address[1], server.app.manager.work_root)
        if masked:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)  # a Ctrl-C held back lands here, in the try
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        logger.info("shutting down")
    finally:
        if masked:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        if server is not None:
            close(server)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0
