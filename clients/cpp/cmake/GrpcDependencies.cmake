# Finds gRPC C++ and protobuf and defines what the rest of the build uses:
#   patchcore::grpcpp           interface target: link it to get gRPC C++ and protobuf
#   PATCHCORE_PROTOC            protoc (an executable target or a path), matching the protobuf library
#   PATCHCORE_GRPC_CPP_PLUGIN   path (or generator expression) of grpc_cpp_plugin
# Tries the CMake config packages first, then pkg-config (grpc++, protobuf).

add_library(patchcore::grpcpp INTERFACE IMPORTED)

if(NOT PATCHCORE_USE_PKGCONFIG)
  find_package(Protobuf CONFIG QUIET)
  if(NOT Protobuf_FOUND)
    find_package(Protobuf MODULE QUIET)
  endif()
  find_package(gRPC CONFIG QUIET)
endif()

if(gRPC_FOUND AND TARGET protobuf::libprotobuf AND TARGET protobuf::protoc)
  message(STATUS "gRPC ${gRPC_VERSION} and protobuf found through their CMake config packages")
  target_link_libraries(patchcore::grpcpp INTERFACE gRPC::grpc++ protobuf::libprotobuf)
  set(PATCHCORE_PROTOC protobuf::protoc)
  set(PATCHCORE_GRPC_CPP_PLUGIN $<TARGET_FILE:gRPC::grpc_cpp_plugin>)
else()
  find_package(PkgConfig)
  if(NOT PKG_CONFIG_FOUND)
    message(FATAL_ERROR "gRPC C++ not found: neither its CMake config package nor pkg-config is available. "
                        "On Debian/Ubuntu: apt-get install libgrpc++-dev protobuf-compiler-grpc pkg-config")
  endif()
  pkg_check_modules(PATCHCORE_GRPCPP REQUIRED IMPORTED_TARGET grpc++ protobuf)
  message(STATUS "gRPC ${PATCHCORE_GRPCPP_grpc++_VERSION} and protobuf found through pkg-config")
  target_link_libraries(patchcore::grpcpp INTERFACE PkgConfig::PATCHCORE_GRPCPP)
  find_program(PATCHCORE_PROTOC protoc REQUIRED)
  find_program(PATCHCORE_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
endif()
