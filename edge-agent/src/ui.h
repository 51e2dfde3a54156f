/* SPDX-License-Identifier: MIT */
/*
 * The local UI's files, compiled into the binary from edge-agent/ui/ by
 * cmake/embed.cmake: the agent serves them itself, so the UI needs no
 * file on disk and nothing from the internet.
 */
#ifndef EA_UI_H
#define EA_UI_H

#include <stddef.h>

struct ea_asset {
  const char *path; /* the URL path it is served at */
  const char *type; /* Content-Type */
  const unsigned char *data;
  size_t len;
};

extern const struct ea_asset ea_assets[];
extern const size_t ea_nassets;

#endif /* EA_UI_H */
