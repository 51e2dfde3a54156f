# SPDX-License-Identifier: MIT
# Build helpers shared by every directory: warnings, sanitizers, tests.

find_package(PkgConfig REQUIRED)

if(FARM_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

if(FARM_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "FARM_FUZZ needs clang: configure with CC=clang")
  endif()
  # Libraries get coverage instrumentation; fuzz executables link libFuzzer.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined
                      -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
  add_custom_target(fuzzers)
endif()

# Warnings are errors on our own code (third-party code is never compiled here).
function(farm_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wshadow
    -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
    -Wimplicit-fallthrough)
endfunction()

# farm_test(NAME name LABEL label SOURCES ... [LIBS ...] [ARGS ...])
# A cmocka test executable registered with CTest. Tests see FARM_SHARED_DIR
# (conformance vectors, data sets) and FARM_BIN_DIR (the built programs).
function(farm_test)
  cmake_parse_arguments(T "" "NAME;LABEL;TIMEOUT" "SOURCES;LIBS;ARGS" ${ARGN})
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
  target_compile_definitions(${T_NAME} PRIVATE _POSIX_C_SOURCE=200809L)
  set_target_properties(${T_NAME} PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  farm_warnings(${T_NAME})
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS ${T_LABEL}
    TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "FARM_SHARED_DIR=${FARM_SHARED_DIR};FARM_BIN_DIR=${CMAKE_BINARY_DIR}/bin;FARM_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endfunction()

# farm_fuzzer(NAME name SOURCES ... LIBS ... CORPUS dir)
# A libFuzzer target, registered as a `fuzz` test that runs for
# FARM_FUZZ_SECONDS from its checked-in seed corpus and fails on any finding.
# New inputs go to a scratch corpus in the build tree, never the source tree.
function(farm_fuzzer)
  cmake_parse_arguments(F "" "NAME;CORPUS" "SOURCES;LIBS" ${ARGN})
  if(NOT FARM_FUZZ)
    return()
  endif()
  add_executable(${F_NAME} ${F_SOURCES})
  target_link_libraries(${F_NAME} PRIVATE ${F_LIBS})
  target_link_options(${F_NAME} PRIVATE -fsanitize=fuzzer)
  set_target_properties(${F_NAME} PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  farm_warnings(${F_NAME})
  add_dependencies(fuzzers ${F_NAME})
  set(work ${CMAKE_BINARY_DIR}/fuzz/${F_NAME}.corpus)
  file(MAKE_DIRECTORY ${work})
  add_test(NAME ${F_NAME}
    COMMAND ${F_NAME} -max_total_time=${FARM_FUZZ_SECONDS} -timeout=10
            -rss_limit_mb=2048 -print_final_stats=1
            -artifact_prefix=${CMAKE_BINARY_DIR}/fuzz/${F_NAME}-
            ${work} ${F_CORPUS})
  math(EXPR limit "${FARM_FUZZ_SECONDS} * 3 + 60")
  set_tests_properties(${F_NAME} PROPERTIES LABELS fuzz TIMEOUT ${limit})
endfunction()
