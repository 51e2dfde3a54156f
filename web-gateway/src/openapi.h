/* SPDX-License-Identifier: MIT */
/*
 * The OpenAPI document (web-gateway/openapi.json), compiled into the
 * program by the build so GET /api/v1/openapi.json always matches it.
 */
#ifndef WG_OPENAPI_H
#define WG_OPENAPI_H

#include <stddef.h>

extern const char wg_openapi_json[];
extern const size_t wg_openapi_json_len;

#endif /* WG_OPENAPI_H */
