/* SPDX-License-Identifier: MIT */
/*
 * The one error table of IoTferme. Every function that acts returns 0 on
 * success or one of these negative codes; predicates return bool. Library,
 * errno and ESP-IDF errors are translated into this table at the boundary so
 * a caller never has to know which layer failed to decide what to do.
 */
#ifndef FARM_ERROR_H
#define FARM_ERROR_H

/* X(name, value, message): the single source for the enum and farm_strerror(). */
#define FARM_ERRNO_MAP(X)                                                     \
  X(EINVAL, -1, "invalid argument")                                           \
  X(ENOSPC, -2, "output buffer too small")                                    \
  X(ETRUNCATED, -3, "input ends inside an item")                              \
  X(EMALFORMED, -4, "malformed encoding")                                     \
  X(ECRC, -5, "checksum mismatch")                                            \
  X(ETOOBIG, -6, "too large")                                                 \
  X(EDEPTH, -7, "nesting too deep")                                           \
  X(EUTF8, -8, "invalid UTF-8 in text string")                                \
  X(ETYPE, -9, "wrong type")                                                  \
  X(ERANGE, -10, "value out of range")                                        \
  X(EMISSING, -11, "required field missing")                                  \
  X(EDUPKEY, -12, "duplicate key")                                            \
  X(EUNKNOWN, -13, "unknown message type")                                    \
  X(ETRAILING, -14, "trailing bytes after the value")                         \
  X(EEMPTY, -15, "empty input")                                               \
  X(EAGAIN, -16, "no complete item yet")                                      \
  X(ENOMEM, -17, "out of memory")                                             \
  X(EIO, -18, "input/output error")                                           \
  X(ENOENT, -19, "not found")                                                 \
  X(ETIMEDOUT, -20, "timed out")                                              \
  X(EBUSY, -21, "busy")                                                       \
  X(EPERM, -22, "not permitted")                                              \
  X(EEXIST, -23, "already exists")                                            \
  X(ECLOSED, -24, "closed")                                                   \
  X(EUNSUPPORTED, -25, "not supported")

enum farm_error {
#define FARM__ERR_ENUM(name, value, msg) FARM_##name = (value),
  FARM_ERRNO_MAP(FARM__ERR_ENUM)
#undef FARM__ERR_ENUM
};

/*
 * Returns a static, human-readable message for a code of the table (or for
 * 0, "success"). Never returns NULL: an unknown code yields "unknown error".
 */
const char *farm_strerror(int err);

/* Returns the symbolic name ("FARM_ECRC") of a code, or "FARM_E?" if unknown. */
const char *farm_errname(int err);

#endif /* FARM_ERROR_H */
