"""`autopartgen serve` at the HTTP level (no browser): uploads, queue, path safety, zip, cleanup, shutdown.

Most tests use a fake runner that writes a small output folder instantly (and can be held at a gate), so
queue order and concurrency are checked without the model; one test runs the real pipeline on a tiny
random-weight model.
"""

import http.client
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from pathlib import Path

import pytest
import trimesh

from autopartgen.errors import InputFileError
from autopartgen.web.server import PipelineRunner, close, make_server

ROOT = Path(__file__).resolve().parents[1]
CHAIR = ROOT / "examples" / "chair"


class FakeRunner:
    """Writes a two-part output folder; ``gate`` (when set up) holds each job until released."""

    def __init__(self):
        self.order = []
        self.gate = None
        self.started = threading.Event()
        self.box = io.BytesIO(trimesh.creation.box().export(file_type="glb")).getvalue()

    def __call__(self, job, set_stage):
        self.order.append(job.id)
        set_stage("generating")
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(20), "test gate never released"
        if job.options.get("seed") == 13:
            raise InputFileError(f"mesh '{job.inputs['mesh']}': made-up failure; pick another seed")
        if job.options.get("seed") == 14:
            raise RuntimeError("boom")
        set_stage("exporting")
        out = job.output_dir
        out.mkdir()
        for name in ("mesh_000.glb", "mesh_001.glb", "mesh_combined.glb"):
            (out / name).write_bytes(self.box)
        (out / "parts.json").write_text(json.dumps({"num_parts": 2, "parts": [{"file": "mesh_000.glb"},
                                                                                {"file": "mesh_001.glb"}]}))
        (out / ".autopartgen-outputs.json").write_text("{}")
        job.num_parts, job.stop_reason = 2, "max_parts"


def start(server):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def app(tmp_path):
    runner = FakeRunner()
    work = tmp_path / "work"
    server = make_server("127.0.0.1", 0, work_root=work, runner=runner, max_upload_mb=1, keep_hours=1)
    start(server)
    yield server, runner, work
    if runner.gate is not None:
        runner.gate.set()
    server.shutdown()
    close(server)


# ---------------------------------------------------------------------------------------------- helpers
def request(server, method, path, body=None, headers=None):
    """A raw request (the path is sent exactly as given); returns (status, headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def get_json(server, path):
    status, _, body = request(server, "GET", path)
    return status, json.loads(body)


def multipart(files=(), fields=None):
    boundary = uuid.uuid4().hex
    chunks = []
    for name, value in (fields or {}).items():
        chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, filename, data in files:
        chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                      f'Content-Type: application/octet-stream\r\n\r\n'.encode() + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def upload(server, files=(), **fields):
    body, headers = multipart(files, fields)
    status, _, answer = request(server, "POST", "/api/jobs", body, headers)
    return status, json.loads(answer)


def chair_mesh():
    return ("mesh", "chair.glb", (CHAIR / "mesh.glb").read_bytes())


def wait_done(server, job_id, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, body = get_json(server, f"/api/jobs/{job_id}")
        assert status == 200
        if body["state"] not in ("queued", "running"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {body}")


def job_dirs(work):
    return sorted(p.name for p in work.iterdir() if p.is_dir())


# ---------------------------------------------------------------------------------------------- tests
def test_page_and_vendored_three_are_served(app):
    server, _, _ = app
    status, headers, body = request(server, "GET", "/")
    assert status == 200 and b"importmap" in body and headers["Content-Type"].startswith("text/html")
    for path in ("/static/app.js", "/static/vendor/three/three.module.js", "/static/vendor/three/three.core.js",
                 "/static/vendor/three/addons/loaders/GLTFLoader.js",
                 "/static/vendor/three/addons/controls/OrbitControls.js"):
        status, headers, body = request(server, "GET", path)
        assert status == 200 and headers["Content-Type"].startswith("text/javascript"), path
    assert b"http://" not in request(server, "GET", "/")[2].replace(b"http://www.w3.org", b"")  # no CDN


def test_upload_validation_messages_and_server_keeps_serving(app):
    server, _, work = app
    image = (CHAIR / "image.png").read_bytes()
    cases = [
        ([("mesh", "notes.txt", b"hello")], {}, 400, "unsupported file type '.txt'"),
        ([("mesh", "broken.glb", b"glTF" + b"\x02\x00\x00\x00" + b"\xff" * 40)], {}, 400, "broken.glb"),
        ([("mesh", "empty.glb", b"")], {}, 400, "empty"),
        ([("image", "photo.png", b"not a png at all")], {}, 400, "photo.png"),
        ([("mask", "mask.png", (CHAIR / "mask.png").read_bytes())], {}, 400, "needs the image"),
        ([], {"seed": "1"}, 400, "nothing to split"),
        ([chair_mesh()], {"grid_size": "big"}, 400, "grid size must be a whole number"),
        ([chair_mesh()], {"max_parts": "0"}, 400, "max parts must be between 1 and 64"),
        ([("image", "photo.png", image), ("mask", "wide.png", _png(40, 10))], {}, 400, "wide.png"),
        ([("mesh", "huge.glb", b"0" * (1536 * 1024))], {}, 413, "more than the 1 MB limit"),
        ([("model", "x.glb", b"glTF")], {}, 400, "unexpected upload field"),
    ]
    for files, fields, code, text in cases:
        status, body = upload(server, files, **fields)
        message = body.get("error", "")
        assert status == code and text in message, (files and files[0][1], status, body)
        assert "\n" not in message and str(work) not in message
    status, _, body = request(server, "POST", "/api/jobs", b"x", {"Content-Type": "text/plain"})
    assert status == 400 and b"multipart" in body
    assert job_dirs(work) == []  # refused uploads leave nothing behind
    status, body = upload(server, [chair_mesh()], seed="3", grid_size="16")
    assert status == 202 and body["mode"] == "mesh" and body["options"] == {"seed": 3, "grid_size": 16}
    assert body["inputs"]["mesh"]["name"] == "chair.glb"
    assert wait_done(server, body["id"])["state"] == "done"


def _png(width, height):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (width, height), 1).save(buffer, format="PNG")
    return buffer.getvalue()


def test_path_traversal_is_refused(app, tmp_path):
    server, _, work = app
    (tmp_path / "secret.txt").write_text("SECRET-OUTSIDE")
    (work / "secret.txt").write_text("SECRET-ROOT")
    status, body = upload(server, [chair_mesh()])
    job = wait_done(server, body["id"])
    base = f"/api/jobs/{job['id']}/files"
    output = work / job["id"] / "output"
    (output / "link.glb").symlink_to(tmp_path / "secret.txt")
    bad = [
        "/static/../server.py", "/static/%2e%2e/server.py", "/static/%2E%2E/%2E%2E/web/server.py",
        "/static/..%2fserver.py", "/static/%2e%2e%2f%2e%2e%2fcli.py", "/static/%252e%252e/server.py",
        "/static/..\\server.py", "/static/%5c..%5cserver.py", "/static/x%00.js", "/static/%ff.js",
        "/static//etc/passwd", "/static/%2fetc%2fpasswd",
        f"{base}/../../secret.txt", f"{base}/%2e%2e/%2e%2e/secret.txt", f"{base}/..%2f..%2fsecret.txt",
        f"{base}/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt", f"{base}/inputs/../../../secret.txt",
        f"{base}/output/link.glb", f"{base}/output/.autopartgen-outputs.json", f"{base}/%2fetc%2fpasswd",
        f"/api/jobs/{job['id']}/../../secret.txt", "/api/jobs/..%2f..%2fsecret.txt/files/x",
        f"/api/jobs/{uuid.uuid4().hex}/files/inputs/mesh.glb",
    ]
    for path in bad:
        status, _, answer = request(server, "GET", path)
        assert status in (403, 404), (path, status)
        assert b"SECRET" not in answer and b"import" not in answer, path
    assert request(server, "GET", f"{base}/inputs/mesh.glb")[0] == 200
    assert request(server, "GET", f"{base}/output/mesh_000.glb")[0] == 200
    status, _, _ = request(server, "GET", "/", headers={"Host": "evil.example:80"})
    assert status == 403  # DNS rebinding: a loopback server answers only for localhost names


def test_zip_holds_the_output_folder(app):
    server, runner, _ = app
    runner.gate = threading.Event()
    status, body = upload(server, [chair_mesh()])
    assert runner.started.wait(10)
    assert request(server, "GET", f"/api/jobs/{body['id']}/download.zip")[0] == 409  # not finished yet
    runner.gate.set()
    job = wait_done(server, body["id"])
    assert [f["name"] for f in job["result"]["files"]] == ["mesh_000.glb", "mesh_001.glb", "mesh_combined.glb",
                                                           "parts.json"]
    status, headers, data = request(server, "GET", job["result"]["zip"])
    assert status == 200 and headers["Content-Type"] == "application/zip"
    assert headers["Content-Disposition"] == f'attachment; filename="autopartgen-{job["id"][:8]}.zip"'
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    folder = f"autopartgen-{job['id'][:8]}/"
    assert names == [folder + n for n in ("mesh_000.glb", "mesh_001.glb", "mesh_combined.glb", "parts.json")]


def test_queue_order_positions_and_concurrent_clients(app):
    """Two clients upload at once and both get results; a third upload during the run is queued."""
    server, runner, _ = app
    runner.gate = threading.Event()
    answers = [None, None]
    barrier = threading.Barrier(2)

    def client(i):
        barrier.wait()
        answers[i] = upload(server, [chair_mesh()], seed=str(i))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert all(a is not None and a[0] == 202 for a in answers)
    assert runner.started.wait(10)
    status, third = upload(server, [chair_mesh()], seed="2")
    assert status == 202 and third["state"] == "queued"
    ids = [a[1]["id"] for a in answers] + [third["id"]]
    states = {i: get_json(server, f"/api/jobs/{i}")[1] for i in ids}
    running = [i for i in ids if states[i]["state"] == "running"]
    queued = sorted((states[i]["position"], i) for i in ids if states[i]["state"] == "queued")
    assert len(running) == 1 and states[running[0]]["position"] == 0
    assert [p for p, _ in queued] == [1, 2] and queued[-1][1] == third["id"]  # the third waits last
    assert get_json(server, "/api/info")[1]["queued"] == 2
    runner.gate.set()
    finished = [wait_done(server, i) for i in ids]
    assert [f["state"] for f in finished] == ["done"] * 3
    assert runner.order[-1] == third["id"] and sorted(runner.order) == sorted(ids)  # one at a time, in order
    for job in finished:
        assert request(server, "GET", job["result"]["zip"])[0] == 200


def test_failed_job_shows_one_line_and_the_next_job_runs(app):
    server, _, work = app
    _, first = upload(server, [chair_mesh()], seed="13")
    _, second = upload(server, [chair_mesh()], seed="14")
    _, third = upload(server, [chair_mesh()])
    failed = wait_done(server, first["id"])
    assert failed["state"] == "error" and failed["error"] == "mesh 'chair.glb': made-up failure; pick another seed"
    crashed = wait_done(server, second["id"])
    assert crashed["state"] == "error" and crashed["error"].startswith("internal error (RuntimeError)")
    assert wait_done(server, third["id"])["state"] == "done"


def test_cleanup_removes_old_jobs_only(app):
    server, runner, work = app
    manager = server.app.manager
    _, done = upload(server, [chair_mesh()])
    wait_done(server, done["id"])
    stale = work / uuid.uuid4().hex  # left by an earlier server run
    stale.mkdir()
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    foreign = work / "my-notes"
    foreign.mkdir()
    os.utime(foreign, (old, old))
    runner.gate = threading.Event()
    _, running = upload(server, [chair_mesh()])
    _, queued = upload(server, [chair_mesh()])
    assert manager.cleanup() == [stale.name]  # finished just now: kept; older than --keep-hours: removed
    later = time.time() + 3 * 3600
    assert manager.cleanup(now=later) == [done["id"]]  # running and queued jobs survive
    assert sorted(job_dirs(work)) == sorted(["my-notes", running["id"], queued["id"]])
    assert request(server, "GET", f"/api/jobs/{done['id']}")[0] == 404
    runner.gate.set()
    assert wait_done(server, queued["id"])["state"] == "done"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from autopartgen.pipeline import AutoPartGen
    from test_pipeline import small_config

    folder = tmp_path_factory.mktemp("web-model")
    AutoPartGen.from_config(small_config(), device="cpu", seed=0).save_pretrained(folder)
    return folder


def test_real_pipeline_job(model_dir, tmp_path):
    server = make_server("127.0.0.1", 0, work_root=tmp_path / "work", runner=PipelineRunner(model_dir))
    start(server)
    try:
        status, body = upload(server, [chair_mesh()], grid_size="16", max_parts="2")
        assert status == 202
        job = wait_done(server, body["id"], timeout=120)
        assert job["state"] == "done", job
        manifest = json.loads(request(server, "GET", job["result"]["manifest"])[2])
        assert manifest["run"]["inputs"]["mesh"] == "chair.glb" and manifest["run"]["options"]["grid_size"] == 16
        assert len(job["result"]["parts"]) == manifest["num_parts"] == job["result"]["num_parts"]
    finally:
        server.shutdown()
        close(server)


def test_serve_command_stops_cleanly_on_ctrl_c(model_dir, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "autopartgen", "serve", "--port", "0", "--weights", str(model_dir),
         "--work-root", str(tmp_path / "work")],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT,
        # a test run started in the background by a shell inherits SIGINT ignored; Python then keeps it so
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = ""
        deadline = time.time() + 60
        while "http://" not in line and time.time() < deadline:
            line = process.stderr.readline()
            assert line or process.poll() is None, "serve exited early"
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/info")
        assert conn.getresponse().status == 200
        conn.close()
        process.send_signal(signal.SIGINT)
        code = process.wait(60)  # generous: a loaded CI machine can be slow to unwind
        err = process.stderr.read()
        assert code == 0, f"serve exited with {code} after Ctrl-C: {err[-2000:]}"
        assert "shutting down" in err
    finally:
        if process.poll() is None:
            process.kill()


def test_serve_without_a_model_fails_at_once(monkeypatch, tmp_path, capsys):
    import autopartgen.api
    from autopartgen.cli import main

    monkeypatch.setattr(autopartgen.api, "SHIPPED_MODEL", tmp_path / "missing")
    assert main(["serve", "--port", "0", "--work-root", str(tmp_path / "work")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("autopartgen: error: no shipped model") and len(err.splitlines()) == 1
    assert not (tmp_path / "work").exists()


def test_stop_waits_for_a_model_still_loading(tmp_path):
    """Ctrl-C during the warm-up must not let the interpreter exit while the worker thread is still
    loading the model (that can abort or hang the shutdown): stop() returns only after the load ended."""
    from autopartgen.web.server import JobManager

    class SlowLoadingRunner:
        def __init__(self):
            self.started, self.finished = threading.Event(), threading.Event()

        def warm(self):
            self.started.set()
            time.sleep(1.0)
            self.finished.set()

        def __call__(self, job, set_stage):  # pragma: no cover - no job is submitted
            raise AssertionError("no job expected")

    runner = SlowLoadingRunner()
    manager = JobManager(tmp_path / "work", runner).start()
    assert runner.started.wait(10)
    manager.stop(timeout=0.1)
    assert runner.finished.is_set()
    assert not manager.warming


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_background_threads_leave_ctrl_c_to_the_main_thread(tmp_path):
    """The job worker (and every thread it starts, e.g. torch's) blocks SIGINT and SIGTERM, so a Ctrl-C is
    handled by the main thread's clean shutdown and never interrupts a library call in the worker."""
    from autopartgen.web.server import JobManager

    class MaskRecordingRunner:
        def __init__(self):
            self.masks, self.done = [], threading.Event()

        def warm(self):
            self.masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, []))
            child = threading.Thread(target=lambda: self.masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, [])))
            child.start()
            child.join()
            self.done.set()

        def __call__(self, job, report):
            raise AssertionError("no job expected")

    runner = MaskRecordingRunner()
    manager = JobManager(tmp_path / "work", runner).start()
    try:
        assert runner.done.wait(10)
    finally:
        manager.stop(timeout=0.5)
    assert len(runner.masks) == 2
    for mask in runner.masks:
        assert {signal.SIGINT, signal.SIGTERM} <= set(mask)
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # the main thread still takes it


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_ctrl_c_during_start_up_still_shuts_down_cleanly(monkeypatch, tmp_path):
    """A Ctrl-C that arrives while the server is being built (before serve_forever) is held back until the
    shutdown path can run: serve returns 0 and the job worker is stopped, rather than the interrupt
    escaping with the worker still loading the model (which aborted the interpreter's exit)."""
    import autopartgen.web.server as server_module

    class IdleRunner:
        def warm(self):
            pass

        def __call__(self, job, set_stage):  # pragma: no cover - no job is submitted
            raise AssertionError("no job expected")

    built = {}
    real_make_server = server_module.make_server

    def make_server_then_ctrl_c(*args, **kwargs):
        built["server"] = real_make_server(*args, runner=IdleRunner(), **kwargs)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # Ctrl-C, at the main thread
        return built["server"]

    monkeypatch.setattr(server_module, "make_server", make_server_then_ctrl_c)
    # Python's Ctrl-C handler, even when the test run inherited SIGINT ignored (started in the background)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = server_module.serve("127.0.0.1", 0, work_root=tmp_path / "work")
    except KeyboardInterrupt:
        pytest.fail("the Ctrl-C escaped serve() before its shutdown path")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 0
    assert built["server"].app.manager._stopping.is_set()
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # the mask is restored
