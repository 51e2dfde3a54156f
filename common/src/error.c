/* SPDX-License-Identifier: MIT */
/* Messages and names for the error table of farm/error.h. */
#include "farm/error.h"

const char *farm_strerror(int err)
{
  switch (err) {
  case 0:
    return "success";
#define FARM__ERR_MSG(name, value, msg) \
  case FARM_##name:                     \
    return msg;
    FARM_ERRNO_MAP(FARM__ERR_MSG)
#undef FARM__ERR_MSG
  default:
    return "unknown error";
  }
}

const char *farm_errname(int err)
{
  switch (err) {
  case 0:
    return "OK";
#define FARM__ERR_NAME(name, value, msg) \
  case FARM_##name:                      \
    return "FARM_" #name;
    FARM_ERRNO_MAP(FARM__ERR_NAME)
#undef FARM__ERR_NAME
  default:
    return "FARM_E?";
  }
}
