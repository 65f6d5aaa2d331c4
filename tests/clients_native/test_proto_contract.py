"""The contract's style, checked on what protoc reads from protos/: every element documented, the per-language
options set, enum zero values that mean "not set"."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2
from native_tools import PROTO_FILE, protoc

# SourceCodeInfo paths are field numbers: FileDescriptorProto.message_type = 4, enum_type = 5, service = 6;
# DescriptorProto.field, EnumDescriptorProto.value and ServiceDescriptorProto.method are all 2.
CONTAINERS = (("message_type", 4, "field"), ("enum_type", 5, "value"), ("service", 6, "method"))
MEMBERS = 2


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory) -> descriptor_pb2.FileDescriptorProto:
    out = tmp_path_factory.mktemp("descriptor") / "inspection.pb"
    result = protoc("--include_source_info", f"--descriptor_set_out={out}", PROTO_FILE)
    assert result.returncode == 0, result.stderr
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]


def undocumented(contract: descriptor_pb2.FileDescriptorProto) -> list[str]:
    """Names of the messages, fields, enums, enum values, services and rpcs without a leading comment."""
    documented = {
        tuple(location.path)
        for location in contract.source_code_info.location
        if location.leading_comments.strip()
    }
    missing = []
    for container_kind, kind_number, member_kind in CONTAINERS:
        for i, container in enumerate(getattr(contract, container_kind)):
            if (kind_number, i) not in documented:
                missing.append(container.name)
            missing += [
                f"{container.name}.{member.name}"
                for j, member in enumerate(getattr(container, member_kind))
                if (kind_number, i, MEMBERS, j) not in documented
            ]
    return missing


def test_every_message_field_enum_and_rpc_is_documented(contract):
    assert undocumented(contract) == []


def test_the_contract_imports_nothing_so_every_language_builds_from_protos_alone(contract):
    assert list(contract.dependency) == []


def test_the_language_options_are_set(contract):
    options = contract.options
    assert options.csharp_namespace == "PatchcoreEdge.V1"
    assert options.java_package and options.java_multiple_files
    assert options.go_package.endswith(";edgev1")
    assert len(options.objc_class_prefix) >= 3


def test_enum_zero_values_mean_not_set(contract):
    zero_values = {enum.name: enum.value[0] for enum in contract.enum_type}
    for enum_name, value in zero_values.items():
        assert value.number == 0
        assert value.name.endswith(("_UNSPECIFIED", "_NONE")), f"{enum_name}: {value.name}"
