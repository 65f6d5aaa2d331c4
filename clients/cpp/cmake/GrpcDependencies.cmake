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
  # pkg-config is asked directly: FindPkgConfig's pkg_check_modules resolves each of the ~100 abseil
  # libraries grpc++ pulls in with find_library, which takes a minute.
  find_program(PATCHCORE_PKG_CONFIG pkg-config)
  if(PATCHCORE_PKG_CONFIG)
    execute_process(COMMAND ${PATCHCORE_PKG_CONFIG} --modversion grpc++
                    OUTPUT_VARIABLE _grpc_version RESULT_VARIABLE _missing ERROR_VARIABLE _why
                    OUTPUT_STRIP_TRAILING_WHITESPACE)
  endif()
  if(NOT PATCHCORE_PKG_CONFIG OR _missing)
    message(FATAL_ERROR "gRPC C++ not found: neither its CMake config package nor pkg-config's grpc++ is "
                        "installed. ${_why}On Debian/Ubuntu: apt-get install libgrpc++-dev libprotobuf-dev "
                        "protobuf-compiler protobuf-compiler-grpc pkg-config")
  endif()
  foreach(_kind IN ITEMS cflags libs)
    execute_process(COMMAND ${PATCHCORE_PKG_CONFIG} --${_kind} grpc++ protobuf
                    OUTPUT_VARIABLE _flags OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
    separate_arguments(_grpc_${_kind} UNIX_COMMAND "${_flags}")
  endforeach()
  message(STATUS "gRPC ${_grpc_version} and protobuf found through pkg-config")
  target_compile_options(patchcore::grpcpp INTERFACE ${_grpc_cflags})
  target_link_libraries(patchcore::grpcpp INTERFACE ${_grpc_libs})
  find_program(PATCHCORE_PROTOC protoc REQUIRED)
  find_program(PATCHCORE_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
endif()
