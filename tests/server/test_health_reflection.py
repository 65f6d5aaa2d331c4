"""Standard gRPC health and server reflection, so generic tools (grpcurl, probes) need no stubs."""

from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

SERVICE = "patchcore.edge.v1.InspectionService"
CONTRACT_FILE = "patchcore/edge/v1/inspection.proto"  # its path under protos/


def test_health_is_serving_for_the_server_and_the_service(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", SERVICE):
        response = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services_and_describes_the_api(channel):
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE),
    ]
    listing, file_answer = list(reflection.ServerReflectionInfo(iter(requests)))

    names = {service.name for service in listing.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names
    assert file_answer.file_descriptor_response.file_descriptor_proto  # grpcurl describes calls from this


def test_reflection_names_the_contracts_file_as_it_lies_in_protos(channel):
    """A tool holding protos/ (grpcurl -import-path protos) asks for the file by the name it has there."""
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE),
        reflection_pb2.ServerReflectionRequest(file_by_filename=CONTRACT_FILE),
    ]
    by_symbol, by_name = list(reflection.ServerReflectionInfo(iter(requests)))

    for answer in (by_symbol, by_name):
        assert not answer.HasField("error_response"), answer.error_response.error_message
        (serialized,) = answer.file_descriptor_response.file_descriptor_proto
        contract = descriptor_pb2.FileDescriptorProto.FromString(serialized)
        assert contract.name == CONTRACT_FILE
        assert [service.name for service in contract.service] == ["InspectionService"]
