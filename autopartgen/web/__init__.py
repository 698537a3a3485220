"""`autopartgen serve`: a local web app to upload an input, generate parts and inspect them in 3D.

The server (:mod:`autopartgen.web.server`) uses only Python's standard library: a threaded HTTP server,
one worker thread that runs the jobs one at a time from a queue, and a static page
(``static/index.html``) with a vendored copy of three.js, so nothing is fetched from the network.
"""

from autopartgen.web.server import JobManager, WebApp, make_server

__all__ = ["JobManager", "WebApp", "make_server"]
