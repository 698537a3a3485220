"""`autopartgen serve`: start the local web app."""

from __future__ import annotations

from autopartgen.errors import CheckpointError, InputFileError
from autopartgen.threads import add_threads_argument


def _run(args) -> int:
    from autopartgen.web.server import serve

    if not 0 <= args.port <= 65535:
        raise InputFileError(f"--port {args.port} is not a port number; use 1-65535 (0 picks a free one)")
    if args.max_upload_mb <= 0 or args.keep_hours <= 0:
        raise InputFileError("--max-upload-mb and --keep-hours must be positive")
    if args.weights is None:
        from autopartgen.api import SHIPPED_MODEL

        if not (SHIPPED_MODEL / "config.yaml").is_file():  # fail now, not on the first upload
            raise CheckpointError(f"no shipped model in {SHIPPED_MODEL}; pass --weights DIR (and --config "
                                  "release-2048 for the official files)")
    return serve(args.host, args.port, work_root=args.work_root, weights=args.weights, config=args.config,
                 device=args.device, max_upload_mb=args.max_upload_mb, keep_hours=args.keep_hours)


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser("serve", help="start the local web app (upload, generate, inspect parts in 3D)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this computer only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--weights", help="model folder (default: the shipped compact model)")
    parser.add_argument("--config", help="config preset or YAML (default: the model folder's config.yaml)")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    parser.add_argument("--work-root", dest="work_root",
                        help="folder for uploads and results, one sub-folder per job "
                             "(default: <temp>/autopartgen-web)")
    parser.add_argument("--max-upload-mb", dest="max_upload_mb", type=float, default=50.0,
                        help="largest upload (all files of one job together), in MB")
    parser.add_argument("--keep-hours", dest="keep_hours", type=float, default=24.0,
                        help="delete finished jobs after this many hours")
    add_threads_argument(parser)
    parser.set_defaults(func=_run)
