/* SPDX-License-Identifier: MIT */
/*
 * The JSON Lines ledger (fsim/ledger.h): formatting of readings, commands,
 * drops and board starts, one flushed line each.
 */
#include "fsim/ledger.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"

int fsim_ledger_open(struct fsim_ledger *l, const char *path)
{
  assert(l != NULL && path != NULL);
  memset(l, 0, sizeof *l);
  l->f = fopen(path, "a");
  if (l->f == NULL)
    return FARM_EIO;
  l->own = true;
  return 0;
}

void fsim_ledger_init_stream(struct fsim_ledger *l, FILE *f)
{
  assert(l != NULL);
  memset(l, 0, sizeof *l);
  l->f = f;
}

int fsim_ledger_close(struct fsim_ledger *l)
{
  assert(l != NULL);
  if (l->f != NULL) {
    if (fflush(l->f) != 0 && l->err == 0)
      l->err = FARM_EIO;
    if (l->own && fclose(l->f) != 0 && l->err == 0)
      l->err = FARM_EIO;
  }
  l->f = NULL;
  return l->err;
}

int fsim_json_number(char *buf, size_t cap, double v)
{
  assert(buf != NULL && cap >= 32 && isfinite(v));
  /* The shortest of 15, 16 or 17 significant digits that reads back
   * exactly: 17 always does (IEEE 754 binary64). */
  int n = 0;
  for (int prec = 15; prec <= 17; prec++) {
    n = snprintf(buf, cap, "%.*g", prec, v);
    if (strtod(buf, NULL) == v)
      break;
  }
  return n;
}

void fsim_json_string(FILE *f, const char *s)
{
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
    unsigned char c = *p;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f); /* UTF-8 passes through: the protocol checked it */
  }
  fputc('"', f);
}

static void put_number(FILE *f, double v)
{
  char num[40];
  fsim_json_number(num, sizeof num, v);
  fputs(num, f);
}

static void put_device(FILE *f, const char *kind, const uint8_t mac[HAL_MAC_LEN])
{
  char hex[2 * HAL_MAC_LEN + 1];
  fsim_mac_hex(mac, hex);
  fprintf(f, "{\"kind\":\"%s\",\"device\":\"%s\"", kind, hex);
}

static void end_line(struct fsim_ledger *l, uint64_t sim_ms)
{
  fprintf(l->f, ",\"sim_ms\":%" PRIu64 "}\n", sim_ms);
  /* Flushed per line: tests follow the file while the simulator runs. */
  if ((fflush(l->f) != 0 || ferror(l->f)) && l->err == 0)
    l->err = FARM_EIO;
  l->lines++;
}

static void put_args(FILE *f, const struct fp_arg *args, unsigned n)
{
  fputc('{', f);
  for (unsigned i = 0; i < n; i++) {
    const struct fp_arg *a = &args[i];
    if (i > 0)
      fputc(',', f);
    fsim_json_string(f, a->key);
    fputc(':', f);
    switch (a->kind) {
    case FP_ARG_INT:
      fprintf(f, "%" PRId64, a->v.i);
      break;
    case FP_ARG_FLOAT:
      put_number(f, a->v.f);
      break;
    case FP_ARG_BOOL:
      fputs(a->v.b ? "true" : "false", f);
      break;
    case FP_ARG_STR:
      fsim_json_string(f, a->v.s);
      break;
    }
  }
  fputc('}', f);
}

static void on_reading(void *ctx, uint64_t sim_ms, const uint8_t mac[HAL_MAC_LEN],
                       const struct fp_radio_msg *tel)
{
  struct fsim_ledger *l = ctx;
  if (l->f == NULL)
    return;
  FILE *f = l->f;
  put_device(f, "reading", mac);
  fprintf(f, ",\"boot\":%" PRIu32 ",\"seq\":%" PRIu32 ",\"up_ms\":%" PRIu64, tel->boot, tel->seq,
          tel->u.tel.up_ms);
  fprintf(f, ",\"syn\":%s,\"v\":{", tel->u.tel.syn ? "true" : "false");
  for (unsigned i = 0; i < tel->u.tel.n_metrics; i++) {
    if (i > 0)
      fputc(',', f);
    fsim_json_string(f, tel->u.tel.v[i].name);
    fputc(':', f);
    put_number(f, tel->u.tel.v[i].value);
  }
  fputc('}', f);
  end_line(l, sim_ms);
}

static void on_command(void *ctx, uint64_t sim_ms, const uint8_t mac[HAL_MAC_LEN],
                       const struct fp_radio_cmd *cmd, bool ok, const char *err)
{
  struct fsim_ledger *l = ctx;
  if (l->f == NULL)
    return;
  FILE *f = l->f;
  put_device(f, "command", mac);
  fprintf(f, ",\"id\":%" PRIu32 ",\"name\":", cmd->id);
  fsim_json_string(f, cmd->name);
  fputs(",\"args\":", f);
  put_args(f, cmd->args, cmd->n_args);
  fprintf(f, ",\"ok\":%s", ok ? "true" : "false");
  if (!ok) {
    fputs(",\"err\":", f);
    fsim_json_string(f, err != NULL ? err : "");
  }
  end_line(l, sim_ms);
}

static void on_dropped(void *ctx, uint64_t sim_ms, const uint8_t mac[HAL_MAC_LEN],
                       const struct fp_radio_msg *m)
{
  struct fsim_ledger *l = ctx;
  if (l->f == NULL)
    return;
  put_device(l->f, "dropped", mac);
  fprintf(l->f, ",\"type\":\"%s\",\"boot\":%" PRIu32 ",\"seq\":%" PRIu32,
          fp_radio_type_name(m->type), m->boot, m->seq);
  end_line(l, sim_ms);
}

static void on_boot(void *ctx, uint64_t sim_ms, const uint8_t mac[HAL_MAC_LEN], bool gateway,
                    uint32_t boot, unsigned lost)
{
  struct fsim_ledger *l = ctx;
  if (l->f == NULL)
    return;
  put_device(l->f, "boot", mac);
  fprintf(l->f, ",\"role\":\"%s\",\"boot\":%" PRIu32 ",\"lost\":%u", gateway ? "gateway" : "node",
          boot, lost);
  end_line(l, sim_ms);
}

void fsim_ledger_observer(struct fsim_ledger *l, struct fsim_observer *obs)
{
  assert(l != NULL && obs != NULL);
  obs->on_reading = on_reading;
  obs->on_command = on_command;
  obs->on_dropped = on_dropped;
  obs->on_boot = on_boot;
  obs->ctx = l;
}
