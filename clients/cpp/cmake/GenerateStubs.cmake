# Generates the C++ message classes and gRPC stubs of protos/patchcore/edge/v1/inspection.proto into the build
# tree at build time; regenerated whenever the .proto changes. Defines:
#   PATCHCORE_GENERATED_DIR      include root of the generated headers (#include "patchcore/edge/v1/...")
#   PATCHCORE_GENERATED_SOURCES  the four generated files (.pb.cc/.h, .grpc.pb.cc/.h)

set(_proto_name patchcore/edge/v1/inspection)
set(_proto_file ${PATCHCORE_PROTO_ROOT}/${_proto_name}.proto)
if(NOT EXISTS ${_proto_file})
  message(FATAL_ERROR "The contract ${_proto_file} is missing; set PATCHCORE_PROTO_ROOT to the protos/ folder.")
endif()

set(PATCHCORE_GENERATED_DIR ${CMAKE_CURRENT_BINARY_DIR}/generated)
set(PATCHCORE_GENERATED_SOURCES
  ${PATCHCORE_GENERATED_DIR}/${_proto_name}.pb.cc
  ${PATCHCORE_GENERATED_DIR}/${_proto_name}.pb.h
  ${PATCHCORE_GENERATED_DIR}/${_proto_name}.grpc.pb.cc
  ${PATCHCORE_GENERATED_DIR}/${_proto_name}.grpc.pb.h
)
file(MAKE_DIRECTORY ${PATCHCORE_GENERATED_DIR})

add_custom_command(
  OUTPUT ${PATCHCORE_GENERATED_SOURCES}
  COMMAND ${PATCHCORE_PROTOC}
    --proto_path=${PATCHCORE_PROTO_ROOT}
    --cpp_out=${PATCHCORE_GENERATED_DIR}
    --grpc_out=${PATCHCORE_GENERATED_DIR}
    --plugin=protoc-gen-grpc=${PATCHCORE_GRPC_CPP_PLUGIN}
    ${_proto_file}
  DEPENDS ${_proto_file}
  COMMENT "Generating C++ stubs from ${_proto_name}.proto"
  VERBATIM
)
