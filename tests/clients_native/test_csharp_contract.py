"""The contract compiles for C#, and the C# example uses only names the generated code has.

No .NET SDK here: protoc generates the C# message classes from protos/ alone (and the client stub where a
grpc_csharp_plugin is on PATH); the example's initializers and property reads are checked against them."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from native_tools import PROTO_FILE, REPO, protoc
from patchcore_edge.v1 import inspection_pb2 as pb

CSHARP = REPO / "clients" / "csharp"
EXAMPLE_SOURCES = ("Program.cs", "ResultPrinter.cs")


@pytest.fixture(scope="module")
def generated_messages(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The C# source protoc generates for the contract's messages and enums."""
    out = tmp_path_factory.mktemp("csharp")
    result = protoc(f"--csharp_out={out}", PROTO_FILE)
    assert result.returncode == 0, result.stderr
    return (out / "Inspection.cs").read_text()


def class_properties(generated: str) -> dict[str, set[str]]:
    """{message class name: its public property names} from generated C# source."""
    classes = re.split(r"public sealed partial class (\w+) : pb::IMessage<\w+>", generated)
    names, bodies = classes[1::2], classes[2::2]
    properties = [set(re.findall(r"public [\w.:<>?]+ (\w+) \{", body)) for body in bodies]
    return dict(zip(names, properties, strict=True))


def initializers(source: str) -> list[tuple[str, set[str]]]:
    """[(class name, property names set at the top level of its `new Class { ... }` initializer)]."""
    found = []
    for match in re.finditer(r"new (\w+)\s*\{", source):
        depth, position, top_level = 1, match.end(), []
        while depth:
            char = source[position]
            depth += {"{": 1, "}": -1}.get(char, 0)
            top_level.append(char if depth == 1 else " ")
            position += 1
        assigned = re.findall(r"(?:^|,)\s*(\w+)\s*=(?!=)", "".join(top_level))
        found.append((match.group(1), set(assigned)))
    return found


def example_source() -> str:
    return "\n".join((CSHARP / name).read_text() for name in EXAMPLE_SOURCES)


def test_the_messages_are_generated_in_namespace_patchcore_edge_v1(generated_messages):
    assert "namespace PatchcoreEdge.V1 {" in generated_messages
    assert set(class_properties(generated_messages)) == set(pb.DESCRIPTOR.message_types_by_name)
    for enum in pb.DESCRIPTOR.enum_types_by_name:
        assert f"public enum {enum} {{" in generated_messages


def test_the_example_sets_only_properties_the_messages_have(generated_messages):
    properties = class_properties(generated_messages)
    used = [(name, assigned) for name, assigned in initializers(example_source()) if name in properties]

    assert {name for name, _ in used} >= {"InspectRequest", "Image"}
    for name, assigned in used:
        assert assigned <= properties[name], f"{name} has no {assigned - properties[name]}"


def test_the_example_reads_only_properties_the_response_has(generated_messages):
    properties = class_properties(generated_messages)
    source = example_source()

    read_from_response = set(re.findall(r"\bresponse\.(\w+)", source))
    read_from_error = set(re.findall(r"\bresponse\.Error\.(\w+)", source))

    assert {"FrameId", "Score", "Anomalous", "Error"} <= read_from_response <= properties["InspectResponse"]
    assert {"Code", "Message"} <= read_from_error <= properties["FrameError"]


def test_the_project_generates_the_client_from_the_repository_protos():
    project = ElementTree.parse(CSHARP / "InspectStream.csproj").getroot()
    [proto] = project.iter("Protobuf")
    packages = {reference.get("Include") for reference in project.iter("PackageReference")}

    assert (CSHARP / proto.get("Include")).resolve() == (REPO / "protos" / PROTO_FILE).resolve()
    assert (CSHARP / proto.get("ProtoRoot")).resolve() == (REPO / "protos").resolve()
    assert proto.get("GrpcServices") == "Client"
    assert packages == {"Google.Protobuf", "Grpc.Net.Client", "Grpc.Tools"}


@pytest.mark.skipif(
    shutil.which("grpc_csharp_plugin") is None,
    reason="grpc_csharp_plugin is not on PATH (it ships in the Grpc.Tools NuGet package; Debian has none)",
)
def test_the_client_stub_is_generated_where_the_csharp_plugin_is_installed(tmp_path: Path):
    plugin = shutil.which("grpc_csharp_plugin")
    result = protoc(f"--grpc_out={tmp_path}", f"--plugin=protoc-gen-grpc={plugin}", PROTO_FILE)

    assert result.returncode == 0, result.stderr
    stub = (tmp_path / "InspectionGrpc.cs").read_text()
    assert "namespace PatchcoreEdge.V1 {" in stub
    assert "public static partial class InspectionService" in stub
    assert "public partial class InspectionServiceClient" in stub
    assert "InspectStream(" in stub
