# CMake generated Testfile for 
# Source directory: /work/main/proto
# Build directory: /work/main/build/proto
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test([=[test_crc16]=] "/work/main/build/tests/test_crc16")
set_tests_properties([=[test_crc16]=] PROPERTIES  ENVIRONMENT "FARM_SHARED_DIR=/work/main/../shared;FARM_BIN_DIR=/work/main/build/bin;FARM_SOURCE_DIR=/work/main" LABELS "unit" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/cmake/farm.cmake;42;add_test;/work/main/proto/CMakeLists.txt;28;farm_test;/work/main/proto/CMakeLists.txt;0;")
add_test([=[test_cobs]=] "/work/main/build/tests/test_cobs")
set_tests_properties([=[test_cobs]=] PROPERTIES  ENVIRONMENT "FARM_SHARED_DIR=/work/main/../shared;FARM_BIN_DIR=/work/main/build/bin;FARM_SOURCE_DIR=/work/main" LABELS "unit" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/cmake/farm.cmake;42;add_test;/work/main/proto/CMakeLists.txt;29;farm_test;/work/main/proto/CMakeLists.txt;0;")
add_test([=[test_frame]=] "/work/main/build/tests/test_frame")
set_tests_properties([=[test_frame]=] PROPERTIES  ENVIRONMENT "FARM_SHARED_DIR=/work/main/../shared;FARM_BIN_DIR=/work/main/build/bin;FARM_SOURCE_DIR=/work/main" LABELS "unit" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/cmake/farm.cmake;42;add_test;/work/main/proto/CMakeLists.txt;30;farm_test;/work/main/proto/CMakeLists.txt;0;")
add_test([=[test_msgpack]=] "/work/main/build/tests/test_msgpack")
set_tests_properties([=[test_msgpack]=] PROPERTIES  ENVIRONMENT "FARM_SHARED_DIR=/work/main/../shared;FARM_BIN_DIR=/work/main/build/bin;FARM_SOURCE_DIR=/work/main" LABELS "unit" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/cmake/farm.cmake;42;add_test;/work/main/proto/CMakeLists.txt;31;farm_test;/work/main/proto/CMakeLists.txt;0;")
add_test([=[test_msgpack_diff]=] "/work/main/build/tests/test_msgpack_diff")
set_tests_properties([=[test_msgpack_diff]=] PROPERTIES  ENVIRONMENT "FARM_SHARED_DIR=/work/main/../shared;FARM_BIN_DIR=/work/main/build/bin;FARM_SOURCE_DIR=/work/main" LABELS "unit" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/cmake/farm.cmake;42;add_test;/work/main/proto/CMakeLists.txt;32;farm_test;/work/main/proto/CMakeLists.txt;0;")
add_test([=[test_cbor]=] "/work/main/build/tests/test_cbor")
set_tests_properties([=[test_cbor]=] PROPERTIES  ENVIRONMENT "FARM_SHARED_DIR=/work/main/../shared;FARM_BIN_DIR=/work/main/build/bin;FARM_SOURCE_DIR=/work/main" LABELS "unit" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/cmake/farm.cmake;42;add_test;/work/main/proto/CMakeLists.txt;34;farm_test;/work/main/proto/CMakeLists.txt;0;")
add_test([=[test_cbor_diff]=] "/work/main/build/tests/test_cbor_diff")
set_tests_properties([=[test_cbor_diff]=] PROPERTIES  ENVIRONMENT "FARM_SHARED_DIR=/work/main/../shared;FARM_BIN_DIR=/work/main/build/bin;FARM_SOURCE_DIR=/work/main" LABELS "unit" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/cmake/farm.cmake;42;add_test;/work/main/proto/CMakeLists.txt;35;farm_test;/work/main/proto/CMakeLists.txt;0;")
add_test([=[test_msg]=] "/work/main/build/tests/test_msg")
set_tests_properties([=[test_msg]=] PROPERTIES  ENVIRONMENT "FARM_SHARED_DIR=/work/main/../shared;FARM_BIN_DIR=/work/main/build/bin;FARM_SOURCE_DIR=/work/main" LABELS "unit" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/cmake/farm.cmake;42;add_test;/work/main/proto/CMakeLists.txt;37;farm_test;/work/main/proto/CMakeLists.txt;0;")
