# CMake generated Testfile for 
# Source directory: /work/main/common
# Build directory: /work/main/build/common
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test([=[test_error]=] "/work/main/build/tests/test_error")
set_tests_properties([=[test_error]=] PROPERTIES  ENVIRONMENT "FARM_SHARED_DIR=/work/main/../shared;FARM_BIN_DIR=/work/main/build/bin;FARM_SOURCE_DIR=/work/main" LABELS "unit" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/cmake/farm.cmake;42;add_test;/work/main/common/CMakeLists.txt;6;farm_test;/work/main/common/CMakeLists.txt;0;")
