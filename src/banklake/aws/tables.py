"""The contract tables as S3 Tables declares them, for the infrastructure templates.

CloudFormation's ``AWS::S3Tables::Table`` takes the schema as ``IcebergMetadata``: the same
field ids, types, partition spec and creation properties that the local lakehouse uses
(``banklake.lakehouse.catalog``), so a table made by the template and one made by a job are
the same table. ``tests/infra`` holds the templates to this.
"""

from __future__ import annotations

from typing import Any

from pyiceberg.types import IcebergType, NestedField, PrimitiveType

from banklake.contracts import TableContract
from banklake.lakehouse.catalog import creation_properties, iceberg_schema, partition_spec


def iceberg_metadata(contract: TableContract) -> dict[str, Any]:
    """``IcebergMetadata`` of ``AWS::S3Tables::Table`` for the contract table."""
    metadata: dict[str, Any] = {
        "IcebergSchemaV2": {
            "SchemaV2FieldType": "struct",
            "SchemaV2FieldList": [_field(f) for f in iceberg_schema(contract).fields],
        },
        "TableProperties": creation_properties(contract),
    }
    spec = partition_spec(contract)
    if spec.fields:
        metadata["IcebergPartitionSpec"] = {
            "Fields": [
                {
                    "FieldId": f.field_id,
                    "Name": f.name,
                    "SourceId": f.source_id,
                    "Transform": str(f.transform),
                }
                for f in spec.fields
            ]
        }
    return metadata


def iceberg_type(kind: IcebergType) -> str | dict[str, Any]:
    """A type as Iceberg's table metadata JSON writes it (``decimal(18,2)``, a list object)."""
    if isinstance(kind, PrimitiveType):
        return str(kind).replace(", ", ",")
    nested: dict[str, Any] = kind.model_dump(by_alias=True)
    return nested


def _field(field: NestedField) -> dict[str, Any]:
    declared: dict[str, Any] = {
        "Id": field.field_id,
        "Name": field.name,
        "Type": iceberg_type(field.field_type),
        "Required": field.required,
    }
    if field.doc:
        declared["Doc"] = field.doc
    return declared
