/* SPDX-License-Identifier: MIT */
/*
 * CRC-16/CCITT-FALSE, table driven, eight bytes per step (slicing-by-8,
 * 4 KiB of const tables that live in flash on the ESP32, not in RAM). It is
 * on the hot path of every serial frame in both directions.
 */
#include "fp/crc16.h"

/* Table k: a byte followed by k zero bytes (scripts/gen-crc16-tables). */
#include "crc16_tables.h"

uint16_t fp_crc16_update(uint16_t crc, const void *data, size_t len)
{
  const uint8_t *p = data;
  /* Slicing-by-8: the 16-bit state only touches the first two bytes of each
   * group, so the eight lookups are independent and overlap in the CPU. */
  while (len >= 8) {
    crc = crc16_tables[7][(crc >> 8) ^ p[0]] ^ crc16_tables[6][(crc & 0xff) ^ p[1]] ^
          crc16_tables[5][p[2]] ^ crc16_tables[4][p[3]] ^ crc16_tables[3][p[4]] ^
          crc16_tables[2][p[5]] ^ crc16_tables[1][p[6]] ^ crc16_tables[0][p[7]];
    p += 8;
    len -= 8;
  }
  while (len-- > 0)
    crc = (uint16_t)(crc << 8) ^ crc16_tables[0][(crc >> 8) ^ *p++];
  return crc;
}

uint16_t fp_crc16(const void *data, size_t len)
{
  return fp_crc16_update(FP_CRC16_INIT, data, len);
}
