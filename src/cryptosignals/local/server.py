"""The emulator process: `python -m cryptosignals.local.server --port P [--ready-file F]
[--parent-pid PID]`.

moto's server app with our shims applied first (they must be in place before the first
create_stack). Listens on 127.0.0.1 only. Port 0 lets the system choose; once the socket is
bound, the port is written to --ready-file, so the launcher knows the server that answers there
is this one (never another process that took a port it was offered). With --parent-pid it exits
by itself when that process is gone, so a crashed test run leaves no server behind.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path


def _exit_when_orphaned(parent_pid: int) -> None:
    while True:
        time.sleep(1.0)
        try:
            os.kill(parent_pid, 0)
        except OSError:
            os._exit(0)
        if os.getppid() != parent_pid:
            os._exit(0)


def main(argv: list[str] | None = None) -> None:
    """Apply the shims, bind 127.0.0.1:PORT, report the port, serve until killed or orphaned."""
    parser = argparse.ArgumentParser(prog="python -m cryptosignals.local.server")
    parser.add_argument("--port", type=int, required=True, help="0: any free port")
    parser.add_argument("--ready-file", type=Path, default=None)
    parser.add_argument("--parent-pid", type=int, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from cryptosignals.local import shims

    shims.apply()
    if args.parent_pid:
        threading.Thread(target=_exit_when_orphaned, args=(args.parent_pid,), daemon=True).start()
    app = DomainDispatcherApplication(create_backend_app)  # what moto's own server runs
    app.debug = True  # type: ignore[attr-defined]
    server = make_server(
        "127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler
    )
    os.environ["MOTO_PORT"] = str(server.port)  # moto builds some URLs from it
    if args.ready_file:
        partial = args.ready_file.with_suffix(".partial")
        partial.write_text(str(server.port))
        partial.replace(args.ready_file)  # the launcher never reads half a number
    server.serve_forever()


if __name__ == "__main__":
    main()
