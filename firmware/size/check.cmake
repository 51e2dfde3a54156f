# SPDX-License-Identifier: MIT
# The firmware_size test, run with cmake -P and the variables of the
# firmware-size target: runs the target's command (size.cmake) and checks
# its output independently of the target's own verdict: exactly one
# "gateway text=N data=N bss=N" and one "node text=N data=N bss=N" line,
# each image with text <= TEXT_MAX and data + bss <= RAM_MAX bytes. The
# build is deterministic, so the budget is a fixed limit, not a measurement
# with noise.
cmake_minimum_required(VERSION 3.25)

foreach(var SOURCE BINARY TOOLCHAIN GENERATOR SIZE NM TEXT_MAX RAM_MAX)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "check.cmake: ${var} is not set")
  endif()
endforeach()

execute_process(
  COMMAND ${CMAKE_COMMAND} -DSOURCE=${SOURCE} -DBINARY=${BINARY} -DTOOLCHAIN=${TOOLCHAIN}
          -DGENERATOR=${GENERATOR} -DSIZE=${SIZE} -DNM=${NM} -DTEXT_MAX=${TEXT_MAX}
          -DRAM_MAX=${RAM_MAX} -P ${CMAKE_CURRENT_LIST_DIR}/size.cmake
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "firmware_size: the firmware-size command failed (${rc})")
endif()

set(failed "")
foreach(image gateway node)
  string(REGEX MATCHALL "(^|\n)${image} text=[0-9]+ data=[0-9]+ bss=[0-9]+\n" lines "${out}")
  list(LENGTH lines count)
  if(NOT count EQUAL 1)
    list(APPEND failed "${image}: ${count} size lines, expected exactly 1")
    continue()
  endif()
  string(REGEX MATCH "text=([0-9]+) data=([0-9]+) bss=([0-9]+)" _ "${lines}")
  set(text ${CMAKE_MATCH_1})
  math(EXPR ram "${CMAKE_MATCH_2} + ${CMAKE_MATCH_3}")
  if(text EQUAL 0)
    list(APPEND failed "${image}: text=0, the image is empty")
  endif()
  if(text GREATER TEXT_MAX)
    list(APPEND failed "${image}: text ${text} > ${TEXT_MAX}")
  endif()
  if(ram GREATER RAM_MAX)
    list(APPEND failed "${image}: data + bss ${ram} > ${RAM_MAX}")
  endif()
endforeach()
if(failed)
  list(JOIN failed "; " failed)
  message(FATAL_ERROR "firmware_size: ${failed}")
endif()
