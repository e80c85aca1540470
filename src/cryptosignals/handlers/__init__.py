"""The Lambda entry points, thin: parse the event, call the core, write, report failures.

`ingest.handler` (schedule) and `process.handler` (Kinesis) are the template's handlers; the
local runtime (cryptosignals.local) invokes the same functions in-process.
"""
