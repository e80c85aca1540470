"""Benchmark: what the deployed pipeline asks of AWS per tick, and the process handler's CPU.

Run from the repository root (needs the `local` extra; about a minute at 5 minutes, five at 1):

    .venv/bin/python benchmarks/pipeline.py                     # 1 day warm-up, 8 h measured
    .venv/bin/python benchmarks/pipeline.py --cadence 1m        # real 1-minute ticks
    .venv/bin/python benchmarks/pipeline.py --cadence 1m --write-measured   # the cost's input

What it does:

1. Starts the local stack (moto + template.yaml + our runtime, the ingest schedule at
   `--cadence`) and the replay server: at 5 minutes on the bundled sample (four coins), at 1
   minute on two days of real 1-minute candles of bitcoin and ethereum (benchmarks/data), with
   the ingest function pointed at it; numba is blocked, as in Lambda (the package leaves it out),
   so the handlers run the plain-Python kernels.
2. Warm-up: replays `--warmup` schedule periods (default a day), so the engine state of each
   coin has its steady-state size (it holds a day of windows).
3. Measures `--runs` more periods (default 96 at 5 minutes = 8 hours; 120 at 1 minute). Each
   period fires the ingest once and delivers its records at once: one tick per coin per process
   batch, which is what a live deployment sees (the mapping's 5 s batching window is far
   shorter than the cadence), and the worst case for the per-batch writes (engine state,
   aggregates).
4. Counts requests with botocore's own `before-call`/`after-call` hooks on the default session
   (every client the handlers create), only while a handler runs: the emulator's timings play no
   part. Write units are computed from the item sizes DynamoDB bills (attribute names + values,
   rounded up to 1 KB per item, doubled on a table whose GSI projects ALL); read units from the
   items returned (4 KB, strongly consistent: the handlers read state consistently).
5. Process handler CPU: `time.process_time()` around the handler, minus the CPU spent inside
   boto calls (client-side validation/serialisation/signing/parsing included in "with boto");
   the emulator runs in another process and the meter's own counting is taken out, so neither
   is counted.
6. Cold start: a fresh interpreter imports the process handler and runs one batch of one tick
   per coin against the stack (imports and first batch timed separately), from the package as
   `sam build` ships it (src/Makefile: our modules and requirements, with their bytecode; the
   requirements' wheels for this interpreter, so it needs the package registry) and, taking
   turns on successive ticks, from the same package without bytecode (what sam's default
   builder shipped); no bytecode is written (Lambda's /var/task is read-only). boto3 comes from
   this environment, as Lambda's runtime provides it. `--cold-starts 0` skips them.

Prints a table and writes `--json`; `--write-measured` stores the figures of the cadence in
src/cryptosignals/data/pipeline_measured.json (one entry per measured cadence), which
`cryptosignals cost` reads for the cadence it is asked about.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MEASURED = ROOT / "src" / "cryptosignals" / "data" / "pipeline_measured.json"
ONE_MINUTE_DATA = ROOT / "benchmarks" / "data"  # two days of 1m candles (its README)
CADENCES = {"5m": ("rate(5 minutes)", None), "1m": ("rate(1 minute)", ONE_MINUTE_DATA)}


def block_numba() -> None:
    """Lambda has no numba (see src/requirements.txt): run the kernels as plain Python."""
    sys.modules["numba"] = None  # type: ignore[assignment]


# --- DynamoDB item sizes (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/
# CapacityUnitCalculations.html): names + values; numbers ~ 1 byte per 2 significant digits + 1;
# maps and lists 3 bytes + 1 byte per element.
def _value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = inner.lstrip("-").replace(".", "").split("e")[0].split("E")[0].strip("0")
        return max(1, math.ceil(len(digits) / 2)) + 1
    if kind == "B":
        return len(inner) if isinstance(inner, bytes | bytearray) else len(base64.b64decode(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in inner)
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: v}) for v in inner)
    return 0


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


class Meter:
    """Counts AWS calls made by the handlers, by function, service and operation."""

    def __init__(self, gsi_tables: set[str], process: str) -> None:
        self.gsi_tables, self.process = gsi_tables, process
        self.function: str | None = None
        self.calls: Counter[tuple[str, str, str]] = Counter()
        self.wru: Counter[str] = Counter()  # by table (GSI writes included)
        self.rru: defaultdict[str, float] = defaultdict(float)  # eventual reads: halves
        self.items_written: Counter[str] = Counter()
        self.bytes_written: Counter[str] = Counter()
        self.events_put = 0
        self.records_put = 0
        self.boto_cpu = 0.0
        self.own_cpu = 0.0  # the counting above: no part of the handler's CPU

    def before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if self.function is None:
            return
        counting = time.process_time()
        context["meter_params"] = params
        service = model.service_model.service_name
        self.calls[(self.function, service, model.name)] += 1
        if service == "dynamodb":
            if model.name == "BatchWriteItem":
                for table, requests in params["RequestItems"].items():
                    for request in requests:
                        self._write(table, request["PutRequest"]["Item"])
            elif model.name == "PutItem":
                self._write(params["TableName"], params["Item"])
        elif service == "events" and model.name == "PutEvents":
            self.events_put += len(params["Entries"])
        elif service == "kinesis" and model.name == "PutRecords":
            self.records_put += len(params["Records"])
        context["meter_started"] = time.process_time()  # boto's own work from here
        self.own_cpu += context["meter_started"] - counting

    def _key(self, table: str) -> str:
        """Tables by function: the ingest's cursor item is per run, not per tick."""
        return table if self.function == self.process else f"{table} (ingest)"

    def _write(self, table: str, item: dict[str, Any]) -> None:
        table = self._key(table)
        size = item_size(item)
        units = write_units(size) * (2 if table in self.gsi_tables else 1)
        self.wru[table] += units
        self.items_written[table] += 1
        self.bytes_written[table] += size

    def after(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        started = context.pop("meter_started", None)
        params = context.pop("meter_params", {})
        counting = time.process_time()
        if started is not None:
            self.boto_cpu += counting - started
        if self.function is None or model.service_model.service_name != "dynamodb":
            return
        self._read(model, parsed, params)
        self.own_cpu += time.process_time() - counting

    def _read(self, model: Any, parsed: dict[str, Any], params: dict[str, Any]) -> None:
        if model.name == "BatchGetItem":
            for table, items in parsed.get("Responses", {}).items():
                consistent = params["RequestItems"][table].get("ConsistentRead", False)
                for item in items:
                    self.rru[self._key(table)] += read_units(item_size(item), consistent)
        elif model.name == "GetItem" and "Item" in parsed:
            self.rru[self._key(params["TableName"])] += read_units(
                item_size(parsed["Item"]), params.get("ConsistentRead", False)
            )


def cold_start(
    env: dict[str, str], event: dict[str, Any], code: Path, profile: Path | None = None
) -> dict[str, float]:
    """Imports + first batch of the process handler in a fresh interpreter (numba blocked), our
    modules and their requirements from `code` (a package built by `build`) and, as on Lambda's
    read-only /var/task, no bytecode written; `profile`: a cProfile of both (wall time) is
    written there."""
    script = textwrap.dedent(
        """
        import json, os, sys, time, types
        sys.modules["numba"] = None
        if os.environ.get("COLD_START_PROFILE"):
            import cProfile
            profiler = cProfile.Profile()
            profiler.enable()
        t0 = time.perf_counter()
        from cryptosignals.handlers.process import handler
        t1 = time.perf_counter()
        import cryptosignals, numpy
        context = types.SimpleNamespace(
            function_name="cryptosignals-process", memory_limit_in_mb=256,
            invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:process",
            aws_request_id="cold-start", function_version="$LATEST",
            get_remaining_time_in_millis=lambda: 60000)
        result = handler(json.loads(sys.stdin.read()), context)
        t2 = time.perf_counter()
        if os.environ.get("COLD_START_PROFILE"):
            profiler.disable()
            profiler.dump_stats(os.environ["COLD_START_PROFILE"])
        assert result == {"batchItemFailures": []}, result
        print(json.dumps({"imports_s": t1 - t0, "first_batch_s": t2 - t1,
                          "package": [cryptosignals.__file__, numpy.__file__]}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        env={
            **os.environ,
            **env,
            "POWERTOOLS_METRICS_DISABLED": "false",
            "PYTHONPATH": str(code),
            "PYTHONDONTWRITEBYTECODE": "1",
            **({"COLD_START_PROFILE": str(profile)} if profile else {}),
        },
        timeout=300,
    )
    if done.returncode != 0:
        raise SystemExit(f"cold start run failed:\n{done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if not all(path.startswith(str(code)) for path in figures.pop("package")):
        raise SystemExit(f"cold start imported cryptosignals or numpy from outside {code}")
    figures["total_s"] = figures["imports_s"] + figures["first_batch_s"]
    return figures


def build(target: str, artifacts: Path, wheels: str | None = None) -> Path:
    """`sam build`'s recipe for the zip functions (src/Makefile) into `artifacts`, bytecode by
    this interpreter; `wheels`: pip's platform options (None: the runtime's, CPython 3.12
    x86_64; "": this interpreter's own, so that it can import the package)."""
    subprocess.run(
        ["make", "-s", "-f", str(ROOT / "src" / "Makefile"), target,
         f"ARTIFACTS_DIR={artifacts}", f"PYTHON={sys.executable}",
         *([] if wheels is None else [f"WHEELS={wheels}"])],
        check=True, capture_output=True,
    )  # fmt: skip
    return artifacts


def without_bytecode(package: Path, artifacts: Path) -> Path:
    """`package` without its bytecode: what sam's default Python builder shipped."""
    import shutil

    shutil.copytree(package, artifacts, ignore=shutil.ignore_patterns("__pycache__"))
    return artifacts


def package_size() -> dict[str, Any]:
    """The process function's package as `sam build` makes it (src/Makefile: the requirements as
    manylinux x86_64 / CPython 3.12 wheels + the cryptosignals package with its bytecode); bytes
    unzipped (Lambda's limit: 250 MB) and zipped."""
    import zipfile

    with tempfile.TemporaryDirectory() as tmp:
        target = build("build-ProcessFunction", Path(tmp) / "package")
        files = [f for f in target.rglob("*") if f.is_file()]
        unzipped = sum(f.stat().st_size for f in files)
        archive = Path(tmp) / "package.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for f in files:
                zipped.write(f, f.relative_to(target))
        numpy = next((f.name for f in target.glob("numpy-*.dist-info")), "numpy ?")
        return {
            "unzipped_mb": round(unzipped / 1e6, 1),
            "zipped_mb": round(archive.stat().st_size / 1e6, 1),
            "limit_unzipped_mb": 250,
            "numpy": numpy.removesuffix(".dist-info"),
        }


def serve_every_model(s3: Any, bucket: str, candles: dict[str, Any]) -> list[str]:
    """Put a P(up) model (LightGBM: the stream walks its trees) and a meta-label filter for each
    coin where the process function reads its served models, so that its CPU is measured with
    every model on (the volatility forecast always is). Their skill does not matter to the
    cost: both are fitted on the very days replayed, which only a benchmark of CPU may do."""
    from cryptosignals.models.evaluation import dataset, train_artifact
    from cryptosignals.models.metalabel import MetaConfig, signal_set
    from cryptosignals.models.training import (
        ARTIFACT_PREFIX,
        METALABEL_PREFIX,
        artifact_name,
        kind_artifact_name,
        metalabel_artifact,
    )

    keys = []
    for coin, bars in sorted(candles.items()):
        p_up = train_artifact(dataset(coin, bars, "up_1h"), "lightgbm")
        meta = metalabel_artifact(signal_set(coin, bars, MetaConfig()), MetaConfig())
        for key, artifact in (
            (ARTIFACT_PREFIX + artifact_name(p_up), p_up),
            (METALABEL_PREFIX + kind_artifact_name(meta), meta),
        ):
            s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(artifact).encode())
            keys.append(key)
    return keys


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    """Median of each figure over cold starts, and the range of their totals."""
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]} | {
        "runs": len(runs),
        "total_s_min": min(r["total_s"] for r in runs),
        "total_s_max": max(r["total_s"] for r in runs),
    }


def _cprofile() -> Any:
    """cProfile, whose own `import profile` would find benchmarks/profile.py first."""
    here, saved = Path(__file__).parent, sys.path[:]
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    try:
        import cProfile
    finally:
        sys.path[:] = saved
    return cProfile


def run(args: argparse.Namespace) -> dict[str, Any]:
    if not args.numba:
        block_numba()
    import boto3

    boto3.setup_default_session()
    from cryptosignals.aws.config import AwsSettings
    from cryptosignals.aws.kinesis import encode_tick
    from cryptosignals.coingecko.replay import ReplayServer, load_candles
    from cryptosignals.local.runtime import function_name, temporary_environment
    from cryptosignals.local.stack import LocalStack

    meter = Meter(gsi_tables={"trading_signals"}, process="cryptosignals-process")
    session = boto3.DEFAULT_SESSION
    assert session is not None
    session.events.register("before-parameter-build", meter.before)
    session.events.register("after-call", meter.after)

    cpu = {"with_boto": 0.0, "without_boto": 0.0, "invocations": 0, "wall": 0.0}
    profiler, measuring = None, False
    if args.profile:  # started with the measured runs
        profiler = _cprofile().Profile(timer=time.process_time)

    def timed_handler(event: Any, context: Any) -> Any:
        boto_before, own_before = meter.boto_cpu, meter.own_cpu
        wall, start = time.perf_counter(), time.process_time()
        try:
            if profiler is not None and measuring:
                return profiler.runcall(real_handler, event, context)
            return real_handler(event, context)
        finally:
            spent = time.process_time() - start - (meter.own_cpu - own_before)
            cpu["with_boto"] += spent
            cpu["without_boto"] += spent - (meter.boto_cpu - boto_before)
            cpu["wall"] += time.perf_counter() - wall
            cpu["invocations"] += 1

    started = time.perf_counter()
    schedule, data = CADENCES[args.cadence]
    candles = None if data is None else load_candles(data, interval=args.cadence)
    # the bundled sample starts a day in (a day of history); the 1m files from their first tick
    start = None if candles is None else min(int(c.timestamp[0]) // 1000 for c in candles.values())
    with (
        LocalStack.start(parameters={"IngestSchedule": schedule}) as stack,
        ReplayServer(candles, start=start) as server,
        tempfile.TemporaryDirectory() as workdir,
    ):
        names = stack.names
        meter.process = names["process_function"]
        # cold-started as Lambda would, in the function's environment, then wrapped in a timer
        process_env = stack.runtime.config(names["process_function"]).environment
        with temporary_environment({**process_env, **stack.runtime.base_environment()}):
            real_handler = stack.runtime.handler(names["process_function"])
        process_module = sys.modules[real_handler.__module__]
        stack.runtime.handlers[names["process_function"]] = timed_handler
        stack.set_function_environment(
            names["ingest_function"],
            {
                "COINGECKO_API_URL": server.url,
                "COINGECKO_RATE_LIMIT_PER_MIN": "100000",
                "TRACKED_COINS": ",".join(sorted(server.coins)),
            },
        )
        served = (
            serve_every_model(
                stack.client("s3"),
                names["models_bucket"],
                {coin: c.candles for coin, c in server.coins.items()},
            )
            if args.models
            else []
        )
        runtime_invoke = stack.runtime.invoke

        def metered_invoke(function: str, event: Any) -> Any:
            meter.function = function_name(function)
            try:
                return runtime_invoke(function, event)
            finally:
                meter.function = None

        stack.runtime.invoke = metered_invoke  # type: ignore[method-assign]
        scheduler = stack.scheduler(start=0)
        period = min(t.period for t in scheduler.targets)
        (poller,) = stack.pollers()

        def one_period() -> None:
            server.clock.advance(period)
            failed = [i for i in scheduler.advance(period) if i.failed]
            if failed:
                raise SystemExit(f"ingest failed: {failed[0].error_message}")
            report = poller.drain()
            if report.invocations != report.batches_ok:
                bad = [i for i in stack.runtime.invocations[-3:]]
                raise SystemExit(
                    f"process batches failed: {report} "
                    + "; ".join(f"{i.error_message} {i.result}" for i in bad)
                )

        for _ in range(args.warmup):
            one_period()
        if served:  # the served models are the ones the stream runs with
            with temporary_environment({**process_env, **stack.runtime.base_environment()}):
                settings = AwsSettings.from_env()
                configs = [process_module._models(coin, settings) for coin in server.coins]
            if not all(c and c.predictor and c.meta_filter for c in configs):
                raise SystemExit("the process function did not load the served models")
        measuring = True
        # measure from here
        meter.calls.clear()
        for counter in (meter.wru, meter.rru, meter.items_written, meter.bytes_written):
            counter.clear()
        meter.events_put = meter.records_put = 0
        cpu.update(with_boto=0.0, without_boto=0.0, invocations=0, wall=0.0)
        raw_before = meter.items_written
        first_measured = len(stack.runtime.invocations)
        measured_started = time.perf_counter()
        for _ in range(args.runs):
            one_period()
        measured_wall = time.perf_counter() - measured_started
        measuring = False
        if profiler is not None:
            profiler.dump_stats(args.profile)
        ticks = meter.items_written[names["raw_table"]]
        assert raw_before is meter.items_written
        log_bytes: dict[str, list[int]] = defaultdict(list)
        for invocation in stack.runtime.invocations[first_measured:]:
            role = "ingest" if invocation.function == names["ingest_function"] else "process"
            log_bytes[role].append(sum(len(line) + 1 for line in invocation.log_lines))

        # cold starts: each the next tick of every coin, as one batch, in a fresh interpreter;
        # the package as shipped and (taking turns) without bytecode, as sam's default builder
        env = {
            **stack.runtime.config(names["process_function"]).environment,
            **stack.runtime.base_environment(),
        }
        profile = args.profile and args.profile.with_suffix(".cold" + args.profile.suffix)
        packages: dict[str, Path] = {}
        if args.cold_starts:
            shipped = build("build-ProcessFunction", Path(workdir) / "shipped", wheels="")
            packages = {
                "shipped": shipped,
                "source_only": without_bytecode(shipped, Path(workdir) / "source_only"),
            }
        colds: dict[str, list[dict[str, float]]] = {kind: [] for kind in packages}
        for n in range(2 * args.cold_starts):
            now = server.clock.now() + period * (n + 1)
            records = []
            for i, coin in enumerate(sorted(server.coins)):
                series = server.ticks(coin)
                tick = series[series.timestamp <= now].ticks()[-1]
                seq = str(10**20 + n * len(server.coins) + i)
                records.append(
                    {
                        "kinesis": {
                            "data": base64.b64encode(encode_tick(tick)).decode(),
                            "sequenceNumber": seq,
                            "approximateArrivalTimestamp": time.time(),
                            "partitionKey": coin,
                        },
                        "eventID": f"shardId-000000000000:{seq}",
                    }
                )
            kind = ("shipped", "source_only")[n % 2]
            code = packages[kind]
            colds[kind].append(
                cold_start(env, {"Records": records}, code, profile if n == 0 else None)
            )
        cold = {kind: _medians(runs) for kind, runs in colds.items() if runs}
        coins = len(server.coins)

    by_function: dict[str, dict[str, int]] = defaultdict(dict)
    for (function, service, operation), count in sorted(meter.calls.items()):
        if service in ("logs", "cloudwatch"):  # the runtime shipping logs/EMF, as Lambda does
            continue
        role = "ingest" if function == names["ingest_function"] else "process"
        by_function[role][f"{service}.{operation}"] = count
    runs = args.runs
    ingest = names["ingest_function"]

    def calls(operations: tuple[str, ...], role: str = "process") -> int:
        return sum(
            n
            for (function, _, operation), n in meter.calls.items()
            if operation in operations and (function == ingest) == (role == "ingest")
        )

    per_tick = {
        "ticks": ticks,
        "ingest_runs": runs,
        "coins": coins,
        "dynamodb_write_requests_per_tick": calls(("BatchWriteItem", "PutItem")) / ticks,
        "dynamodb_read_requests_per_tick": calls(("BatchGetItem", "GetItem", "Query")) / ticks,
        "wru_per_tick": {
            table: meter.wru[table] / ticks
            for table in (
                names["raw_table"],
                names["aggregated_table"],
                names["engine_state_table"],
                names["signals_table"],
            )
        },
        "item_bytes": {
            table: meter.bytes_written[table] / max(1, meter.items_written[table])
            for table in meter.items_written
        },
        "items_per_tick": {
            t: n / ticks for t, n in meter.items_written.items() if "(ingest)" not in t
        },
        "rru_per_tick": {t: r / ticks for t, r in meter.rru.items() if "(ingest)" not in t},
        "events_per_tick": meter.events_put / ticks,
        "put_events_calls_per_tick": calls(("PutEvents",)) / ticks,
        "kinesis_records_per_tick": meter.records_put / ticks,
        "put_records_calls_per_run": calls(("PutRecords",), "ingest") / runs,
        "process_invocations_per_run": cpu["invocations"] / runs,
        "process_cpu_ms_per_tick": 1000 * cpu["without_boto"] / ticks,
        "process_cpu_with_boto_ms_per_tick": 1000 * cpu["with_boto"] / ticks,
        "process_cpu_ms_per_invocation": 1000 * cpu["without_boto"] / max(1, cpu["invocations"]),
        "process_cpu_with_boto_ms_per_invocation": 1000
        * cpu["with_boto"]
        / max(1, cpu["invocations"]),
        "process_wall_ms_per_invocation_on_emulator": 1000
        * cpu["wall"]
        / max(1, cpu["invocations"]),
    }
    result = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}",
        "numba": bool(args.numba),
        "cadence": args.cadence,
        "warmup_periods": args.warmup,
        "period_s": period,
        "per_tick": per_tick,
        "calls_by_function": dict(by_function),
        "ingest_wru_per_run": {t: n / runs for t, n in meter.wru.items() if t.endswith("(ingest)")},
        "ingest_rru_per_run": {t: n / runs for t, n in meter.rru.items() if t.endswith("(ingest)")},
        "cold_start": cold,
        "served_models": served,
        # the handlers' own log lines (Powertools JSON + EMF); Lambda adds START/END/REPORT
        "log_bytes_per_invocation": {
            role: sum(sizes) / max(1, len(sizes)) for role, sizes in log_bytes.items()
        },
        "package": package_size() if args.package else None,
        "wall_s": time.perf_counter() - started,
        "measured_wall_s": measured_wall,
    }
    return result


def report(result: dict[str, Any]) -> str:
    t, cold = result["per_tick"], result["cold_start"]
    lines = [
        f"pipeline benchmark: {t['ticks']} ticks of {t['coins']} coins, {t['ingest_runs']} ingest "
        f"runs, one tick per coin per batch (numba {'on' if result['numba'] else 'off'}; "
        f"{len(result['served_models'])} served models: "
        f"{', '.join(Path(k).name for k in result['served_models']) or 'none'})",
        f"  DynamoDB write requests / tick   {t['dynamodb_write_requests_per_tick']:.2f}",
        f"  DynamoDB read requests / tick    {t['dynamodb_read_requests_per_tick']:.2f}",
        "  write units / tick               "
        + ", ".join(f"{k} {v:.2f}" for k, v in t["wru_per_tick"].items())
        + f"  = {sum(t['wru_per_tick'].values()):.2f}",
        "  read units / tick                "
        + ", ".join(f"{k} {v:.2f}" for k, v in t["rru_per_tick"].items()),
        "  item bytes                       "
        + ", ".join(f"{k} {v:,.0f}" for k, v in t["item_bytes"].items()),
        f"  Kinesis records / tick           {t['kinesis_records_per_tick']:.2f}"
        f"  (PutRecords calls / run {t['put_records_calls_per_run']:.2f})",
        f"  EventBridge events / tick        {t['events_per_tick']:.3f}"
        f"  (PutEvents calls / tick {t['put_events_calls_per_tick']:.3f})",
        f"  process invocations / run        {t['process_invocations_per_run']:.2f}",
        f"  process CPU / tick               {t['process_cpu_ms_per_tick']:.2f} ms without boto, "
        f"{t['process_cpu_with_boto_ms_per_tick']:.2f} ms with",
        f"  process CPU / invocation         {t['process_cpu_ms_per_invocation']:.1f} ms without "
        f"boto, {t['process_cpu_with_boto_ms_per_invocation']:.1f} ms with "
        f"(wall on the emulator {t['process_wall_ms_per_invocation_on_emulator']:.1f} ms)",
        *(
            f"  cold start, {label:<24} imports {c['imports_s']:.2f} s + first batch "
            f"{c['first_batch_s']:.2f} s (medians of {c['runs']}; total {c['total_s_min']:.2f}-"
            f"{c['total_s_max']:.2f} s)"
            for label, c in (
                ("as shipped (bytecode)", cold.get("shipped")),
                ("source only", cold.get("source_only")),
            )
            if c
        ),
        "  log bytes / invocation           "
        + ", ".join(f"{k} {v:,.0f}" for k, v in result["log_bytes_per_invocation"].items()),
        f"  calls by function                {json.dumps(result['calls_by_function'])}",
    ]
    if result["package"]:
        package = result["package"]
        lines.append(
            f"  Lambda package                   {package['unzipped_mb']} MB unzipped (limit "
            f"{package['limit_unzipped_mb']} MB), {package['zipped_mb']} MB zipped, "
            f"{package['numpy']}"
        )
    lines.append(f"  wall {result['wall_s']:.1f} s")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cadence", choices=sorted(CADENCES), default="5m",
                        help="the ingest schedule and the data replayed")  # fmt: skip
    parser.add_argument("--warmup", type=int, help="periods before measuring (default a day)")
    parser.add_argument("--runs", type=int, help="periods measured (96 at 5m, 120 at 1m)")
    parser.add_argument("--numba", action="store_true", help="allow numba (Lambda has none)")
    parser.add_argument("--no-models", dest="models", action="store_false",
                        help="serve no P(up) model or meta-label filter (default: one of each "
                             "a coin, fitted on the replayed days: every model on)")  # fmt: skip
    parser.add_argument("--cold-starts", type=int, default=1,
                        help="cold starts of each package (as shipped, source only), "
                             "alternating, each on the next tick (medians reported)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--profile",
        type=Path,
        help="write a cProfile of the measured process handler calls here (CPU time; inflates "
        "the CPU figures: compare runs with and without it only among themselves), and one of "
        "the cold start beside it (<name>.cold<suffix>, wall time)",
    )
    parser.add_argument(
        "--package",
        action="store_true",
        help="also measure the Lambda package (pip install --target for manylinux py3.12)",
    )
    parser.add_argument(
        "--write-measured",
        action="store_true",
        help=f"store the per-tick figures for `cryptosignals cost` ({MEASURED.name})",
    )
    args = parser.parse_args()
    minutes = 5 if args.cadence == "5m" else 1
    args.warmup = 24 * 60 // minutes if args.warmup is None else args.warmup
    args.runs = (96 if minutes == 5 else 120) if args.runs is None else args.runs
    result = run(args)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.write_measured:
        measured = json.loads(MEASURED.read_text()) if MEASURED.exists() else {}
        measured = {"cadences": {**measured.get("cadences", {}), args.cadence: result}}
        MEASURED.write_text(json.dumps(measured, indent=2, sort_keys=True) + "\n")
        print(f"wrote the {args.cadence} figures into {MEASURED.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
