# SPDX-License-Identifier: MIT
# The command of the firmware-size target, run with cmake -P: configures the
# footprint project (image/) with the RISC-V toolchain in its own build
# directory, builds it, and prints one line per image from
# riscv64-unknown-elf-size (Berkeley format, the figures the linker
# placed):
#   gateway text=N data=N bss=N
#   node text=N data=N bss=N
# The build's own output is shown only when it fails, so a successful run
# prints exactly those lines. An image over budget (text above TEXT_MAX, or
# data + bss above RAM_MAX) also gets its largest symbols listed, and the
# run fails.
#
# Variables: SOURCE (image/), BINARY (its build directory), TOOLCHAIN,
# GENERATOR, SIZE and NM (the binutils), TEXT_MAX and RAM_MAX in bytes.
cmake_minimum_required(VERSION 3.25)

foreach(var SOURCE BINARY TOOLCHAIN GENERATOR SIZE NM TEXT_MAX RAM_MAX)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "size.cmake: ${var} is not set")
  endif()
endforeach()
foreach(tool SIZE NM)
  if(NOT EXISTS "${${tool}}")
    message(FATAL_ERROR "firmware-size: ${${tool}} not found; install "
      "gcc-riscv64-unknown-elf, binutils-riscv64-unknown-elf and "
      "picolibc-riscv64-unknown-elf (scripts/install-deps)")
  endif()
endforeach()

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "firmware-size: ${what} failed (${rc}):\n${out}")
  endif()
endfunction()

# Configured every time (a second of work at most): a configure that failed
# half-way is then never mistaken for a usable build directory.
run("configure" ${CMAKE_COMMAND} -S "${SOURCE}" -B "${BINARY}" -G "${GENERATOR}"
    "-DCMAKE_TOOLCHAIN_FILE=${TOOLCHAIN}")
run("build" ${CMAKE_COMMAND} --build "${BINARY}")

set(over "")
foreach(image gateway node)
  set(elf "${BINARY}/${image}.elf")
  execute_process(COMMAND "${SIZE}" -B "${elf}" RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  # Berkeley format: a header line, then "text data bss dec hex file".
  if(NOT rc EQUAL 0 OR NOT out MATCHES "\n[ \t]*([0-9]+)[ \t]+([0-9]+)[ \t]+([0-9]+)[ \t]")
    message(FATAL_ERROR "firmware-size: ${SIZE} ${elf} failed (${rc}): ${out}${err}")
  endif()
  set(text ${CMAKE_MATCH_1})
  set(data ${CMAKE_MATCH_2})
  set(bss ${CMAKE_MATCH_3})
  execute_process(COMMAND ${CMAKE_COMMAND} -E echo "${image} text=${text} data=${data} bss=${bss}")
  math(EXPR ram "${data} + ${bss}")
  if(text GREATER TEXT_MAX OR ram GREATER RAM_MAX)
    list(APPEND over ${image})
  endif()
endforeach()

foreach(image IN LISTS over)
  # The 25 largest symbols, largest first: where to look before anything
  # else (code, rodata, data and bss alike).
  execute_process(COMMAND "${NM}" --size-sort --reverse-sort -S "${BINARY}/${image}.elf"
                  OUTPUT_VARIABLE syms)
  string(REGEX MATCHALL "[^\n]+" lines "${syms}")
  list(SUBLIST lines 0 25 top)
  list(JOIN top "\n" top)
  message("firmware-size: ${image} is over budget (text <= ${TEXT_MAX}, "
          "data + bss <= ${RAM_MAX}); largest symbols (address size type name):\n${top}")
endforeach()
if(over)
  message(FATAL_ERROR "firmware-size: over budget: ${over}")
endif()
