/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for everything the streamer parses from the network:
 * the first byte picks the parser (topic, telemetry, status, event, edge
 * status, alert ack), the rest is the input. Any crash, hang, leak or
 * sanitizer report is a finding; so is a parse that succeeds with a value
 * outside the documented ranges.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "farmd/topic.h"
#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  const char *in = (const char *)data + 1;
  size_t len = size - 1;
  char detail[160];
  enum st_reject why;
  switch (data[0] % 6) {
  case 0: {
    struct fd_topic t;
    if (fd_topic_parse(in, len, &t) == 0) {
      if (!fd_id_valid(t.site, strlen(t.site)) || !fd_id_valid(t.device, strlen(t.device)))
        abort();
      char buf[FD_TOPIC_MAX];
      if (fd_topic_format(&t, buf, sizeof buf) != 0 || strlen(buf) != len ||
          memcmp(buf, in, len) != 0)
        abort(); /* a parsed topic must format back to itself */
    }
    break;
  }
  case 1: {
    struct st_telemetry t;
    int64_t es;
    const int64_t now = 1700000000000LL;
    if (st_parse_telemetry(in, len, 16384, now, &t, &es, &why, detail, sizeof detail) == 0) {
      if (t.edge_seq < 1 || t.boot < 0 || t.boot > UINT32_MAX || t.seq < 0 ||
          t.seq > UINT32_MAX || t.ts < ST_TS_MIN || t.ts > now + ST_TS_FUTURE_MS ||
          t.nmetrics < 1 || t.nmetrics > ST_METRICS_MAX)
        abort();
      for (size_t i = 0; i < t.nmetrics; i++) {
        double lo, hi;
        st_metric_range(t.m[i].name, &lo, &hi);
        if (!(t.m[i].value >= lo && t.m[i].value <= hi) ||
            !fd_id_valid(t.m[i].name, strlen(t.m[i].name)))
          abort();
      }
    }
    break;
  }
  case 2: {
    struct st_status s;
    if (st_parse_status(in, len, 16384, &s, &why, detail, sizeof detail) == 0 &&
        (s.online < -1 || s.online > 1 || s.interval_ms < 0))
      abort();
    break;
  }
  case 3: {
    struct st_event e;
    if (st_parse_event(in, len, 16384, &e, &why, detail, sizeof detail) == 0 && !e.type[0])
      abort();
    break;
  }
  case 4: {
    int64_t floor;
    if (st_parse_edge_status(in, len, 16384, &floor, &why, detail, sizeof detail) == 0 &&
        floor < 0)
      abort();
    break;
  }
  case 5: {
    struct st_alert_ack a;
    if (st_parse_alert_ack(in, len, &a, &why, detail, sizeof detail) == 0 && a.id < 1)
      abort();
    break;
  }
  }
  return 0;
}
