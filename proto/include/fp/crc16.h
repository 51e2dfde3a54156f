/* SPDX-License-Identifier: MIT */
/*
 * CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0;
 * catalogue check value of "123456789" is 0x29B1. It protects every serial
 * frame between gateway and edge (DESIGN §4); the ESP32 ROM computes the
 * same function, so a port may swap in the ROM routine.
 */
#ifndef FP_CRC16_H
#define FP_CRC16_H

#include <stddef.h>
#include <stdint.h>

#define FP_CRC16_INIT 0xffffu

/* Continues a CRC over len more bytes; start from FP_CRC16_INIT. */
uint16_t fp_crc16_update(uint16_t crc, const void *data, size_t len);

/* The CRC of one buffer (len may be 0: the result is FP_CRC16_INIT). */
uint16_t fp_crc16(const void *data, size_t len);

#endif /* FP_CRC16_H */
