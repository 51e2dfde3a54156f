/* SPDX-License-Identifier: MIT */
/*
 * The radio of the ESP-IDF port: Wi-Fi in station mode without an access
 * point and ESP-NOW on top (DESIGN §5), written against ESP-IDF v6's
 * components/esp_wifi/include/esp_now.h. Payloads stay within the v1 limit
 * of 250 bytes (ESP_NOW_MAX_DATA_LEN), which every ESP-NOW version
 * receives. Peers added with encryption use the configured LMK, itself
 * protected by the PMK. The ESP-NOW callbacks run in the Wi-Fi task: they
 * copy what they get into the board's event queue and wake the application
 * task, which hands it to the core (farm_port_run); they never call a core.
 */
#include <assert.h>
#include <string.h>

#include "esp_event.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_now.h"
#include "esp_wifi.h"

#include "farm/error.h"
#include "internal.h"

_Static_assert(HAL_RADIO_MTU == ESP_NOW_MAX_DATA_LEN, "the contract's MTU is ESP-NOW v1's");
_Static_assert(HAL_MAC_LEN == ESP_NOW_ETH_ALEN, "MAC length");
_Static_assert(FARM_PORT_KEY_LEN == ESP_NOW_KEY_LEN, "ESP-NOW key length");
_Static_assert(HAL_RADIO_HW_PEERS == ESP_NOW_MAX_TOTAL_PEER_NUM, "hardware peer list size");

static const uint8_t broadcast_mac[HAL_MAC_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static bool is_broadcast(const uint8_t mac[HAL_MAC_LEN])
{
  return memcmp(mac, broadcast_mac, HAL_MAC_LEN) == 0;
}

/* Group addresses have bit 0 of the first byte set (IEEE 802 §8.2). */
static bool is_group(const uint8_t mac[HAL_MAC_LEN])
{
  return (mac[0] & 0x01u) != 0;
}

static void wake(struct hal_port *p)
{
  TaskHandle_t task = p->app_task;
  if (task != NULL)
    xTaskNotifyGive(task);
}

/*
 * esp_now_recv_cb_t: in v6 the sender, the destination and the radio's
 * receive control block (with rssi) come in esp_now_recv_info_t, valid only
 * during the call (esp_now.h). Runs in the Wi-Fi task: copy, queue, wake.
 */
static void on_recv(const esp_now_recv_info_t *info, const uint8_t *data, int data_len)
{
  struct hal_port *p = farm_port_board();
  if (info == NULL || info->src_addr == NULL || data == NULL || data_len <= 0)
    return;
  /* Frames are dropped before the last PORT_SENT_RESERVE entries, which
   * are kept for send statuses: a flood of frames must not hide from a
   * core the outcome of what it sent. Both callbacks run in the Wi-Fi
   * task, so nothing else fills the queue between the test and the send. */
  if (uxQueueSpacesAvailable(p->events) <= PORT_SENT_RESERVE) {
    atomic_fetch_add(&p->rx_dropped, 1u);
    return;
  }
  struct port_event ev;
  ev.kind = PORT_EV_RX;
  ev.delivered = false;
  ev.rssi = info->rx_ctrl != NULL ? (int8_t)info->rx_ctrl->rssi : 0;
  size_t len = (size_t)data_len;
  if (len > sizeof ev.data)
    len = sizeof ev.data; /* over the v1 limit: the core counts it too long */
  ev.len = (uint16_t)len;
  memcpy(ev.mac, info->src_addr, HAL_MAC_LEN);
  memcpy(ev.data, data, len);
  if (xQueueSend(p->events, &ev, 0) != pdTRUE) {
    atomic_fetch_add(&p->rx_dropped, 1u);
    return;
  }
  wake(p);
}

/*
 * esp_now_send_cb_t: ESP-IDF v6 passes the destination inside
 * esp_now_send_info_t (a wifi_tx_info_t, esp_wifi_types_generic.h), no
 * longer as a MAC pointer. SUCCESS means the peer's radio acknowledged a
 * unicast frame (for broadcast: it went on the air). A status lost here is
 * covered by the core's send timeout.
 */
static void on_sent(const esp_now_send_info_t *tx_info, esp_now_send_status_t status)
{
  struct hal_port *p = farm_port_board();
  if (tx_info == NULL || tx_info->des_addr == NULL)
    return;
  struct port_event ev;
  ev.kind = PORT_EV_SENT;
  ev.delivered = status == ESP_NOW_SEND_SUCCESS;
  ev.rssi = 0;
  ev.len = 0;
  memcpy(ev.mac, tx_info->des_addr, HAL_MAC_LEN);
  if (xQueueSend(p->events, &ev, 0) != pdTRUE) {
    atomic_fetch_add(&p->sent_dropped, 1u);
    return;
  }
  wake(p);
}

static int step(struct hal_port *p, const char *what, esp_err_t e)
{
  if (e == ESP_OK)
    return 0;
  ESP_LOGE(p->tag, "radio: %s: %s", what, esp_err_to_name(e));
  return FARM_EIO;
}

int farm_port__radio_start(struct hal_port *p, const uint8_t *mac)
{
  const struct farm_port_config *cfg = p->cfg;
  p->events = xQueueCreate(cfg->radio_queue_len, sizeof(struct port_event));
  if (p->events == NULL)
    return FARM_ENOMEM;

  /* The order of ESP-IDF's ESP-NOW example: netif and the default event
   * loop (Wi-Fi posts its events there), Wi-Fi in station mode, started,
   * on a fixed channel; ESP-NOW after Wi-Fi has started. */
  int rc = step(p, "esp_netif_init", esp_netif_init());
  esp_err_t e = esp_event_loop_create_default();
  if (rc == 0 && e != ESP_ERR_INVALID_STATE) /* already created: fine */
    rc = step(p, "esp_event_loop_create_default", e);
  wifi_init_config_t wifi = WIFI_INIT_CONFIG_DEFAULT();
  if (rc == 0)
    rc = step(p, "esp_wifi_init", esp_wifi_init(&wifi));
  /* This firmware never joins an access point: Wi-Fi keeps nothing of its
   * own in NVS, which holds the cores' keys only. */
  if (rc == 0)
    rc = step(p, "esp_wifi_set_storage", esp_wifi_set_storage(WIFI_STORAGE_RAM));
  if (rc == 0)
    rc = step(p, "esp_wifi_set_mode", esp_wifi_set_mode(WIFI_MODE_STA));
  if (rc == 0 && mac != NULL) {
    /* Only while the interface is down, i.e. before esp_wifi_start
     * (esp_wifi.h, esp_wifi_set_mac). */
    e = esp_wifi_set_mac(WIFI_IF_STA, mac);
    if (e != ESP_OK)
      ESP_LOGW(p->tag, "radio: MAC %02x%02x%02x%02x%02x%02x refused (%s): factory MAC kept", mac[0],
               mac[1], mac[2], mac[3], mac[4], mac[5], esp_err_to_name(e));
  }
  if (rc == 0)
    rc = step(p, "esp_wifi_start", esp_wifi_start());
  /* A sleeping modem misses ESP-NOW frames: the radio stays awake (the
   * gateway and the relay nodes are mains powered). */
  if (rc == 0)
    rc = step(p, "esp_wifi_set_ps", esp_wifi_set_ps(WIFI_PS_NONE));
  if (rc == 0)
    rc = step(p, "esp_wifi_set_channel", esp_wifi_set_channel(cfg->channel, WIFI_SECOND_CHAN_NONE));
  if (rc == 0)
    rc = step(p, "esp_wifi_get_mac", esp_wifi_get_mac(WIFI_IF_STA, p->mac));
  if (rc == 0)
    rc = step(p, "esp_now_init", esp_now_init());
  if (rc == 0)
    rc = step(p, "esp_now_set_pmk", esp_now_set_pmk(cfg->pmk));
  if (rc == 0)
    rc = step(p, "esp_now_register_recv_cb", esp_now_register_recv_cb(on_recv));
  if (rc == 0)
    rc = step(p, "esp_now_register_send_cb", esp_now_register_send_cb(on_sent));
  if (rc != 0)
    return rc;
  p->radio_up = true;
  ESP_LOGI(p->tag, "radio: ESP-NOW up, MAC %02x%02x%02x%02x%02x%02x, channel %u", p->mac[0],
           p->mac[1], p->mac[2], p->mac[3], p->mac[4], p->mac[5], (unsigned)cfg->channel);
  return 0;
}

/* ---- HAL: radio ------------------------------------------------------------ */

void hal_radio_mac(struct hal_port *p, uint8_t mac[HAL_MAC_LEN])
{
  memcpy(mac, p->mac, HAL_MAC_LEN);
}

static esp_now_peer_info_t peer_info(const struct hal_port *p, const uint8_t mac[HAL_MAC_LEN],
                                     bool encrypt)
{
  esp_now_peer_info_t peer;
  memset(&peer, 0, sizeof peer);
  memcpy(peer.peer_addr, mac, HAL_MAC_LEN);
  /* 0: the channel the station is on, so peers follow
   * hal_radio_set_channel (esp_now_peer_info_t in esp_now.h). */
  peer.channel = 0;
  peer.ifidx = WIFI_IF_STA;
  peer.encrypt = encrypt;
  if (encrypt)
    memcpy(peer.lmk, p->cfg->lmk, ESP_NOW_KEY_LEN);
  return peer;
}

int hal_radio_send(struct hal_port *p, const uint8_t mac[HAL_MAC_LEN], const void *data, size_t len)
{
  assert(mac != NULL); /* esp_now_send(NULL) would send to every peer */
  if (data == NULL || len == 0 || len > HAL_RADIO_MTU)
    return FARM_EINVAL;
  if (!p->radio_up)
    return FARM_EIO;
  if (is_broadcast(mac) && !p->broadcast_peer) {
    /* Broadcast needs its address in the peer list, unencrypted (ESP-NOW
     * cannot encrypt group frames); added on first use so that a gateway
     * that never broadcasts keeps the slot for a node. */
    esp_now_peer_info_t peer = peer_info(p, broadcast_mac, false);
    esp_err_t e = esp_now_add_peer(&peer);
    if (e == ESP_ERR_ESPNOW_FULL)
      return FARM_EBUSY;
    if (e != ESP_OK && e != ESP_ERR_ESPNOW_EXIST)
      return FARM_EIO;
    p->broadcast_peer = true;
  }
  /* The data is copied before esp_now_send returns (esp_now.h). */
  switch (esp_now_send(mac, data, len)) {
  case ESP_OK:
    return 0;
  case ESP_ERR_ESPNOW_NOT_FOUND:
  case ESP_ERR_ESPNOW_ARG:
    return FARM_EINVAL;
  case ESP_ERR_ESPNOW_NO_MEM: /* the driver's queue is full: later */
    return FARM_EBUSY;
  default: /* NOT_INIT, INTERNAL, IF, CHAN */
    return FARM_EIO;
  }
}

int hal_radio_add_peer(struct hal_port *p, const uint8_t mac[HAL_MAC_LEN], bool encrypt)
{
  if (is_group(mac))
    return FARM_EINVAL;
  if (!p->radio_up)
    return FARM_EIO;
  esp_now_peer_info_t peer = peer_info(p, mac, encrypt);
  /* Idempotent: an existing peer is modified, so its encryption follows
   * the latest call. */
  esp_err_t e = esp_now_is_peer_exist(mac) ? esp_now_mod_peer(&peer) : esp_now_add_peer(&peer);
  switch (e) {
  case ESP_OK:
    return 0;
  case ESP_ERR_ESPNOW_FULL: /* all 20 entries, or the encrypted ones */
    return FARM_ENOSPC;
  case ESP_ERR_ESPNOW_ARG:
    return FARM_EINVAL;
  default: /* NOT_INIT, NO_MEM */
    return FARM_EIO;
  }
}

int hal_radio_del_peer(struct hal_port *p, const uint8_t mac[HAL_MAC_LEN])
{
  if (!p->radio_up)
    return FARM_ENOENT;
  esp_err_t e = esp_now_del_peer(mac);
  if (e == ESP_OK && is_broadcast(mac))
    p->broadcast_peer = false;
  return e == ESP_OK ? 0 : FARM_ENOENT;
}

int hal_radio_set_channel(struct hal_port *p, uint8_t channel)
{
  if (channel < 1 || channel > 14)
    return FARM_EINVAL;
  if (!p->radio_up)
    return FARM_EIO;
  /* 20 MHz, no secondary channel; refused for a channel the country
   * setting does not allow (esp_wifi.h, esp_wifi_set_channel). */
  switch (esp_wifi_set_channel(channel, WIFI_SECOND_CHAN_NONE)) {
  case ESP_OK:
    return 0;
  case ESP_ERR_INVALID_ARG:
    return FARM_EINVAL;
  default:
    return FARM_EIO;
  }
}
