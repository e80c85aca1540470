"""`cryptosignals local up`: the local stack as a long-running process, for people and scripts.

Starts the emulator, deploys the template, then keeps polling the process function's Kinesis
mapping and delivering alerts to the webhook if one is set (and, with --replay, fires the ingest
schedule against the bundled replay server), until Ctrl-C or --duration. The seed's AWS CLI
commands work against the printed endpoint.
Registered by `cryptosignals.cli` (_OTHER_COMMAND_MODULES);
`python -m cryptosignals.local up` works without that.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from cryptosignals import settings
from cryptosignals.errors import BadInputError

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
    alert_email: Annotated[
        str, typer.Option(help="Subscribe this address to the alerts topic (no mail leaves).")
    ] = "",
    alert_webhook_url: Annotated[
        str,
        typer.Option(
            help="POST every alert here (Slack/Discord style JSON); the X-Cryptosignals-Secret "
            f"header's value comes from ${settings.ALERT_WEBHOOK_SECRET}."
        ),
    ] = "",
) -> None:
    """Start the stack and keep it running; print the endpoint and the names."""
    from cryptosignals.local.stack import LocalStack

    stack = LocalStack.start(
        port or None, parameters=alert_parameters(alert_email, alert_webhook_url)
    )
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
            alerts = stack.relay.poll()
            if any(vars(alerts).values()):
                print(
                    f"webhook: {alerts.delivered} delivered, {alerts.retrying} to retry, "
                    f"{alerts.dead_lettered + alerts.dropped} given up",
                    flush=True,
                )
            for execution in stack.rule_executions.poll():  # a drift alarm's refit
                outcome = execution.error_message if execution.failed else "done"
                print(f"training ({execution.status.lower()}): {outcome}", flush=True)
            time.sleep(0.25)
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()
        stack.stop()
        print("stopped", flush=True)


def alert_parameters(email: str, webhook_url: str) -> dict[str, Any]:
    """The template's alert parameters for the options given; a webhook needs its secret, as
    the template's rule says."""
    parameters: dict[str, Any] = {"AlertEmail": email} if email else {}
    if webhook_url:
        secret = settings.alert_webhook_secret_from_env()
        if secret is None:
            raise BadInputError(
                f"--alert-webhook-url needs ${settings.ALERT_WEBHOOK_SECRET}: the value of the "
                "X-Cryptosignals-Secret header the receiver checks"
            )
        parameters |= {"AlertWebhookUrl": webhook_url, "AlertWebhookSecret": secret}
    return parameters


def register(app: typer.Typer) -> None:
    app.add_typer(local_app, name="local")


def main() -> None:
    local_app()
