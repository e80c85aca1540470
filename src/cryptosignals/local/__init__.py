"""The local AWS stack: moto (pinned, shimmed) on 127.0.0.1 + our runtime for what it lacks.

Start everything with `LocalStack.start()` (see cryptosignals.local.stack); the pieces are
`emulator` (server lifecycle, deploy of template.yaml), `runtime` (in-process invocation,
scheduler, Kinesis poller, EMF metrics) and `shims` (moto patches). docs/aws.md has the details.
"""
