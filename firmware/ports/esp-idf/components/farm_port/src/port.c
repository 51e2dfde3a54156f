/* SPDX-License-Identifier: MIT */
/*
 * The ESP-IDF port's board and application loop: the one board instance,
 * the start-up order (NVS, then radio, serial link, I2C, ADC, outputs), the
 * loop that delivers radio events to a core from the application task, and
 * the HAL's clocks, random bytes, restart and log.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "esp_log.h"
#include "esp_random.h" /* esp_fill_random: esp_hw_support/include/esp_random.h */
#include "esp_system.h" /* esp_restart: esp_system/include/esp_system.h */
#include "esp_timer.h"  /* esp_timer_get_time: esp_timer/include/esp_timer.h */

#include "farm/error.h"
#include "internal.h"

/* The chip is one board; the ESP-NOW callbacks find it here too. */
static struct hal_port board;

/* Unix ms of 9999-12-31T23:59:59.999Z: later values are not a clock. */
#define WALL_MAX_MS 253402300799999ull
/* The loop wakes at least this often, whatever the core's deadline, so a
 * clock jump or a missed notification costs at most this much. */
#define LOOP_MAX_SLEEP_MS 1000u
/* hal_log: lines per second before lines are dropped (a UART console at
 * 115200 baud writes about 11 characters per ms and blocks meanwhile). */
#define LOG_LINES_PER_S 20u
#define LOG_LINE_MAX    192

struct hal_port *farm_port_board(void)
{
  return &board;
}

static bool config_valid(const struct farm_port_config *cfg)
{
  if (cfg->tag == NULL || cfg->channel < 1 || cfg->channel > 14)
    return false;
  if (cfg->radio_queue_len < PORT_SENT_RESERVE + 1 || cfg->radio_queue_len > 64)
    return false;
  if (cfg->serial && (cfg->serial_tx_buf == 0 || cfg->serial_rx_buf == 0))
    return false;
  if (cfg->adc_count > FARM_PORT_MAX_ADC || cfg->out_count > FARM_PORT_MAX_OUTPUTS)
    return false;
  if (cfg->i2c_sda != FARM_PORT_NO_PIN && (cfg->i2c_scl == FARM_PORT_NO_PIN || cfg->i2c_hz == 0))
    return false;
  if (cfg->outputs == FARM_PORT_OUT_HC595 &&
      (cfg->out_count > 8 || cfg->hc595_data == FARM_PORT_NO_PIN ||
       cfg->hc595_clock == FARM_PORT_NO_PIN || cfg->hc595_latch == FARM_PORT_NO_PIN))
    return false;
  return true;
}

int farm_port_open(struct hal_port *p, const struct farm_port_config *cfg)
{
  assert(p == &board && cfg != NULL && p->cfg == NULL);
  if (!config_valid(cfg)) {
    ESP_LOGE(cfg->tag != NULL ? cfg->tag : "farm", "board configuration out of range");
    return FARM_EINVAL;
  }
  p->cfg = cfg;
  p->tag = cfg->tag;
  atomic_init(&p->rx_dropped, 0u);
  atomic_init(&p->sent_dropped, 0u);
  return farm_port__nvs_open(p);
}

int farm_port_start(struct hal_port *p, const uint8_t *mac)
{
  assert(p == &board && p->cfg != NULL && p->nvs_open && !p->radio_up);
  int rc = farm_port__radio_start(p, mac);
  if (rc == 0 && p->cfg->serial)
    rc = farm_port__serial_start(p);
  if (rc == 0 && p->cfg->i2c_sda != FARM_PORT_NO_PIN)
    rc = farm_port__i2c_start(p);
  if (rc == 0 && p->cfg->adc_count > 0)
    rc = farm_port__adc_start(p);
  if (rc == 0 && p->cfg->outputs != FARM_PORT_OUT_NONE)
    rc = farm_port__outputs_start(p);
  return rc;
}

/* FreeRTOS ticks for ms, rounded up so a short wait is not a busy loop. */
static TickType_t ticks_for(uint64_t ms)
{
  uint64_t t = (ms + portTICK_PERIOD_MS - 1) / portTICK_PERIOD_MS;
  return t == 0 ? 1 : (TickType_t)t;
}

static void report_drops(struct hal_port *p)
{
  unsigned rx = atomic_exchange(&p->rx_dropped, 0u);
  unsigned sent = atomic_exchange(&p->sent_dropped, 0u);
  if (rx != 0 || sent != 0)
    hal_log(p, HAL_LOG_WARN, "radio queue full: %u frames and %u send statuses dropped", rx, sent);
}

void farm_port_run(struct hal_port *p, const struct farm_port_app *app)
{
  assert(p == &board && p->radio_up && app != NULL && app->core != NULL);
  assert(app->on_radio_rx && app->on_radio_sent && app->tick && app->next_deadline);
  /* From now on the callbacks wake this task; events queued before were
   * kept and are delivered in the first turn. */
  p->app_task = xTaskGetCurrentTaskHandle();
  for (;;) {
    /* At most one queue's worth per turn: a radio that never stops
     * receiving must not keep the core from ticking. */
    struct port_event ev;
    for (unsigned n = 0; n < p->cfg->radio_queue_len && xQueueReceive(p->events, &ev, 0) == pdTRUE;
         n++) {
      if (ev.kind == PORT_EV_RX)
        app->on_radio_rx(app->core, ev.mac, ev.data, ev.len, ev.rssi);
      else
        app->on_radio_sent(app->core, ev.mac, ev.delivered);
    }
    report_drops(p);
    app->tick(app->core);

    uint64_t now = hal_clock_ms(p);
    uint64_t due = app->next_deadline(app->core);
    uint64_t wait = due > now ? due - now : 0;
    if (app->poll_ms != 0 && wait > app->poll_ms)
      wait = app->poll_ms;
    if (wait > LOOP_MAX_SLEEP_MS)
      wait = LOOP_MAX_SLEEP_MS;
    /* Events left by the bound above were notified before the last wait
     * and would not wake this one: come back after one tick. */
    if (uxQueueMessagesWaiting(p->events) > 0)
      wait = 0;
    /* Woken early by a radio callback (xTaskNotifyGive). */
    (void)ulTaskNotifyTake(pdTRUE, ticks_for(wait));
  }
}

void farm_port_fail(struct hal_port *p, const char *what, int err)
{
  const char *tag = p->tag != NULL ? p->tag : "farm";
  ESP_LOGE(tag, "%s failed: %s (%d); restarting in 5 s", what, farm_strerror(err), err);
  vTaskDelay(pdMS_TO_TICKS(5000));
  esp_restart();
}

static int hex_digit(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int farm_port_parse_key(const char *hex, uint8_t key[FARM_PORT_KEY_LEN])
{
  if (hex == NULL)
    return FARM_EINVAL;
  uint8_t out[FARM_PORT_KEY_LEN];
  for (size_t i = 0; i < FARM_PORT_KEY_LEN; i++) {
    int hi = hex_digit(hex[2 * i]);
    int lo = hi < 0 ? -1 : hex_digit(hex[2 * i + 1]);
    if (lo < 0)
      return FARM_EINVAL;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  if (hex[2 * FARM_PORT_KEY_LEN] != '\0')
    return FARM_EINVAL;
  memcpy(key, out, sizeof out);
  return 0;
}

/* ---- Clocks ------------------------------------------------------------ */

uint64_t hal_clock_ms(struct hal_port *p)
{
  (void)p;
  /* Microseconds since boot from the 64-bit esp_timer counter, callable
   * from an interrupt (esp_timer.h). */
  return (uint64_t)esp_timer_get_time() / 1000u;
}

int hal_wall_clock_get(struct hal_port *p, uint64_t *unix_ms)
{
  if (!p->wall_set)
    return FARM_ENOENT;
  *unix_ms = p->wall_unix_ms + (hal_clock_ms(p) - p->wall_mono_ms);
  return 0;
}

int hal_wall_clock_set(struct hal_port *p, uint64_t unix_ms)
{
  /* Kept as an offset against the monotonic clock rather than through
   * settimeofday: nothing else on the board needs the system time, and the
   * offset cannot be moved by anyone but time_sync. */
  if (unix_ms > WALL_MAX_MS)
    return FARM_EINVAL;
  p->wall_unix_ms = unix_ms;
  p->wall_mono_ms = hal_clock_ms(p);
  p->wall_set = true;
  return 0;
}

/* ---- System ------------------------------------------------------------- */

void hal_random(struct hal_port *p, void *buf, size_t len)
{
  (void)p;
  /* True random numbers while Wi-Fi runs, which it does from
   * farm_port_start on (esp_random.h); before, the bootloader's entropy. */
  esp_fill_random(buf, len);
}

void hal_reboot(struct hal_port *p)
{
  if (p->nvs_open)
    (void)nvs_commit(p->nvs);
  esp_restart();
}

void hal_log(struct hal_port *p, enum hal_log_level level, const char *fmt, ...)
{
  uint64_t now = hal_clock_ms(p);
  if (now - p->log_window_ms >= 1000u) {
    p->log_window_ms = now;
    p->log_lines = 0;
  }
  if (p->log_lines >= LOG_LINES_PER_S && level != HAL_LOG_ERROR) {
    p->log_dropped++;
    return;
  }
  p->log_lines++;

  char line[LOG_LINE_MAX];
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  const char *tag = p->tag != NULL ? p->tag : "farm";
  if (p->log_dropped != 0) {
    ESP_LOGW(tag, "(%u log lines dropped)", (unsigned)p->log_dropped);
    p->log_dropped = 0;
  }
  switch (level) {
  case HAL_LOG_ERROR:
    ESP_LOGE(tag, "%s", line);
    break;
  case HAL_LOG_WARN:
    ESP_LOGW(tag, "%s", line);
    break;
  case HAL_LOG_INFO:
    ESP_LOGI(tag, "%s", line);
    break;
  case HAL_LOG_DEBUG:
  default:
    ESP_LOGD(tag, "%s", line);
    break;
  }
}
