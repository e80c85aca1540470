"""The QuickSight path, checked offline: quicksight.yaml passes cfn-lint and stands alone, its
Glue table reads the stream's records as the pipeline writes them, and the QuickSight JSON
definitions are valid `--cli-input-json` for their AWS CLI commands and agree with each other.

(The emulator's CloudFormation skips Glue, Firehose and Athena resources, so deploying the
template there would prove nothing.)"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import validate_parameters

from cryptosignals.aws.kinesis import encode_tick
from cryptosignals.local.template import load_template
from cryptosignals.model import Tick

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "quicksight.yaml"
DOCS = ROOT / "docs" / "quicksight"
#: File -> the QuickSight API operation its --cli-input-json feeds.
DEFINITIONS = {
    "data-source.json": "CreateDataSource",
    "dataset-ticks.json": "CreateDataSet",
    "dataset-correlation.json": "CreateDataSet",
    "analysis.json": "CreateAnalysis",
}
PLACEHOLDERS = {
    "ACCOUNT_ID": "111122223333",
    "REGION": "us-east-1",
    "WORKGROUP": "cryptosignals-quicksight",
    "DATABASE": "cryptosignals",
    "TABLE": "ticks",
    "QUICKSIGHT_PRINCIPAL": "arn:aws:quicksight:us-east-1:111122223333:user/default/analyst",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def definition(name: str) -> dict[str, Any]:
    """A definition with its ${PLACEHOLDERS} filled in, as README's envsubst does."""
    text = (DOCS / name).read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)\}", text))
    assert used <= set(PLACEHOLDERS), used - set(PLACEHOLDERS)
    for key, value in PLACEHOLDERS.items():
        text = text.replace("${" + key + "}", value)
    return json.loads(text)  # type: ignore[no-any-return]


def test_quicksight_template_passes_cfn_lint() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_quicksight_template_stands_alone_with_the_stream_arn_as_its_only_input(
    template: dict[str, Any],
) -> None:
    required = [k for k, v in template["Parameters"].items() if "Default" not in v]
    assert required == ["StreamArn"]
    stream = template["Resources"]["DeliveryStream"]["Properties"]
    assert stream["DeliveryStreamType"] == "KinesisStreamAsSource"
    assert stream["KinesisStreamSourceConfiguration"]["KinesisStreamARN"] == {"Ref": "StreamArn"}
    assert "Transform" not in template, "plain CloudFormation: no SAM translation needed"


def test_firehose_writes_parquet_by_event_date_with_the_glue_schema(
    template: dict[str, Any],
) -> None:
    s3 = template["Resources"]["DeliveryStream"]["Properties"]["ExtendedS3DestinationConfiguration"]
    conversion = s3["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    assert "ParquetSerDe" in conversion["OutputFormatConfiguration"]["Serializer"]
    assert conversion["SchemaConfiguration"]["TableName"] == {"Ref": "TicksTable"}
    assert s3["Prefix"] == "ticks/dt=!{partitionKeyFromQuery:dt}/"
    query = s3["ProcessingConfiguration"]["Processors"][0]["Parameters"][0]["ParameterValue"]
    assert ".timestamp" in query, "partitions by the tick's event time, not its arrival"
    assert s3["BufferingHints"]["SizeInMBs"] >= 64  # AWS minimum with dynamic partitioning


def test_glue_table_columns_read_the_records_the_producer_puts_on_the_stream(
    template: dict[str, Any],
) -> None:
    table = template["Resources"]["TicksTable"]["Properties"]["TableInput"]
    columns = [c["Name"] for c in table["StorageDescriptor"]["Columns"]]
    serde = template["Resources"]["DeliveryStream"]["Properties"][
        "ExtendedS3DestinationConfiguration"
    ]["DataFormatConversionConfiguration"]["InputFormatConfiguration"]["Deserializer"]
    mapping = serde["OpenXJsonSerDe"]["ColumnToJsonKeyMappings"]
    record = json.loads(encode_tick(Tick("bitcoin", 1_744_588_800, 83760.0, 2e9, 1.6e12, -1.8)))
    assert sorted(mapping.get(c, c) for c in columns) == sorted(record)
    assert [k["Name"] for k in table["PartitionKeys"]] == ["dt"]
    assert table["Parameters"]["projection.enabled"] == "true"


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_quicksight_definition_is_valid_cli_input_for_its_command(name: str) -> None:
    model = botocore.session.get_session().get_service_model("quicksight")
    validate_parameters(definition(name), model.operation_model(DEFINITIONS[name]).input_shape)


def _dataset_columns(dataset: dict[str, Any]) -> set[str]:
    return {
        column["Name"]
        for table in dataset["PhysicalTableMap"].values()
        for column in table["CustomSql"]["Columns"]
    }


def _used_columns(node: Any) -> list[tuple[str, str]]:
    """Every (DataSetIdentifier, ColumnName) an analysis definition refers to."""
    if isinstance(node, dict):
        found = []
        if "DataSetIdentifier" in node and "ColumnName" in node:
            found.append((node["DataSetIdentifier"], node["ColumnName"]))
        for value in node.values():
            found += _used_columns(value)
        return found
    if isinstance(node, list):
        return [pair for item in node for pair in _used_columns(item)]
    return []


def test_analysis_draws_the_three_visuals_from_columns_the_datasets_have() -> None:
    source = definition("data-source.json")
    datasets = {
        d["DataSetId"]: d
        for d in map(definition, ["dataset-ticks.json", "dataset-correlation.json"])
    }
    for dataset in datasets.values():
        for table in dataset["PhysicalTableMap"].values():
            assert table["CustomSql"]["DataSourceArn"].endswith(
                f":datasource/{source['DataSourceId']}"
            )
    analysis = definition("analysis.json")["Definition"]
    declared = {
        d["Identifier"]: d["DataSetArn"].rsplit("/", 1)[1]
        for d in analysis["DataSetIdentifierDeclarations"]
    }
    assert set(declared.values()) == set(datasets)
    for identifier, column in _used_columns(analysis):
        assert column in _dataset_columns(datasets[declared[identifier]]), (identifier, column)
    visuals = [next(iter(v)) for v in analysis["Sheets"][0]["Visuals"]]
    assert visuals == ["LineChartVisual", "HeatMapVisual", "HeatMapVisual"]


def test_ticks_dataset_selects_glue_columns_and_prunes_partitions(
    template: dict[str, Any],
) -> None:
    sql = definition("dataset-ticks.json")["PhysicalTableMap"]["ticks"]["CustomSql"]["SqlQuery"]
    table = template["Resources"]["TicksTable"]["Properties"]["TableInput"]
    glue = {c["Name"] for c in table["StorageDescriptor"]["Columns"]} | {"dt"}
    selected = re.findall(r"\b([a-z_0-9]+)\b", sql.split("FROM")[0])
    assert {"crypto_id", "event_time", "price", "volume_24h"} <= set(selected) & glue
    assert "WHERE dt >=" in sql, "only recent partitions are scanned"
