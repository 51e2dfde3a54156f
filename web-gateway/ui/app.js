// SPDX-License-Identifier: MIT
// IoTferme supervision UI: hash-routed views over the web-gateway API
// (session cookie + X-CSRF-Token), the live WebSocket for readings, alerts
// and command states, uPlot for charts. DOM is built with textContent only,
// so nothing a device sends is ever interpreted as HTML.
'use strict';

const state = { me: null, csrf: null, ws: null, wsHandlers: new Set(), timers: [] };

// ---- DOM helpers ----
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}
const $ = (id) => document.getElementById(id);
function fmtTime(ms) { return ms ? new Date(ms).toLocaleString() : '—'; }
function fmtAgo(ms) {
  if (!ms) return 'never';
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}
function fmtNum(v) { return typeof v === 'number' ? (Math.round(v * 100) / 100).toString() : '—'; }
function badge(text, cls) { return h('span', { class: `badge ${cls || text}` }, text); }

// ---- errors are shown, never swallowed ----
function showError(msg) {
  $('error-text').textContent = msg;
  $('error').hidden = false;
}
function clearError() { $('error').hidden = true; }

class ApiError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}

async function api(method, path, body) {
  const opt = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    opt.headers['Content-Type'] = 'application/json';
    opt.body = JSON.stringify(body);
  }
  if (method !== 'GET' && state.csrf) opt.headers['X-CSRF-Token'] = state.csrf;
  let r;
  try {
    r = await fetch(`/api/v1${path}`, opt);
  } catch (e) {
    throw new ApiError(0, 'The gateway cannot be reached. Check the connection.');
  }
  let data = null;
  try { data = await r.json(); } catch (e) { /* not JSON */ }
  if (r.status === 401 && path !== '/login') {
    state.me = null;
    location.hash = '#/login';
    throw new ApiError(401, 'Your session has ended. Please log in again.');
  }
  if (!r.ok) throw new ApiError(r.status, (data && data.error) || `HTTP ${r.status}`);
  return data;
}

// Runs an action and shows its error, so no failure is silent.
async function guard(fn) {
  try { return await fn(); } catch (e) {
    if (e.status !== 401 || location.hash === '#/login') showError(e.message);
    return undefined;
  }
}

function confirmDialog(text) {
  return new Promise((resolve) => {
    const d = $('confirm');
    $('confirm-text').textContent = text;
    d.returnValue = '';
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.showModal();
  });
}

// ---- live feed ----
function liveConnect() {
  if (state.ws && state.ws.readyState <= 1) return;
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${proto}://${location.host}/api/v1/live`);
  state.ws = ws;
  ws.onmessage = (ev) => {
    let m;
    try { m = JSON.parse(ev.data); } catch (e) { return; }
    for (const fn of state.wsHandlers) fn(m);
  };
  ws.onclose = () => {
    if (state.me) setTimeout(liveConnect, 3000);
  };
}
function onLive(fn) { state.wsHandlers.add(fn); return fn; }

// ---- views ----
function setView(...kids) {
  const v = $('view');
  v.replaceChildren(...kids.filter((k) => k !== null && k !== undefined));
}
function leaveView() {
  state.wsHandlers.clear();
  for (const t of state.timers) clearInterval(t);
  state.timers = [];
}

function viewLogin() {
  $('top').hidden = true;
  const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true });
  const pw = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', { class: 'card login', onsubmit: async (ev) => {
    ev.preventDefault();
    clearError();
    const r = await guard(() => api('POST', '/login', { username: user.value, password: pw.value }));
    if (!r) return;
    state.me = r.user;
    state.csrf = r.csrf;
    location.hash = '#/';
  } },
  h('h1', {}, 'IoTferme — log in'),
  h('label', { for: 'username' }, 'User name'), user,
  h('label', { for: 'password' }, 'Password'), pw,
  h('button', { type: 'submit', id: 'login-submit' }, 'Log in'));
  setView(form);
  user.focus();
}

async function viewFarm() {
  const [sites, devices, alerts] = await Promise.all([
    api('GET', '/sites'), api('GET', '/devices'), api('GET', '/alerts?state=active&limit=20')]);
  const tbody = h('tbody', { id: 'devices' });
  const rows = new Map();
  for (const d of devices.devices) {
    const vals = h('span', { class: 'values' },
      Object.entries(d.latest).map(([m, x]) => h('span', { 'data-metric': m }, `${m} ${fmtNum(x.value)}`)));
    const tr = h('tr', { 'data-device': d.device },
      h('td', {}, h('a', { href: `#/device/${d.device}` }, d.device)),
      h('td', {}, d.site),
      h('td', {}, d.online === null ? badge('unknown', '') : badge(d.online ? 'online' : 'offline')),
      h('td', {}, vals),
      h('td', {}, d.rssi === null ? '—' : `${d.rssi} dBm`),
      h('td', {}, d.firmware || '—'),
      h('td', { class: 'muted' }, fmtAgo(d.last_seen)));
    rows.set(d.device, vals);
    tbody.append(tr);
  }
  onLive((m) => {
    if (m.type !== 'telemetry' || !rows.has(m.device)) return;
    const vals = rows.get(m.device);
    for (const [k, v] of Object.entries(m.v)) {
      let s = vals.querySelector(`[data-metric="${k}"]`);
      if (!s) { s = h('span', { 'data-metric': k }); vals.append(s); }
      s.textContent = `${k} ${fmtNum(v)}`;
    }
  });
  const online = devices.devices.filter((d) => d.online).length;
  setView(
    h('h1', {}, 'Farm overview'),
    h('div', { class: 'grid' },
      h('div', { class: 'card' }, h('div', { class: 'muted' }, 'Sites'), h('div', { class: 'stat' }, sites.sites.length)),
      h('div', { class: 'card' }, h('div', { class: 'muted' }, 'Devices online'),
        h('div', { class: 'stat', id: 'online-count' }, `${online} / ${devices.devices.length}`)),
      h('div', { class: 'card' }, h('div', { class: 'muted' }, 'Open alerts'), h('div', { class: 'stat' }, alerts.alerts.length))),
    h('h2', {}, 'Devices'),
    h('div', { class: 'scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Device', 'Site', 'State', 'Latest', 'RSSI', 'Firmware', 'Last seen'].map((t) => h('th', {}, t)))),
      tbody)),
    h('h2', {}, 'Open alerts'),
    alertsTable(alerts.alerts, false));
}

const RANGES = { '1h': 3600e3, '6h': 6 * 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 };
// Raw points for short ranges; rollup buckets keep long ones light.
function stepFor(span) {
  if (span <= 6 * 3600e3) return 0;
  if (span <= 2 * 86400e3) return 300000;
  if (span <= 14 * 86400e3) return 3600000;
  return 3 * 3600000;
}

async function viewDevice(id) {
  const d = await api('GET', `/devices/${id}`);
  // Temperature first when the node has it: what people look at most.
  const metrics = Object.keys(d.latest).sort((a, b) => (b === 'temp_c') - (a === 'temp_c') || a.localeCompare(b));
  const metricSel = h('select', { id: 'metric' }, metrics.map((m) => h('option', { value: m }, m)));
  const rangeSel = h('select', { id: 'range' }, Object.keys(RANGES).map((r) => h('option', { value: r }, r)));
  const chartBox = h('div', { class: 'chart', id: 'chart' });
  const info = h('p', { class: 'muted', id: 'chart-info' });
  let plot = null, series = null, range = null;

  async function load() {
    if (!metricSel.value) { info.textContent = 'No readings yet.'; return; }
    const span = RANGES[rangeSel.value];
    const to = Date.now() + 1;
    const from = to - span;
    const step = stepFor(span);
    const r = await guard(() => api('GET', `/devices/${id}/telemetry?metric=${metricSel.value}&from=${from}&to=${to}&step=${step}`));
    if (!r) return;
    range = { from, to, step };
    const xs = r.points.map((p) => p[0] / 1000);
    const ys = r.points.map((p) => p[1]);
    series = [xs, ys];
    info.textContent = `${r.points.length} ${step ? `buckets of ${step / 60000} min (mean)` : 'readings'} — drag on the chart to zoom, double-click to reset`;
    const width = Math.max(280, chartBox.clientWidth || 600);
    const opts = {
      width, height: width < 500 ? 240 : 320,
      series: [{}, { label: metricSel.value, stroke: '#2e7d32', width: 2, points: { show: xs.length < 200 } }],
      axes: [{}, {}], scales: { x: { time: true } },
      cursor: { drag: { x: true, y: false } },
    };
    if (plot) plot.destroy();
    chartBox.replaceChildren();
    plot = new uPlot(opts, series, chartBox);
    chartBox.dataset.points = String(xs.length);
  }
  metricSel.addEventListener('change', () => load());
  rangeSel.addEventListener('change', () => load());

  // Live update: raw views append each new reading.
  onLive((m) => {
    if (m.type !== 'telemetry' || m.device !== id || !plot || !range || range.step) return;
    const v = m.v[metricSel.value];
    if (typeof v !== 'number') return;
    series[0].push(m.ts / 1000);
    series[1].push(v);
    plot.setData(series);
    chartBox.dataset.points = String(series[0].length);
  });

  const role = state.me && state.me.role;
  const canCommand = role === 'operator' || role === 'admin';
  const cmdLog = h('ul', { class: 'cmdlog', id: 'cmdlog' });
  const relays = h('div', { class: 'relays' });
  for (let ch = 1; ch <= 6; ch++) {
    const st = h('span', { class: 'muted', id: `relay-${ch}-state` }, 'no command yet');
    const send = async (on) => {
      clearError();
      const ok = await confirmDialog(`Switch relay ${ch} of ${id} ${on ? 'ON' : 'OFF'}?`);
      if (!ok) return;
      const r = await guard(() => api('POST', `/devices/${id}/commands`, { name: 'relay.set', args: { ch, on } }));
      if (!r) return;
      followCommand(r.id, st, `relay ${ch} ${on ? 'on' : 'off'}`, cmdLog);
    };
    relays.append(h('div', { class: 'relay' },
      h('strong', {}, `Relay ${ch}`), h('div', {}, st),
      h('div', { class: 'buttons' },
        h('button', { type: 'button', id: `relay-${ch}-on`, disabled: !canCommand, onclick: () => send(true) }, 'On'),
        h('button', { type: 'button', class: 'secondary', id: `relay-${ch}-off`, disabled: !canCommand, onclick: () => send(false) }, 'Off'))));
  }
  setView(
    h('h1', {}, `Device ${d.device}`),
    h('div', { class: 'card' },
      h('div', { class: 'values' },
        h('span', {}, 'Site ', h('strong', {}, d.site)),
        h('span', {}, d.online === null ? badge('unknown', '') : badge(d.online ? 'online' : 'offline')),
        h('span', {}, `RSSI ${d.rssi === null ? '—' : `${d.rssi} dBm`}`),
        h('span', {}, `Firmware ${d.firmware || '—'}`),
        h('span', { class: 'muted' }, `last seen ${fmtAgo(d.last_seen)}`))),
    h('div', { class: 'card' },
      h('div', { class: 'toolbar' },
        h('div', {}, h('label', { for: 'metric' }, 'Metric'), metricSel),
        h('div', {}, h('label', { for: 'range' }, 'Range'), rangeSel),
        h('button', { type: 'button', class: 'secondary', onclick: () => load() }, 'Reload')),
      chartBox, info),
    h('h2', {}, 'Relays'),
    canCommand ? null : h('p', { class: 'muted' }, 'Your role can only watch.'),
    relays,
    h('h2', {}, 'Commands sent from this page'), cmdLog);
  await load();
}

const FINAL = new Set(['executed', 'failed', 'expired']);

// Shows a command's state until it settles, from the live feed, with a
// poll as a fallback when the feed is down.
function followCommand(cid, el, what, log) {
  const li = h('li', {}, `${what}: `, badge('pending'));
  log.prepend(li);
  const show = (c) => {
    const text = c.error ? `${c.state} — ${c.error}` : c.state;
    el.replaceChildren(badge(c.state), c.error ? ` ${c.error}` : '');
    li.replaceChildren(`${what}: `, badge(c.state), c.error ? ` ${c.error}` : '');
    el.dataset.state = c.state;
    el.title = text;
  };
  show({ state: 'pending' });
  let done = false;
  const h1 = onLive((m) => {
    if (m.type === 'command' && m.id === cid && !done) {
      show(m);
      if (FINAL.has(m.state)) { done = true; state.wsHandlers.delete(h1); }
    }
  });
  const t = setInterval(async () => {
    if (done) { clearInterval(t); return; }
    const c = await guard(() => api('GET', `/commands/${cid}`));
    if (c && !done) {
      show(c);
      if (FINAL.has(c.state)) { done = true; clearInterval(t); }
    }
  }, 1500);
  state.timers.push(t);
}

function alertsTable(list, withAck) {
  const canAck = state.me && state.me.role !== 'viewer';
  if (!list.length) return h('p', { class: 'muted' }, 'No alerts.');
  return h('div', { class: 'scroll' }, h('table', { id: 'alerts' },
    h('thead', {}, h('tr', {}, ['State', 'Device', 'Message', 'Opened', withAck ? '' : null].filter((x) => x !== null).map((t) => h('th', {}, t)))),
    h('tbody', {}, list.map((a) => h('tr', {},
      h('td', {}, badge(a.state)),
      h('td', {}, h('a', { href: `#/device/${a.device}` }, a.device)),
      h('td', {}, a.message),
      h('td', { class: 'muted' }, fmtTime(a.opened_ts)),
      withAck ? h('td', {}, a.state === 'open' && canAck
        ? h('button', { type: 'button', class: 'secondary', onclick: async () => {
          if (await guard(() => api('POST', `/alerts/${a.id}/ack`))) setTimeout(route, 800);
        } }, 'Acknowledge') : '') : null)))));
}

async function viewAlerts() {
  const [alerts, rules] = await Promise.all([api('GET', '/alerts?limit=100'), api('GET', '/rules')]);
  const canEdit = state.me.role !== 'viewer';
  const f = {};
  const field = (name, el) => { f[name] = el; return h('div', {}, h('label', { for: `rule-${name}` }, name), el); };
  const form = h('form', { class: 'inline card', onsubmit: async (ev) => {
    ev.preventDefault();
    clearError();
    const body = { name: f.name.value, kind: f.kind.value, enabled: true };
    for (const k of ['site', 'device', 'metric', 'op']) if (f[k].value) body[k] = f[k].value;
    if (f.threshold.value !== '') body.threshold = Number(f.threshold.value);
    if (f.duration_s.value !== '') body.duration_ms = Math.round(Number(f.duration_s.value) * 1000);
    if (await guard(() => api('POST', '/rules', body))) route();
  } },
  field('name', h('input', { id: 'rule-name', required: true })),
  field('kind', h('select', { id: 'rule-kind' }, ['threshold', 'rate', 'flatline', 'offline'].map((k) => h('option', {}, k)))),
  field('site', h('input', { id: 'rule-site', size: 8 })),
  field('device', h('input', { id: 'rule-device', size: 12 })),
  field('metric', h('input', { id: 'rule-metric', size: 8 })),
  field('op', h('select', { id: 'rule-op' }, ['', '>', '>=', '<', '<='].map((k) => h('option', { value: k }, k || '—')))),
  field('threshold', h('input', { id: 'rule-threshold', type: 'number', step: 'any', size: 6 })),
  field('duration_s', h('input', { id: 'rule-duration_s', type: 'number', min: 0, size: 6 })),
  h('button', { type: 'submit' }, 'Add rule'));
  setView(
    h('h1', {}, 'Alerts'),
    alertsTable(alerts.alerts, true),
    h('h2', {}, 'Alert rules'),
    h('div', { class: 'scroll' }, h('table', { id: 'rules' },
      h('thead', {}, h('tr', {}, ['Name', 'Kind', 'Scope', 'Condition', 'Enabled', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, rules.rules.map((r) => h('tr', {},
        h('td', {}, r.name), h('td', {}, r.kind),
        h('td', {}, [r.site, r.device, r.metric].filter(Boolean).join(' / ') || 'everything'),
        h('td', {}, r.op ? `${r.op} ${r.threshold}` : (r.threshold ?? '—'), r.duration_ms ? ` for ${r.duration_ms / 1000} s` : ''),
        h('td', {}, r.enabled ? 'yes' : 'no'),
        h('td', {}, canEdit ? h('button', { type: 'button', class: 'danger', onclick: async () => {
          if (await confirmDialog(`Delete the rule "${r.name}"?`) && await guard(() => api('DELETE', `/rules/${r.id}`))) route();
        } }, 'Delete') : '')))))),
    canEdit ? form : null);
}

async function viewWebhooks() {
  const hooks = await api('GET', '/webhooks');
  const url = h('input', { id: 'hook-url', type: 'url', required: true, size: 30, placeholder: 'https://example.org/farm' });
  const kinds = ['alert', 'event', 'command', 'status', 'telemetry'];
  const boxes = kinds.map((k) => h('input', { type: 'checkbox', value: k, id: `hook-${k}`, checked: k === 'alert' }));
  const secretOut = h('p', { class: 'muted', id: 'hook-secret' });
  const log = h('div', { id: 'deliveries' });
  const form = h('form', { class: 'inline card', onsubmit: async (ev) => {
    ev.preventDefault();
    clearError();
    const events = boxes.filter((b) => b.checked).map((b) => b.value);
    const r = await guard(() => api('POST', '/webhooks', { url: url.value, events }));
    if (r) {
      await route();
      $('hook-secret').textContent = `Signing secret of webhook ${r.id} (shown once): ${r.secret}`;
    }
  } },
  h('div', {}, h('label', { for: 'hook-url' }, 'URL'), url),
  h('div', {}, h('label', {}, 'Events'), h('span', {}, kinds.map((k, i) => h('label', { for: `hook-${k}` }, boxes[i], ` ${k} `)))),
  h('button', { type: 'submit' }, 'Add webhook'));
  setView(
    h('h1', {}, 'Webhooks'),
    h('p', { class: 'muted' }, 'Each delivery is signed: X-Farm-Signature is sha256= HMAC-SHA256 of "X-Farm-Timestamp.body" with the secret.'),
    h('div', { class: 'scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, ['URL', 'Events', 'Enabled', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, hooks.webhooks.map((w) => h('tr', {},
        h('td', {}, w.url), h('td', {}, w.events), h('td', {}, w.enabled ? 'yes' : 'no'),
        h('td', {},
          h('button', { type: 'button', class: 'secondary', onclick: async () => {
            const d = await guard(() => api('GET', `/webhooks/${w.id}/deliveries?limit=20`));
            if (!d) return;
            log.replaceChildren(h('h2', {}, `Deliveries to ${w.url}`), h('div', { class: 'scroll' }, h('table', {},
              h('thead', {}, h('tr', {}, ['When', 'Event', 'State', 'Attempts', 'Answer'].map((t) => h('th', {}, t)))),
              h('tbody', {}, d.deliveries.map((x) => h('tr', {},
                h('td', {}, fmtTime(x.created_ts)), h('td', {}, x.event), h('td', {}, badge(x.state)),
                h('td', {}, x.attempts), h('td', {}, x.error || (x.http_status ? `HTTP ${x.http_status}` : '—'))))))));
          } }, 'Deliveries'), ' ',
          h('button', { type: 'button', class: 'danger', onclick: async () => {
            if (await confirmDialog(`Delete the webhook to ${w.url}?`) && await guard(() => api('DELETE', `/webhooks/${w.id}`))) route();
          } }, 'Delete'))))))),
    form, secretOut, log);
}

async function viewUsers() {
  const [users, tokens] = await Promise.all([api('GET', '/users'), api('GET', '/tokens')]);
  const name = h('input', { id: 'user-name', required: true, size: 12 });
  const pw = h('input', { id: 'user-password', type: 'password', required: true, minlength: 8, autocomplete: 'new-password' });
  const role = h('select', { id: 'user-role' }, ['viewer', 'operator', 'admin'].map((r) => h('option', {}, r)));
  const tname = h('input', { id: 'token-name', required: true, size: 12 });
  const tokOut = h('p', { class: 'muted', id: 'token-out' });
  setView(
    h('h1', {}, 'Users'),
    h('div', { class: 'scroll' }, h('table', { id: 'users' },
      h('thead', {}, h('tr', {}, ['User', 'Role', 'Disabled', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, users.users.map((u) => {
        const sel = h('select', { 'aria-label': `role of ${u.username}` }, ['viewer', 'operator', 'admin'].map((r) => h('option', { selected: r === u.role }, r)));
        sel.addEventListener('change', async () => {
          if (!await guard(() => api('PATCH', `/users/${u.id}`, { role: sel.value }))) sel.value = u.role;
        });
        return h('tr', {}, h('td', {}, u.username), h('td', {}, sel), h('td', {}, u.disabled ? 'yes' : 'no'),
          h('td', {}, h('button', { type: 'button', class: 'danger', onclick: async () => {
            if (await confirmDialog(`Delete the user ${u.username}?`) && await guard(() => api('DELETE', `/users/${u.id}`))) route();
          } }, 'Delete')));
      })))),
    h('form', { class: 'inline card', onsubmit: async (ev) => {
      ev.preventDefault();
      clearError();
      if (await guard(() => api('POST', '/users', { username: name.value, password: pw.value, role: role.value }))) route();
    } },
    h('div', {}, h('label', { for: 'user-name' }, 'User name'), name),
    h('div', {}, h('label', { for: 'user-password' }, 'Password (8+)'), pw),
    h('div', {}, h('label', { for: 'user-role' }, 'Role'), role),
    h('button', { type: 'submit' }, 'Add user')),
    h('h2', {}, 'API tokens'),
    h('div', { class: 'scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Name', 'User', 'Created', 'Last used', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, tokens.tokens.map((t) => h('tr', {},
        h('td', {}, t.name), h('td', {}, t.user), h('td', {}, fmtTime(t.created_ts)), h('td', {}, fmtAgo(t.last_used_ts)),
        h('td', {}, h('button', { type: 'button', class: 'danger', onclick: async () => {
          if (await confirmDialog(`Revoke the token ${t.name}?`) && await guard(() => api('DELETE', `/tokens/${t.id}`))) route();
        } }, 'Revoke'))))))),
    h('form', { class: 'inline card', onsubmit: async (ev) => {
      ev.preventDefault();
      clearError();
      const r = await guard(() => api('POST', '/tokens', { name: tname.value }));
      if (r) { await route(); $('token-out').textContent = `Token ${r.name} (shown once): ${r.token}`; }
    } },
    h('div', {}, h('label', { for: 'token-name' }, 'Token name'), tname),
    h('button', { type: 'submit' }, 'Create token')),
    tokOut);
}

// ---- routing ----
async function route() {
  leaveView();
  const hash = location.hash || '#/';
  if (hash === '#/login') { viewLogin(); return; }
  if (!state.me) {
    try {
      const me = await api('GET', '/me');
      state.me = me;
      state.csrf = me.csrf;
    } catch (e) { return; } // api() sent us to the login page
  }
  $('top').hidden = false;
  $('who').textContent = `${state.me.username} (${state.me.role})`;
  for (const a of document.querySelectorAll('[data-role="admin"]')) a.hidden = state.me.role !== 'admin';
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.getAttribute('href') === hash);
  liveConnect();
  const m = hash.match(/^#\/device\/([a-z0-9_-]{1,64})$/);
  await guard(async () => {
    if (m) await viewDevice(m[1]);
    else if (hash === '#/alerts') await viewAlerts();
    else if (hash === '#/webhooks') await viewWebhooks();
    else if (hash === '#/users') await viewUsers();
    else await viewFarm();
  });
}

$('error-close').addEventListener('click', clearError);
$('logout').addEventListener('click', async () => {
  await guard(() => api('POST', '/logout'));
  state.me = null;
  state.csrf = null;
  if (state.ws) state.ws.close();
  location.hash = '#/login';
});
window.addEventListener('hashchange', () => { clearError(); route(); });
route();
