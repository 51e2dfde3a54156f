/* SPDX-License-Identifier: MIT */
/*
 * The analog inputs of the ESP-IDF port: ADC unit 1 in one-shot mode
 * (components/esp_adc/include/esp_adc/adc_oneshot.h) and, per channel, the
 * curve-fitting calibration from the chip's eFuse values
 * (adc_cali_scheme.h), which turns raw codes into millivolts. Channel ch
 * of the HAL is the board's pin adc_gpio[ch]. Only ADC1: on these chips
 * ADC2 is shared with Wi-Fi, which the radio keeps busy.
 */
#include "esp_log.h"

#include "farm/error.h"
#include "internal.h"

#if !ADC_CALI_SCHEME_CURVE_FITTING_SUPPORTED
#error "this port calibrates with the curve-fitting scheme (ESP32-S3, ESP32-C6)"
#endif

/* 12 dB attenuation: the widest input range, about 0..3.1 V on the S3 and
 * the C6 (their datasheets, "ADC characteristics"); the divider in front
 * of each sensor must keep it there. */
#define ATTEN ADC_ATTEN_DB_12

int farm_port__adc_start(struct hal_port *p)
{
  const struct farm_port_config *cfg = p->cfg;
  adc_oneshot_unit_init_cfg_t unit = {
      .unit_id = ADC_UNIT_1,
      .ulp_mode = ADC_ULP_MODE_DISABLE,
  };
  esp_err_t e = adc_oneshot_new_unit(&unit, &p->adc);
  if (e != ESP_OK) {
    ESP_LOGE(p->tag, "adc: adc_oneshot_new_unit: %s", esp_err_to_name(e));
    return FARM_EIO;
  }
  for (uint8_t ch = 0; ch < cfg->adc_count; ch++) {
    adc_unit_t unit_id;
    adc_channel_t chan;
    e = adc_oneshot_io_to_channel(cfg->adc_gpio[ch], &unit_id, &chan);
    if (e != ESP_OK || unit_id != ADC_UNIT_1) {
      ESP_LOGE(p->tag, "adc: GPIO%d is not an ADC1 pin", cfg->adc_gpio[ch]);
      return FARM_EINVAL;
    }
    adc_oneshot_chan_cfg_t chan_cfg = {
        .atten = ATTEN,
        .bitwidth = ADC_BITWIDTH_DEFAULT,
    };
    e = adc_oneshot_config_channel(p->adc, chan, &chan_cfg);
    if (e != ESP_OK) {
      ESP_LOGE(p->tag, "adc: adc_oneshot_config_channel: %s", esp_err_to_name(e));
      return FARM_EIO;
    }
    p->adc_ch[ch].chan = chan;
    adc_cali_curve_fitting_config_t cali = {
        .unit_id = ADC_UNIT_1,
        .chan = chan,
        .atten = ATTEN,
        .bitwidth = ADC_BITWIDTH_DEFAULT,
    };
    e = adc_cali_create_scheme_curve_fitting(&cali, &p->adc_ch[ch].cali);
    if (e != ESP_OK) {
      /* A chip without calibration eFuses: reads of this channel fail
       * rather than return uncalibrated millivolts. */
      p->adc_ch[ch].cali = NULL;
      ESP_LOGW(p->tag, "adc: no calibration for GPIO%d (%s): its readings will fail",
               cfg->adc_gpio[ch], esp_err_to_name(e));
    }
  }
  return 0;
}

int hal_adc_read_mv(struct hal_port *p, uint8_t ch, uint32_t *mv)
{
  if (p->adc == NULL || ch >= p->cfg->adc_count)
    return FARM_EINVAL;
  if (p->adc_ch[ch].cali == NULL)
    return FARM_EIO;
  int raw = 0;
  if (adc_oneshot_read(p->adc, p->adc_ch[ch].chan, &raw) != ESP_OK)
    return FARM_EIO;
  int millivolts = 0;
  if (adc_cali_raw_to_voltage(p->adc_ch[ch].cali, raw, &millivolts) != ESP_OK)
    return FARM_EIO;
  *mv = millivolts < 0 ? 0u : (uint32_t)millivolts;
  return 0;
}
