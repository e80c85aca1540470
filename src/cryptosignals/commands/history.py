"""`cryptosignals upload-history`: the training function's history, a backfill of candle files
into the models bucket (docs/models.md, "Training in AWS")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True, soft_wrap=True)


def upload_history(
    input: Annotated[
        list[Path],
        typer.Option(
            "--input",
            "-i",
            help="Candle files named <coin>_5m.csv[.gz] (or _1m); more may follow as arguments.",
        ),
    ],
    bucket: Annotated[
        str, typer.Option(help="The models bucket (the stack's ModelsBucketName output).")
    ],
    files: Annotated[
        list[Path] | None, typer.Argument(help="More candle files.", show_default=False)
    ] = None,
) -> None:
    """Upload candle files to the models bucket's history/, where the scheduled training
    function reads them (every file is checked before any is sent). AWS credentials and region
    as for the AWS CLI; AWS_ENDPOINT_URL points it at the local stack."""
    from botocore.exceptions import BotoCoreError, ClientError

    from cryptosignals.aws import clients
    from cryptosignals.errors import BadInputError
    from cryptosignals.models.training import ModelsBucket

    try:
        keys = ModelsBucket(clients("s3"), bucket).upload_history([*input, *(files or [])])
    except (BotoCoreError, ClientError) as exc:  # no such bucket, no credentials: one line
        raise BadInputError(f"s3://{bucket}: {exc}") from None
    for key in keys:
        err.print(f"s3://{bucket}/{key}")


def register(app: typer.Typer) -> None:
    app.command("upload-history")(upload_history)
