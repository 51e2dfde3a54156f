// SPDX-License-Identifier: MIT
// The whole farm seen through its two UIs in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core): the supervision UI lists
// every simulated node and the radio gateway, online, with live values
// (real sensors and synthetic ones), a node's page draws its readings; the
// edge's local UI lists the same nodes as peers. Started by test_e2e_farm,
// which runs the farm and passes E2E_URL, E2E_EDGE_URL, E2E_USER,
// E2E_PASSWORD, E2E_NODES (comma-separated MACs), E2E_GATEWAY and
// E2E_ARTIFACTS (screenshots).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

const url = process.env.E2E_URL;
const edgeUrl = process.env.E2E_EDGE_URL;
const nodes = (process.env.E2E_NODES || '').split(',').filter(Boolean);
const gateway = process.env.E2E_GATEWAY;
const shots = process.env.E2E_ARTIFACTS || path.join(os.tmpdir(), 'e2e-ui');
fs.mkdirSync(shots, { recursive: true });

let passed = 0, failed = 0;
async function step(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}: ${e.message.split('\n')[0]}`);
    throw e;
  }
}
function check(cond, msg) { if (!cond) throw new Error(msg); }

(async () => {
  check(url && edgeUrl && nodes.length > 0 && gateway, 'E2E_URL, E2E_EDGE_URL, E2E_NODES, E2E_GATEWAY');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const errors = [];
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  page.setDefaultTimeout(20000);
  try {
    await step('log in to the supervision UI', async () => {
      await page.goto(url);
      await page.waitForSelector('#login-submit');
      await page.fill('#username', process.env.E2E_USER);
      await page.fill('#password', process.env.E2E_PASSWORD);
      await page.click('#login-submit');
      await page.waitForSelector('#devices');
    });
    await step(`the overview lists the ${nodes.length} nodes and the gateway, all online`, async () => {
      for (const mac of nodes.concat([gateway])) {
        await page.waitForSelector(`tr[data-device="${mac}"]`);
      }
      const rows = await page.$$('#devices tr');
      check(rows.length === nodes.length + 1, `${rows.length} device rows`);
      const online = (await page.textContent('#online-count')).trim();
      check(online === `${nodes.length + 1} / ${nodes.length + 1}`, `online: ${online}`);
      for (const mac of nodes) {
        const row = await page.textContent(`tr[data-device="${mac}"]`);
        check(/online/.test(row), `${mac} not online: ${row}`);
        check(/temp_c -?\d/.test(row) && /rh_pct \d/.test(row), `${mac} without values: ${row}`);
      }
      await page.screenshot({ path: path.join(shots, '01-overview.png'), fullPage: true });
    });
    await step('a node page draws its readings', async () => {
      await page.click(`a[href="#/device/${nodes[0]}"]`);
      await page.waitForSelector('#chart canvas');
      await page.waitForFunction(() => Number(document.querySelector('#chart').dataset.points) >= 10);
      await page.screenshot({ path: path.join(shots, '02-node.png'), fullPage: true });
    });
    await step('the edge UI lists the same nodes as peers', async () => {
      const edge = await ctx.newPage();
      edge.on('pageerror', (e) => errors.push(e.message));
      await edge.goto(edgeUrl);
      await edge.waitForFunction((n) => Number(document.querySelector('#peer-count').textContent) === n,
        nodes.length);
      const table = await edge.textContent('#peers');
      for (const mac of nodes) check(table.includes(mac), `peer ${mac} missing`);
      check(/synthetic/.test(table), 'no synthetic node shown');
      await edge.screenshot({ path: path.join(shots, '03-edge-peers.png'), fullPage: true });
      await edge.close();
    });
    await step('no script errors', async () => {
      check(errors.length === 0, errors.join(' | '));
    });
  } catch (e) {
    await page.screenshot({ path: path.join(shots, 'failure.png'), fullPage: true }).catch(() => {});
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log(`screenshots in ${shots}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(1); });
