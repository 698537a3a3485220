"""The web app in a real browser: headless Debian Chromium driven by Playwright (no browser download).

Uploads examples/chair/mesh.glb, waits for the parts, checks the viewer against parts.json, moves the
exploded-view slider, hides a part, downloads the zip. With AUTOPARTGEN_SCREENSHOT=1 it also refreshes
docs/web_app.png (off by default so that running the tests never changes tracked files).
The shipped model is used when it is present, otherwise a tiny random-weight model.
"""

import io
import json
import os
import threading
import zipfile
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "autopartgen" / "weights" / "tiny"
SCREENSHOT = ROOT / "docs" / "web_app.png"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if not CHROMIUM.exists():
    pytest.skip("/usr/bin/chromium is missing (Debian: apt-get install chromium chromium-driver; .ci/run does)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")

from autopartgen.web.server import PipelineRunner, close, make_server  # noqa: E402


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    if (SHIPPED / "config.yaml").is_file():
        return SHIPPED, {"grid_size": "32", "max_parts": "4"}
    from autopartgen.pipeline import AutoPartGen
    from test_pipeline import small_config

    folder = tmp_path_factory.mktemp("browser-model")
    AutoPartGen.from_config(small_config(), device="cpu", seed=0).save_pretrained(folder)
    return folder, {"grid_size": "16", "max_parts": "3"}


@pytest.fixture(scope="module")
def server(weights, tmp_path_factory):
    server = make_server("127.0.0.1", 0, work_root=tmp_path_factory.mktemp("web-work"),
                         runner=PipelineRunner(weights[0]))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    close(server)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except sync_api.Error as error:  # a half-installed chromium: skip, as when it is missing
            pytest.skip(f"/usr/bin/chromium does not start: {str(error).splitlines()[0]}")
        yield browser
        browser.close()


def test_upload_generate_inspect_download(server, browser, weights, tmp_path):
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url} ({request.failure})"))
    external = []
    page.on("request", lambda request: external.append(request.url) if not request.url.startswith(
        (url, "data:", "blob:")) else None)
    page.goto(url)
    page.wait_for_function("window.autopartgenViewer !== undefined")

    # a bad upload: the server's one-line message is shown, and the page (and server) carry on
    bad = tmp_path / "broken.glb"
    bad.write_bytes(b"glTF\x02\x00\x00\x00" + b"\xff" * 64)
    page.set_input_files("#mesh-input", str(bad))
    page.click("#start")
    page.wait_for_selector("#error:not([hidden])")
    assert "broken.glb" in page.inner_text("#error")

    page.set_input_files("#mesh-input", str(ROOT / "examples" / "chair" / "mesh.glb"))
    assert page.inner_text("#mode") == "Mode: mesh"
    for name, value in weights[1].items():
        page.fill(f"input[name={name}]", value)
    page.click("#start")
    page.wait_for_function("window.autopartgenViewer.ready || window.autopartgenState.error", timeout=80_000)
    assert page.evaluate("window.autopartgenState.error") is None
    status = page.evaluate("window.autopartgenState.status")
    assert status["state"] == "done"

    viewer = "window.autopartgenViewer"
    manifest = json.loads(page.evaluate("(u) => fetch(u).then((r) => r.text())", status["result"]["manifest"]))
    count = page.evaluate(f"{viewer}.partCount()")
    assert count == manifest["num_parts"] == page.locator("#part-list li").count()
    assert page.evaluate(f"{viewer}.webgl")
    if count:
        # the exploded-view slider moves parts away from the centre
        before = page.evaluate(f"{viewer}.partPositions()")
        page.locator("#explode").fill("80")
        assert page.evaluate(f"{viewer}.explode()") == pytest.approx(0.8)
        after = page.evaluate(f"{viewer}.partPositions()")
        moved = [max(abs(a - b) for a, b in zip(p, q)) for p, q in zip(before, after)]
        assert max(moved) > 1e-3, (before, after)
        # a part toggled off in the list disappears from the viewer
        page.locator("#part-list li input").first.uncheck()
        assert page.evaluate(f"{viewer}.visibleCount()") == count - 1
        assert not page.evaluate(f"{viewer}.isVisible(0)")
        page.locator("#part-list li input").first.check()
        # clicking a list entry selects the part and shows its stats from parts.json
        page.locator("#part-list li").last.click()
        stats = page.inner_text("#part-stats")
        assert f"{manifest['parts'][-1]['faces']:,}" in stats

    with page.expect_download() as download:
        page.click("#download-zip")
    data = Path(download.value.path()).read_bytes()
    names = {Path(n).name for n in zipfile.ZipFile(io.BytesIO(data)).namelist()}
    assert {"parts.json"} | {p["file"] for p in manifest["parts"]} <= names

    page.locator("#explode").fill("45")
    page.wait_for_timeout(300)
    if os.environ.get("AUTOPARTGEN_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert not errors, errors
    assert not external, f"the page fetched from outside the server: {external}"
    page.close()
