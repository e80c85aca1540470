"""The emulator process: `python -m cryptosignals.local.server --port P [--parent-pid PID]`.

moto's server with our shims applied first (they must be in place before the first
create_stack). Listens on 127.0.0.1 only. With --parent-pid it exits by itself when that
process is gone, so a crashed test run leaves no server behind.
"""

from __future__ import annotations

import argparse
import os
import threading
import time


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
    """Apply the shims, then serve moto on 127.0.0.1:PORT until killed or orphaned."""
    parser = argparse.ArgumentParser(prog="python -m cryptosignals.local.server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")

    from moto import server

    from cryptosignals.local import shims

    shims.apply()
    if args.parent_pid:
        threading.Thread(target=_exit_when_orphaned, args=(args.parent_pid,), daemon=True).start()
    server.main(["-H", "127.0.0.1", "-p", str(args.port)])


if __name__ == "__main__":
    main()
