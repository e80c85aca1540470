"""The SAM template as data: load it, and translate it to plain CloudFormation.

The template at the repo root is the single description of the AWS resources; the static tests
and the local deployment both read it through here, so they see the same thing.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from cryptosignals.errors import PermanentError

#: Environment variable that overrides where template.yaml is looked for.
TEMPLATE_ENV = "CRYPTOSIGNALS_TEMPLATE"


def template_path() -> Path:
    """template.yaml of this checkout (the repo root above src/), or $CRYPTOSIGNALS_TEMPLATE."""
    override = os.environ.get(TEMPLATE_ENV)
    path = Path(override) if override else Path(__file__).resolve().parents[3] / "template.yaml"
    if not path.is_file():
        raise PermanentError(
            f"template not found at {path}; run from a checkout or set {TEMPLATE_ENV}"
        )
    return path


def load_template(path: Path | None = None) -> dict[str, Any]:
    """The template as a dict, with YAML short forms (!Ref, !GetAtt, !Sub) in their long form."""
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse((path or template_path()).read_text())


def translate(
    template: dict[str, Any],
    parameters: dict[str, Any] | None = None,
    *,
    code_uri: str = "s3://cryptosignals-code/code.zip",
    region: str = "us-east-1",
) -> dict[str, Any]:
    """SAM -> plain CloudFormation, offline (no IAM lookups), as `sam package` + deploy would.

    Every local CodeUri becomes `code_uri` (the uploaded zip), like `sam package` does; an image
    function built from its Metadata (Dockerfile) gets `<logical id>:local` as its ImageUri,
    where `sam build` would put the built image's (the local runtime runs its handler from this
    checkout, in-process, like the zip functions'). The template attaches no managed policies on
    purpose, so the policy map is empty.
    """
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = copy.deepcopy(template)
    function_globals = template.get("Globals", {}).get("Function", {})
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = code_uri
    for resource in template["Resources"].values():
        is_function = resource.get("Type") == "AWS::Serverless::Function"
        if is_function and "CodeUri" in resource.get("Properties", {}):
            resource["Properties"]["CodeUri"] = code_uri
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        is_image = resource.get("Type") == "AWS::Serverless::Function" and (
            props.get("PackageType") == "Image"
        )
        if is_image and "ImageUri" not in props and "Dockerfile" in resource.get("Metadata", {}):
            props["ImageUri"] = f"{logical_id.lower()}:local"
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=region))
    return translator.translate(
        template,
        parameter_values=dict(parameters or {}),
        get_managed_policy_map=lambda: {},
    )
