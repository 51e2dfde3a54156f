/* SPDX-License-Identifier: MIT */
/* CRC-16/CCITT-FALSE pinned to the catalogue and to a bitwise reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fp/crc16.h"

/* Bit-at-a-time definition of the same CRC, to check the table. */
static uint16_t crc16_bitwise(const uint8_t *p, size_t len)
{
  uint16_t crc = 0xffff;
  for (size_t i = 0; i < len; i++) {
    crc ^= (uint16_t)(p[i] << 8);
    for (int k = 0; k < 8; k++)
      crc = (crc & 0x8000) ? (uint16_t)(crc << 1 ^ 0x1021) : (uint16_t)(crc << 1);
  }
  return crc;
}

static void test_catalogue_check_value(void **state)
{
  (void)state;
  /* Catalogue of parametrised CRC algorithms: CRC-16/IBM-3740, check=0x29b1. */
  assert_int_equal(fp_crc16("123456789", 9), 0x29b1);
  assert_int_equal(fp_crc16("", 0), 0xffff);
  assert_int_equal(fp_crc16("A", 1), 0xb915);
}

static void test_incremental_equals_one_shot(void **state)
{
  (void)state;
  const char *s = "123456789";
  for (size_t cut = 0; cut <= 9; cut++) {
    uint16_t c = fp_crc16_update(FP_CRC16_INIT, s, cut);
    c = fp_crc16_update(c, s + cut, 9 - cut);
    assert_int_equal(c, 0x29b1);
  }
}

static void test_table_matches_bitwise(void **state)
{
  (void)state;
  uint8_t buf[512];
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (uint8_t)(i * 37 + 11);
  for (size_t len = 0; len <= sizeof buf; len += 7)
    assert_int_equal(fp_crc16(buf, len), crc16_bitwise(buf, len));
  for (int b = 0; b < 256; b++) {
    uint8_t one = (uint8_t)b;
    assert_int_equal(fp_crc16(&one, 1), crc16_bitwise(&one, 1));
  }
}

static void test_detects_single_bit_flips(void **state)
{
  (void)state;
  uint8_t buf[64];
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (uint8_t)i;
  uint16_t good = fp_crc16(buf, sizeof buf);
  for (size_t bit = 0; bit < sizeof buf * 8; bit++) {
    buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    assert_int_not_equal(fp_crc16(buf, sizeof buf), good);
    buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_catalogue_check_value),
      cmocka_unit_test(test_incremental_equals_one_shot),
      cmocka_unit_test(test_table_matches_bitwise),
      cmocka_unit_test(test_detects_single_bit_flips),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
