"""`cryptosignals local up`: the local stack as a long-running process, for people and scripts.

Starts the emulator, deploys the template, then keeps polling the process function's Kinesis
mapping (and, with --replay, fires the ingest schedule against the bundled replay server),
until Ctrl-C or --duration. The seed's AWS CLI commands work against the printed endpoint.
Register with `cryptosignals.cli` by listing "cryptosignals.local.command" in _COMMAND_MODULES;
`python -m cryptosignals.local up` works without that.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

local_app = typer.Typer(
    help="The local AWS stack: emulator + template.yaml + our Lambda runtime, on 127.0.0.1.",
    no_args_is_help=True,
)


@local_app.callback()
def _group() -> None:
    """The local AWS stack: emulator + template.yaml + our Lambda runtime, on 127.0.0.1."""


@local_app.command("up")
def up(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: a free one).")] = 0,
    replay: Annotated[
        bool, typer.Option(help="Run the ingest schedule against the bundled replay server.")
    ] = False,
    speed: Annotated[float, typer.Option(help="Replay speed: market seconds per second.")] = 300,
    duration: Annotated[
        float, typer.Option(help="Stop after this many seconds (0: until Ctrl-C).")
    ] = 0,
) -> None:
    """Start the stack and keep it running; print the endpoint and the names."""
    from cryptosignals.local.stack import LocalStack

    stack = LocalStack.start(port or None)
    server = None
    try:
        names = stack.names
        print(f"endpoint {stack.endpoint}", flush=True)
        for key, value in sorted(names.items()):
            print(f"  {key:28} {value}")
        print("environment for boto3 and the AWS CLI:")
        for key, value in sorted(stack.environment().items()):
            if key.startswith("AWS_"):
                print(f"  export {key}={value}")
        print(
            f"try: aws --endpoint-url {stack.endpoint} kinesis put-record --stream-name "
            f"{names['stream']} --partition-key 1 --data "
            """'{"crypto": "BTC", "price_usd": 67000, "24hr_vol": 1e10}'""",
            flush=True,
        )
        scheduler = None
        if replay:
            from cryptosignals.coingecko.replay import ReplayServer

            server = ReplayServer(speed=speed).start()
            stack.set_function_environment(
                names["ingest_function"],
                {"COINGECKO_API_URL": server.url, "COINGECKO_RATE_LIMIT_PER_MIN": "6000"},
            )
            scheduler = stack.scheduler()
        pollers = stack.pollers()
        started = last = time.monotonic()
        while not duration or time.monotonic() - started < duration:
            now = time.monotonic()
            if scheduler is not None:
                for invocation in scheduler.advance((now - last) * speed):
                    outcome = invocation.error_message if invocation.failed else invocation.result
                    print(f"ingest: {outcome}", flush=True)
            last = now
            for poller in pollers:
                report = poller.poll()
                if report.invocations:
                    print(
                        f"process: {report.records_read} records, {report.invocations} "
                        f"invocations, {report.records_sent_to_on_failure} given up",
                        flush=True,
                    )
            time.sleep(0.25)
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()
        stack.stop()
        print("stopped", flush=True)


def register(app: typer.Typer) -> None:
    app.add_typer(local_app, name="local")


def main() -> None:
    local_app()
