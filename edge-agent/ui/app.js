// SPDX-License-Identifier: MIT
// The edge agent's local UI: polls the JSON API and fills the page; posts
// commands and diagnostics as JSON (the API refuses anything else). No
// library and no external resource, so it works on a farm without internet.
'use strict';

const $ = (sel) => document.querySelector(sel);

function text(el, value) {
  el.textContent = value === undefined || value === null ? '—' : String(value);
  return el;
}

function cell(row, value, cls) {
  const td = document.createElement('td');
  text(td, value);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function age(ms) {
  if (!ms) return '—';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 120) return s + ' s ago';
  if (s < 7200) return Math.round(s / 60) + ' min ago';
  return Math.round(s / 3600) + ' h ago';
}

function bytes(n) {
  if (n < 1024) return n + ' B';
  if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
  return (n / 1048576).toFixed(1) + ' MiB';
}

async function getJSON(path) {
  const r = await fetch(path, { cache: 'no-store', credentials: 'same-origin' });
  if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
  return r.json();
}

async function postJSON(path, body) {
  const r = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  let data = {};
  try { data = await r.json(); } catch (e) { /* empty body */ }
  return { status: r.status, data };
}

function say(msg, ok) {
  const m = $('#msg');
  if (!m) return;
  text(m, msg);
  m.className = ok ? 'on' : 'off';
}

function header(status) {
  const st = $('#edge-state');
  if (!st || !status) return;
  const parts = [];
  parts.push(status.mqtt.connected ? 'cloud connected' : 'cloud unreachable');
  parts.push(status.serial.open ? 'gateway port open' : 'gateway port closed');
  if (status.edge.degraded) parts.push('DEGRADED: ' + status.edge.degraded_reason);
  text(st, status.edge.site + ' · ' + parts.join(' · '));
  st.className = 'state ' + (status.edge.degraded ? 'off' : status.mqtt.connected ? 'on' : 'warn');
}

function dl(el, pairs) {
  el.replaceChildren();
  for (const [k, v] of pairs) {
    el.appendChild(text(document.createElement('dt'), k));
    el.appendChild(text(document.createElement('dd'), v));
  }
}

async function refreshPeers() {
  const [status, peers] = await Promise.all([getJSON('/api/status'), getJSON('/api/peers')]);
  header(status);
  const body = $('#peers tbody');
  body.replaceChildren();
  for (const p of peers.peers) {
    const tr = document.createElement('tr');
    cell(tr, p.id);
    cell(tr, p.asset);
    cell(tr, p.online ? 'online' : 'offline', p.online ? 'on' : 'off');
    cell(tr, p.rssi === undefined ? null : p.rssi + ' dBm', 'num');
    cell(tr, p.fw);
    cell(tr, age(p.last_seen));
    const v = p.v || {};
    cell(tr, Object.keys(v).map((k) => k + ' ' + v[k]).join(', ') + (p.synthetic ? ' (synthetic)' : ''));
    body.appendChild(tr);
  }
  text($('#peer-count'), peers.peers.length);
}

async function refreshDiag() {
  const status = await getJSON('/api/status');
  header(status);
  const g = status.gateway;
  dl($('#gw'), [
    ['MAC', g.id], ['firmware', g.fw], ['channel', g.ch], ['peers', g.peers], ['boot', g.boot],
    ['last hello', age(g.hello_ms)],
  ]);
  const s = status.serial;
  dl($('#serial'), [
    ['port', s.port + (s.open ? ' (open)' : ' (closed)')], ['opens / losses', s.opens + ' / ' + s.losses],
    ['frames', s.frames], ['CRC errors', s.crc], ['COBS errors', s.cobs], ['too long', s.oversize],
    ['decode errors', s.decode_errors], ['resends dropped', s.resends], ['gaps', s.gaps],
    ['committed gseq', s.committed_gseq],
  ]);
  const b = status.backlog;
  dl($('#backlog'), [
    ['depth', b.depth], ['size', bytes(b.bytes) + ' of ' + bytes(b.max_bytes)],
    ['oldest', b.oldest_age_ms ? Math.round(b.oldest_age_ms / 1000) + ' s' : '—'],
    ['next edge_seq', b.next_edge_seq], ['watermark', b.watermark_seen ? b.watermark : 'none yet'],
    ['dropped (full)', b.dropped_oldest], ['refused (full)', b.rejected_full], ['duplicates', b.duplicates],
    ['state', b.degraded ? 'DEGRADED: ' + b.reason : 'ok'],
    ['alarm', b.corrupt_alarm ? 'corrupt file moved to ' + b.corrupt_path : 'none'],
  ]);
  const m = status.mqtt;
  dl($('#mqtt'), [
    ['broker', m.broker], ['connected', m.connected ? 'yes' : 'no'], ['in flight', m.inflight],
    ['published', m.published], ['acknowledged', m.acked], ['replaying', m.replaying ? 'yes' : 'no'],
  ]);
  const body = $('#requests tbody');
  body.replaceChildren();
  for (const r of status.requests) {
    const tr = document.createElement('tr');
    cell(tr, r.id, 'num');
    cell(tr, r.type);
    cell(tr, r.state, r.state === 'ok' ? 'on' : r.state === 'failed' ? 'off' : 'warn');
    cell(tr, r.error || (r.rtt_ms !== undefined ? 'round trip ' + r.rtt_ms + ' ms' : ''));
    body.appendChild(tr);
  }
}

async function refreshCommands() {
  const [status, list] = await Promise.all([getJSON('/api/status'), getJSON('/api/commands')]);
  header(status);
  const body = $('#commands tbody');
  body.replaceChildren();
  for (const c of list.commands) {
    const tr = document.createElement('tr');
    cell(tr, new Date(c.created).toLocaleTimeString());
    cell(tr, c.id);
    cell(tr, c.device);
    cell(tr, c.name + ' ' + JSON.stringify(c.args));
    const cls = c.state === 'executed' ? 'on' : (c.state === 'failed' || c.state === 'expired') ? 'off' : 'warn';
    cell(tr, c.state, cls);
    cell(tr, c.error);
    body.appendChild(tr);
  }
}

function every(fn, ms) {
  const run = () => fn().catch((e) => say(e.message, false));
  run();
  setInterval(run, ms);
}

function wireDiag() {
  const post = async (path, body, what) => {
    const r = await postJSON(path, body);
    say(r.status < 300 ? what + ': request ' + r.data.id + ' sent' : what + ': ' + (r.data.error || r.status), r.status < 300);
  };
  $('#f-mac').addEventListener('submit', (e) => { e.preventDefault(); post('/api/diag/set-mac', { mac: $('#mac').value.trim().toLowerCase() }, 'set MAC'); });
  $('#b-time').addEventListener('click', () => post('/api/diag/time-sync', {}, 'time sync'));
  $('#f-pair').addEventListener('submit', (e) => { e.preventDefault(); post('/api/diag/pair', { duration_s: Number($('#dur').value) }, 'pairing window'); });
  $('#b-pair-end').addEventListener('click', () => post('/api/diag/pair', { duration_s: 0 }, 'close pairing'));
  $('#b-ping').addEventListener('click', () => post('/api/diag/ping', {}, 'ping'));
}

function wireCommands() {
  $('#f-cmd').addEventListener('submit', async (e) => {
    e.preventDefault();
    let args = {};
    const raw = $('#args').value.trim();
    if (raw) {
      try { args = JSON.parse(raw); } catch (err) { say('arguments: not JSON', false); return; }
    }
    const r = await postJSON('/api/cmd', { device: $('#device').value.trim().toLowerCase(), name: $('#name').value, args });
    say(r.status < 300 ? 'command ' + r.data.id + ': ' + r.data.state : 'refused: ' + (r.data.error || r.status), r.status < 300);
    refreshCommands().catch(() => {});
  });
}

document.addEventListener('DOMContentLoaded', () => {
  const page = document.body.dataset.page;
  if (page === 'peers') every(refreshPeers, 2000);
  if (page === 'diag') { wireDiag(); every(refreshDiag, 2000); }
  if (page === 'commands') { wireCommands(); every(refreshCommands, 2000); }
});
