/* SPDX-License-Identifier: MIT */
/*
 * CRC-16/CCITT-FALSE, table driven, eight bytes per step (slicing-by-8,
 * 4 KiB of const tables that live in flash on the ESP32, not in RAM). It is
 * on the hot path of every serial frame in both directions. Slicing-by-16
 * would be a third faster on the edge but doubles the tables, which the
 * gateway's flash budget (firmware/size) cannot spare.
 */
#include "fp/crc16.h"

/* Table k: a byte followed by k zero bytes (scripts/gen-crc16-tables). */
#include "crc16_tables.h"

#define T crc16_tables

uint16_t fp_crc16_update(uint16_t crc, const void *data, size_t len)
{
  const uint8_t *p = data;
  /* The 16-bit state only touches the first two bytes of each group, so
   * the other six lookups do not depend on it: they are folded first and
   * overlap in the CPU, and the loop-carried chain is two lookups. */
  while (len >= 8) {
    uint16_t rest = T[5][p[2]] ^ T[4][p[3]] ^ T[3][p[4]] ^ T[2][p[5]] ^
                    T[1][p[6]] ^ T[0][p[7]];
    uint16_t x = (uint16_t)(crc ^ (p[0] << 8 | p[1]));
    crc = T[7][x >> 8] ^ T[6][x & 0xff] ^ rest;
    p += 8;
    len -= 8;
  }
  /* The tail (0..7 bytes) in one step of the same kind rather than a
   * byte-at-a-time chain: the tables hold every shorter distance. */
  if (len >= 2) {
    uint16_t rest = 0;
    for (size_t i = 2; i < len; i++)
      rest ^= T[len - 1 - i][p[i]];
    uint16_t x = (uint16_t)(crc ^ (p[0] << 8 | p[1]));
    crc = T[len - 1][x >> 8] ^ T[len - 2][x & 0xff] ^ rest;
  } else if (len == 1) {
    crc = (uint16_t)(crc << 8) ^ T[0][(crc >> 8) ^ p[0]];
  }
  return crc;
}

uint16_t fp_crc16(const void *data, size_t len)
{
  return fp_crc16_update(FP_CRC16_INIT, data, len);
}
