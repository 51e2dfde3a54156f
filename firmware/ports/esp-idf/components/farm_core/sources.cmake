# SPDX-License-Identifier: MIT
# The portable firmware code as one list of sources and include directories:
# the error table, the protocol library, the sensor and relay drivers and
# the node and gateway cores. The farm_core ESP-IDF component compiles this
# list, and so does the footprint build (firmware/size), so the sizes it
# reports are those of exactly the code the boards run.
#
# Input: FARM_ROOT, the repository root. Output: FARM_CORE_SOURCES and
# FARM_CORE_INCLUDE_DIRS. Every .c file under a portable library's src/ is
# taken (the layout rule of the repository: src/ holds the library, tests
# live elsewhere), so a new source file needs no change here, and a file
# that includes a platform header breaks both cross builds at once.

if(NOT FARM_ROOT)
  message(FATAL_ERROR "sources.cmake: set FARM_ROOT to the repository root")
endif()

set(FARM_CORE_LIBRARIES
  common
  proto
  firmware/drivers
  firmware/node
  firmware/gateway)

# A new file is picked up at the next build (CONFIGURE_DEPENDS), except in
# script mode, where CMake refuses the flag: ESP-IDF first reads every
# component's CMakeLists.txt with cmake -P to learn its requirements.
set(farm_glob_flags CONFIGURE_DEPENDS)
if(CMAKE_SCRIPT_MODE_FILE)
  set(farm_glob_flags)
endif()

set(FARM_CORE_SOURCES)
set(FARM_CORE_INCLUDE_DIRS ${FARM_ROOT}/firmware/hal/include)
foreach(lib IN LISTS FARM_CORE_LIBRARIES)
  file(GLOB lib_sources ${farm_glob_flags} ${FARM_ROOT}/${lib}/src/*.c)
  if(NOT lib_sources)
    message(FATAL_ERROR "sources.cmake: no sources in ${FARM_ROOT}/${lib}/src")
  endif()
  list(APPEND FARM_CORE_SOURCES ${lib_sources})
  list(APPEND FARM_CORE_INCLUDE_DIRS ${FARM_ROOT}/${lib}/include)
endforeach()
unset(lib_sources)
unset(farm_glob_flags)
