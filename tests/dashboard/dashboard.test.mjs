// Browser tests of the dashboard: Debian's Chromium, headless, driven by
// playwright-core. Started by tests/e2e/dashboard.rs, which runs a 3-node
// loopback cluster and passes its addresses in the environment; the tests
// run in order and share one browser.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through tests/e2e/dashboard.rs`);
  return value;
}

const BASE = env('DASHBOARD_URL');
const OTHER = env('DASHBOARD_OTHER_URL');
const NODE_ID = env('DASHBOARD_NODE_ID');
const TOKEN = env('DASHBOARD_TOKEN');
// The cluster's own secret: the admin API must not take it (the dashboard
// never needs it).
const CLUSTER_TOKEN = env('DASHBOARD_CLUSTER_TOKEN');
const LEASES = env('DASHBOARD_LEASES').split(',');
// One DHCPv6 lease, for the MAC of the v4 lease named db.
const LEASE6 = env('DASHBOARD_LEASE6');
const ALL = LEASES.length + 1;
const VICTIM_ID = env('DASHBOARD_VICTIM_ID');
const VICTIM_PID = Number(env('DASHBOARD_VICTIM_PID'));
const SHOTS = env('DASHBOARD_SCREENSHOTS');
const USER_DATA = env('DASHBOARD_USER_DATA');
const DNSCTL = env('DNSCTL');
const DNSCTL_CONFIG = env('DNSCTL_CONFIG');
const PAGE = `${BASE}/ui/`;
const RESERVED_MAC = '02:42:ac:10:00:77';
const REFUSED_MAC = '02:42:ac:10:00:78';

let context;
let page;
/// Script errors and Content-Security-Policy violations on the main page.
const pageProblems = [];

function dnsctlReservations() {
  const out = execFileSync(DNSCTL, ['--config', DNSCTL_CONFIG, '--json', 'reservations', 'list'], {
    env: { PATH: process.env.PATH, NO_COLOR: '1' },
    timeout: 15000,
  });
  return JSON.parse(out.toString());
}

/// Layout shifts since the page loaded, recorded by the browser itself.
async function layoutShift(target) {
  return target.evaluate(() => window.__shifts.reduce((sum, entry) => sum + entry, 0));
}

/// Back to the top with nothing focused, for a screenshot of the first view.
async function top(target) {
  await target.evaluate(() => {
    document.activeElement?.blur();
    window.scrollTo(0, 0);
  });
}

before(async () => {
  rmSync(USER_DATA, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  context = await chromium.launchPersistentContext(USER_DATA, {
    executablePath: env('CHROMIUM'),
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    viewport: { width: 1280, height: 800 },
    colorScheme: 'light',
    reducedMotion: 'reduce',
  });
  // Counts layout shifts not caused by the user (CLS), from the first paint.
  await context.addInitScript(() => {
    window.__shifts = [];
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.__shifts.push(entry.value);
    }).observe({ type: 'layout-shift', buffered: true });
  });
  page = await context.newPage();
  page.on('pageerror', (error) => pageProblems.push(`script error: ${error.message}`));
  page.on('console', (message) => {
    if (/Content.Security.Policy/i.test(message.text())) pageProblems.push(message.text());
  });
});

after(async () => {
  await context?.close();
});

test('shows the three members, the leases, conflicts and events', async () => {
  const response = await page.goto(PAGE);
  assert.equal(response.status(), 200);
  const csp = response.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'/);
  await page.waitForFunction(() => {
    const rows = document.querySelectorAll('#members tbody tr[data-member-id]');
    return rows.length === 3 && [...rows].every((row) => row.dataset.health === 'up');
  }, null, { timeout: 10000 });
  assert.equal(await page.textContent('#node-name'), `node ${NODE_ID}`);
  assert.equal(await page.locator('#members th[scope=row]').count(), 3);

  for (const address of LEASES) {
    await page.waitForSelector(`#leases tbody tr[data-address="${address}"]`, { timeout: 10000 });
  }
  const v6 = await page.waitForSelector(`#leases tbody tr[data-address="${LEASE6}"][data-family="ipv6"]`, { timeout: 10000 });
  assert.equal(await v6.$eval('td:nth-child(4)', (cell) => cell.textContent), 'db');
  assert.equal(await v6.$eval('td:nth-child(2)', (cell) => cell.textContent), '02:42:00:00:00:12');
  assert.match(await v6.$eval('td:nth-child(1)', (cell) => cell.title), /DUID 00:03:00:01:02:42:00:00:00:12, IAID 7/);
  assert.equal(await page.textContent('#lease-count'), `${ALL} of ${ALL} leases`);
  await page.waitForSelector('#conflicts tbody tr >> text=web', { timeout: 10000 });
  // The recorder reports the election, the conflict and the decline.
  for (const kind of ['leader', 'conflict', 'decline']) {
    await page.waitForSelector(`#events li[data-kind="${kind}"]`, { timeout: 10000 });
  }
  // The DNS queries the driver sent show in the rate chart (sampled every 5 s).
  await page.waitForFunction(() => {
    const label = document.getElementById('dns-chart').getAttribute('aria-label') || '';
    const peak = label.match(/peak ([\d.]+)/);
    return peak && Number(peak[1]) > 0 && document.querySelector('#dns-chart polyline');
  }, null, { timeout: 12000 });
  const pool = await page.textContent('#pool-headline');
  assert.match(pool, /% in use/);

  // Filter, search and sort.
  await page.selectOption('#lease-state', 'bound');
  await page.fill('#lease-search', 'db');
  assert.equal(await page.textContent('#lease-count'), `2 of ${ALL} leases`, 'db in v4 and in v6');
  // v4 rows first in address order, then v6.
  const families = await page.$$eval('#leases tbody tr[data-address]', (rows) => rows.map((r) => r.dataset.family));
  assert.deepEqual(families, ['ipv4', 'ipv6']);
  await page.fill('#lease-search', '');
  await page.selectOption('#lease-state', '');
  await page.selectOption('#lease-host', '3');
  const host3 = await page.locator('#leases tbody tr[data-address]').count();
  assert.ok(host3 >= 1 && host3 < LEASES.length, `host filter kept ${host3} leases`);
  await page.selectOption('#lease-host', '');
  assert.deepEqual(pageProblems, []);
  await page.click('#leases th[data-sort="name"] button');
  assert.equal(await page.getAttribute('#leases th[data-sort="name"]', 'aria-sort'), 'ascending');
  const names = await page.$$eval('#leases tbody tr td:nth-child(4)', (cells) => cells.map((c) => c.textContent));
  assert.deepEqual(names, [...names].sort());
  await page.click('#leases th[data-sort="address"] button');

  // Live updates must not move the page: wait for a few polling rounds.
  const before = await layoutShift(page);
  await page.waitForTimeout(6000);
  const during = (await layoutShift(page)) - before;
  assert.ok(during < 0.01, `layout shifted by ${during} during live updates`);

  await top(page);
  await page.screenshot({ path: join(SHOTS, 'desktop.png') });
  await page.screenshot({ path: join(SHOTS, 'desktop-full.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  await top(page);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the phone layout scrolls sideways by ${overflow}px`);
  await page.screenshot({ path: join(SHOTS, 'phone.png') });
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('keyboard only: set the token, add a reservation, dnsctl lists it', async () => {
  await page.goto(PAGE);
  await page.waitForSelector('#members tbody tr[data-member-id]');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to leases');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'token');
  await page.keyboard.type(TOKEN);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#token-state.on');

  await page.focus('#reservation-mac');
  await page.keyboard.type(RESERVED_MAC);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'reservation-address');
  await page.keyboard.type('10.0.0.77');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'reservation-hostname');
  await page.keyboard.type('printer');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Add reservation');
  const focusRing = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(focusRing, 'none', 'the focused button shows a focus ring');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#reservation-message.ok', { timeout: 15000 });
  assert.match(await page.textContent('#reservation-message'), /reserved 10\.0\.0\.77/);
  await page.waitForSelector(`#reservations tbody tr[data-mac="${RESERVED_MAC}"]`);

  const listed = dnsctlReservations();
  const reservation = listed.find((r) => r.mac === RESERVED_MAC);
  assert.ok(reservation, `dnsctl reservations list lacks ${RESERVED_MAC}: ${JSON.stringify(listed)}`);
  assert.equal(reservation.address, '10.0.0.77');
  assert.equal(reservation.hostname, 'printer');

  // A static record through its form, by keyboard too.
  await page.focus('#record-name');
  await page.keyboard.type('www');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  await page.keyboard.type('10.0.0.80');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#record-message.ok', { timeout: 15000 });
  await page.waitForSelector('#records tbody tr[data-name="www.lxd"]');
});

test('a write without the token is refused, in the API and in the page', async () => {
  const fresh = await context.newPage();
  await fresh.goto(PAGE);
  await fresh.waitForSelector('#members tbody tr[data-member-id]');
  assert.match(await fresh.textContent('#token-state'), /Read-only/);

  // The browser's own request, same origin, no token: 401, on loopback as
  // everywhere over TCP.
  const status = await fresh.evaluate(async (mac) => {
    const response = await fetch('/api/v1/reservations', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ mac, address: '10.0.0.78', hostname: null }),
    });
    return response.status;
  }, REFUSED_MAC);
  assert.equal(status, 401);

  // The form shows the refusal and what to do.
  await fresh.fill('#reservation-mac', REFUSED_MAC);
  await fresh.fill('#reservation-address', '10.0.0.78');
  await fresh.press('#reservation-address', 'Enter');
  await fresh.waitForSelector('#reservation-message.error', { timeout: 10000 });
  const message = await fresh.textContent('#reservation-message');
  assert.match(message, /401/);
  assert.match(message, /token/);

  // The cluster token is not an admin credential.
  const withClusterToken = await fetch(`${BASE}/api/v1/reservations`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${CLUSTER_TOKEN}` },
    body: JSON.stringify({ mac: REFUSED_MAC, address: '10.0.0.78', hostname: null }),
  });
  assert.equal(withClusterToken.status, 401);

  // Another origin (node 2's own dashboard is one) cannot write, even with
  // the token: a browser-like request with its Origin is refused with 403.
  const cross = await fetch(`${BASE}/api/v1/reservations`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Authorization: `Bearer ${TOKEN}`,
      Origin: OTHER,
      'Sec-Fetch-Site': 'same-site',
    },
    body: JSON.stringify({ mac: REFUSED_MAC, address: '10.0.0.78', hostname: null }),
  });
  assert.equal(cross.status, 403);
  assert.equal((await cross.json()).error, 'forbidden');

  // And a page on the other origin cannot smuggle one through with no-cors.
  const other = await context.newPage();
  await other.goto(`${OTHER}/ui/`);
  await other.evaluate(async ({ url, mac }) => {
    await fetch(url, {
      method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' },
      body: JSON.stringify({ mac, address: '10.0.0.78', hostname: null }),
    }).catch(() => {});
  }, { url: `${BASE}/api/v1/reservations`, mac: REFUSED_MAC });
  await other.close();

  const listed = dnsctlReservations();
  assert.ok(!listed.some((r) => r.mac === REFUSED_MAC), `a refused write went through: ${JSON.stringify(listed)}`);
  await fresh.close();
});

test('a killed node turns red within 5 s on a surviving node\'s page', async () => {
  await page.goto(PAGE);
  const row = `#members tbody tr[data-member-id="${VICTIM_ID}"]`;
  await page.waitForSelector(`${row}[data-health="up"]`, { timeout: 10000 });
  const killed = Date.now();
  process.kill(VICTIM_PID, 'SIGKILL');
  await page.waitForSelector(`${row}[data-health="down"]`, { timeout: 5000 });
  const elapsed = Date.now() - killed;
  console.log(`node ${VICTIM_ID} shown down ${elapsed} ms after SIGKILL`);
  assert.ok(elapsed < 5000);
  assert.equal(await page.textContent(`${row} .health`), 'down');
  const background = await page.$eval(`${row} td`, (cell) => getComputedStyle(cell).backgroundColor);
  const [red, green, blue] = background.match(/\d+/g).map(Number);
  assert.ok(red > green && red > blue, `the row is not red: ${background}`);
  // This node's own page keeps working with a member down.
  assert.doesNotMatch(await page.textContent('#connection'), /Cannot reach/);
  await top(page);
  await page.screenshot({ path: join(SHOTS, 'member-down.png') });
  assert.deepEqual(pageProblems, []);
});
