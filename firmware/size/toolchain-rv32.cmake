# SPDX-License-Identifier: MIT
# Toolchain for the footprint build: Debian's bare-metal RISC-V GCC
# (gcc-riscv64-unknown-elf) and picolibc (picolibc-riscv64-unknown-elf),
# generating code for the ESP32-C6's ISA. The C6's high-performance core
# is RV32IMAC (ESP32-C6 datasheet, "CPU and Memory"): no floating-point
# unit, so float and double arithmetic is software, as on the board.
#
# -march=rv32imac, not rv32imac_zicsr: the portable code has no CSR
# instruction, so the extension changes nothing that is measured, and
# Debian's picolibc multilib is built under the name without it; with the
# suffix the linker finds no matching library ("file in wrong format").
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR riscv32)

set(CMAKE_C_COMPILER riscv64-unknown-elf-gcc)
set(CMAKE_AR riscv64-unknown-elf-ar)
set(CMAKE_RANLIB riscv64-unknown-elf-ranlib)

# CMake passes the C flags to the link too, where --specs=picolibc.specs
# selects picolibc's crt0, libc and linker script (given twice, the specs
# file fails).
set(CMAKE_C_FLAGS_INIT "-march=rv32imac -mabi=ilp32 --specs=picolibc.specs")

# Headers and libraries come from picolibc only, never from the host.
set(CMAKE_FIND_ROOT_PATH /usr/lib/picolibc/riscv64-unknown-elf)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
