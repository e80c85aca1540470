"""The project's errors, classified once.

The class decides what happens everywhere (client, handlers, replay server):

- `RetryableError`: try again later (throttling, timeouts, 5xx). Kinesis redelivers, the client
  backs off.
- `PermanentError`: retrying cannot help (bad key, unknown coin); report and stop.
- `BadInputError`: this record or file is malformed; reject or dead-letter it with the reason.
"""


class CryptoSignalsError(Exception):
    """Base of every error this package raises on purpose."""


class RetryableError(CryptoSignalsError):
    """A transient failure: the same call may succeed later."""


class PermanentError(CryptoSignalsError):
    """A failure that repeats on retry: configuration, authentication, unknown ids."""


class BadInputError(CryptoSignalsError):
    """Input that cannot be used; the message says what is wrong and where."""
