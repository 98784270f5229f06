// raftmasq dashboard: polls this node's admin API and renders it.
// Data only ever reaches the page through textContent and attributes, never
// as HTML. The token lives in sessionStorage (this tab only) and travels in an
// Authorization header; the server refuses browser writes without it.
'use strict';

const API = '/api/v1';
const TOKEN_KEY = 'raftmasq.dashboard.token';
const STATUS_EVERY_MS = 2000; // a member that dies shows red within ~3 s
const TABLES_EVERY_MS = 5000;
const SVG = 'http://www.w3.org/2000/svg';

const state = {
  status: null,
  clockOffset: 0,
  leases: [],
  sort: { key: 'address', dir: 1 },
  rendered: {}, // section -> JSON of what is on screen, to skip identical redraws
  lastEventId: 0,
};

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  return node;
}

/// Redraws a section only when its data changed (keeps focus and scrolling).
function changed(section, data) {
  const json = JSON.stringify(data);
  if (state.rendered[section] === json) return false;
  state.rendered[section] = json;
  return true;
}

class ApiFailure extends Error {
  constructor(status, kind, message) {
    super(message);
    this.status = status;
    this.kind = kind;
  }
}

// Reads carry the token too: a node off this host answers reads only with it
// (unless node.admin_public_reads).
function authorized(headers) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = 'Bearer ' + token;
  return headers;
}

async function getJson(path) {
  const headers = authorized({ Accept: 'application/json' });
  const response = await fetch(API + path, { headers, cache: 'no-store' });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiFailure(response.status, body.error, body.message || response.statusText);
  return body;
}

async function send(method, path, body) {
  const headers = authorized({ Accept: 'application/json', 'Content-Type': 'application/json' });
  const response = await fetch(API + path, { method, headers, body: JSON.stringify(body), cache: 'no-store' });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiFailure(response.status, answer.error, answer.message || response.statusText);
  return answer;
}

function now() {
  return Date.now() + state.clockOffset;
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

function relative(ms) {
  const secs = Math.round((ms - now()) / 1000);
  const abs = Math.abs(secs);
  const text = abs < 90 ? `${abs} s` : abs < 5400 ? `${Math.round(abs / 60)} min` : `${Math.round(abs / 3600)} h`;
  return secs >= 0 ? `in ${text}` : `${text} ago`;
}

function dash(value) {
  return value === null || value === undefined || value === '' ? '–' : String(value);
}

// ---- polling ---------------------------------------------------------------

function every(ms, task) {
  const run = async () => {
    try {
      await task();
    } catch (error) {
      console.warn(error);
    } finally {
      setTimeout(run, ms);
    }
  };
  run();
}

async function refreshStatus() {
  try {
    const status = await getJson('/status');
    state.status = status;
    state.clockOffset = status.now - Date.now();
    renderSummary(status);
    renderMembers(status);
    renderPool(status.pool);
    renderHostChoices(status.members);
    setConnection(true, `Live · updated ${clock(now())}`);
  } catch (error) {
    setConnection(false, `Cannot reach this node (${error.message}); retrying…`);
    throw error;
  }
}

function setConnection(ok, text) {
  const line = $('connection');
  line.textContent = text;
  line.classList.toggle('lost', !ok);
}

async function refreshTables() {
  const [leases, leases6, reservations, records, conflicts] = await Promise.all([
    getJson('/leases'),
    // A node without DHCPv6 support answers 404: no v6 rows then.
    getJson('/leases6').catch(() => []),
    getJson('/reservations'),
    getJson('/records'),
    getJson('/conflicts'),
  ]);
  state.leases = leases.concat(leases6.map(v6Row));
  renderLeases();
  renderReservations(reservations);
  renderRecords(records);
  renderConflicts(conflicts);
}

async function refreshHistory() {
  const history = await getJson('/history');
  renderRates(history);
  renderEvents(history.events);
}

// ---- header and members ----------------------------------------------------

function renderSummary(status) {
  $('node-name').textContent = `node ${status.node_id}`;
  document.title = `raftmasq · node ${status.node_id} (${status.role})`;
  $('sum-role').textContent = status.role;
  $('sum-leader').textContent = status.leader === null ? 'none' : `node ${status.leader}`;
  $('sum-term').textContent = String(status.term);
  $('sum-quorum').textContent = status.has_quorum ? 'yes' : 'no';
  $('sum-applied').textContent = dash(status.applied);
}

function renderMembers(status) {
  if (!changed('members', status.members)) return;
  const rows = status.members.map((member) => {
    const health = member.reachable ? 'up' : 'down';
    const link = member.admin_addr
      ? el('a', { href: `${location.protocol}//${member.admin_addr}/ui/`, text: member.admin_addr })
      : '–';
    return el('tr', { class: health === 'down' ? 'down' : '', 'data-member-id': member.id, 'data-health': health },
      el('th', { scope: 'row', text: `node ${member.id}` }),
      el('td', { class: member.role === 'leader' ? 'role-leader' : '', text: member.role }),
      el('td', {}, el('span', { class: `health ${health}`, title: member.error || 'answered the probe', text: health })),
      el('td', {}, link),
      el('td', { text: dash(member.term) }),
      el('td', { text: dash(member.applied) }),
      el('td', { text: member.role === 'leader' ? '–' : dash(member.lag) }));
  });
  $('members').tBodies[0].replaceChildren(...rows);
}

function renderHostChoices(members) {
  const ids = members.map((m) => m.id);
  if (!changed('hosts', ids)) return;
  const select = $('lease-host');
  const chosen = select.value;
  select.replaceChildren(el('option', { value: '', text: 'all hosts' }),
    ...ids.map((id) => el('option', { value: id, text: `node ${id}` })));
  select.value = ids.map(String).includes(chosen) ? chosen : '';
}

// ---- pool --------------------------------------------------------------------

function renderPool(pool) {
  if (!changed('pool', pool)) return;
  const size = pool.size || 0;
  const held = Math.max(0, size - pool.free - pool.bound - pool.offered - pool.quarantined);
  const used = size === 0 ? 0 : 1 - pool.free / size;
  const percent = (used * 100).toFixed(used > 0 && used < 0.01 ? 2 : 1);
  $('pool-headline').textContent = `${percent}% in use`;
  $('pool-size').textContent = `${pool.in_use} of ${size.toLocaleString('en')} addresses leased`;
  const segments = [
    ['bound', pool.bound], ['offered', pool.offered], ['quarantined', pool.quarantined], ['held', held],
  ];
  const chart = $('pool-chart');
  chart.replaceChildren();
  let x = 0;
  for (const [name, count] of segments) {
    if (size === 0 || count === 0) continue;
    // At least a sliver, so a handful of leases in a big pool stays visible.
    const width = Math.max(1.5, (count / size) * 300);
    chart.append(svg('rect', { class: `seg-${name}`, x, y: 0, width, height: 28 }));
    x += width;
  }
  chart.setAttribute('aria-label', `Pool utilisation ${percent}%: ${pool.bound} bound, ${pool.offered} offered, ` +
    `${pool.quarantined} quarantined, ${held} held back, ${pool.free} free of ${size}`);
  $('pool-legend').replaceChildren(
    el('li', { class: 'bound', text: `${pool.bound} bound` }),
    el('li', { class: 'offered', text: `${pool.offered} offered` }),
    el('li', { class: 'quarantined', text: `${pool.quarantined} quarantined` }),
    el('li', { class: 'held', text: `${held} reserved/held` }),
    el('li', { class: 'free', text: `${pool.free} free` }),
    el('li', { text: `${pool.reserved} reservations` }));
}

// ---- rates -------------------------------------------------------------------

function renderRates(history) {
  const samples = history.rates;
  if (!changed('rates', samples)) return;
  const end = samples.length ? samples[samples.length - 1].at : now();
  const start = end - history.window_secs * 1000;
  drawChart($('dhcp-chart'), samples, start, end, [['dhcp_received', 'received'], ['dhcp_replies', 'replies']], 'DHCP');
  drawChart($('dns-chart'), samples, start, end, [['dns_queries', 'queries']], 'DNS');
}

function niceMax(value) {
  if (value <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function drawChart(chart, samples, start, end, series, label) {
  const [left, right, top, bottom] = [44, 592, 10, 196];
  const peak = Math.max(0, ...samples.flatMap((s) => series.map(([key]) => s[key])));
  const max = niceMax(peak);
  const x = (at) => left + ((at - start) / (end - start)) * (right - left);
  const y = (value) => bottom - (value / max) * (bottom - top);
  chart.replaceChildren();
  for (const fraction of [0, 0.5, 1]) {
    const value = max * fraction;
    chart.append(svg('line', { class: 'grid-line', x1: left, x2: right, y1: y(value), y2: y(value) }));
    const text = svg('text', { x: left - 6, y: y(value) + 4, 'text-anchor': 'end' });
    text.textContent = Number.isInteger(value) ? String(value) : value.toFixed(1);
    chart.append(text);
  }
  for (const [at, words, anchor] of [[left, '10 min ago', 'start'], [right, 'now', 'end']]) {
    const text = svg('text', { x: at, y: 216, 'text-anchor': anchor });
    text.textContent = words;
    chart.append(text);
  }
  const latest = samples.length ? samples[samples.length - 1] : null;
  const parts = [];
  for (const [key, name] of series) {
    if (samples.length > 0) {
      const points = samples.map((s) => `${x(s.at).toFixed(1)},${y(s[key]).toFixed(1)}`).join(' ');
      chart.append(svg('polyline', { class: `line ${name}`, points }));
    }
    parts.push(`${name} ${latest ? latest[key].toFixed(1) : '0'}/s now`);
  }
  chart.setAttribute('aria-label', `${label} over the last 10 minutes: ${parts.join(', ')}; peak ${peak.toFixed(1)}/s`);
}

// ---- events ------------------------------------------------------------------

function renderEvents(events) {
  const newest = events.length ? events[events.length - 1].id : 0;
  if (newest === state.lastEventId && state.rendered.events) return;
  state.lastEventId = newest;
  state.rendered.events = true;
  const list = $('events');
  if (events.length === 0) {
    list.replaceChildren(el('li', { class: 'empty', text: 'No leader changes, conflicts or declines in the last 10 minutes.' }));
    return;
  }
  list.replaceChildren(...events.slice().reverse().map((event) => el('li', { 'data-kind': event.kind },
    el('time', { datetime: new Date(event.at).toISOString(), text: clock(event.at) }),
    el('span', { class: `kind kind-${event.kind}`, text: event.kind }),
    el('span', { text: event.message }))));
}

// ---- leases ------------------------------------------------------------------

/// A DHCPv6 lease (`/leases6`) as a row of the one lease table: its DUID
/// stands where a v4 lease's client id does (searchable, and in the MAC
/// cell when the DUID names no MAC); it is bound, and no host is recorded.
function v6Row(l) {
  return {
    family: 'ipv6',
    address: l.address,
    mac: l.mac,
    client_id: l.duid,
    iaid: l.iaid,
    requested_hostname: null,
    granted_name: l.name,
    state: 'bound',
    expires_at: l.expires_at,
    seen_by: null,
  };
}

/// An IPv6 address as 32 hex digits, so addresses sort by value.
function expandV6(address) {
  const [head, tail = ''] = address.split('::');
  const groups = (part) => (part ? part.split(':') : []);
  const [h, t] = [groups(head), groups(tail)];
  const middle = address.includes('::') ? Array(8 - h.length - t.length).fill('0') : [];
  return [...h, ...middle, ...t].map((g) => g.padStart(4, '0')).join('');
}

const SORTERS = {
  // v4 addresses first, then v6.
  address: (l) => (l.family === 'ipv6'
    ? `6:${expandV6(l.address)}`
    : `4:${l.address.split('.').map((part) => part.padStart(3, '0')).join('.')}`),
  mac: (l) => l.mac || '',
  hostname: (l) => l.requested_hostname || '',
  name: (l) => l.granted_name || '',
  state: (l) => l.state,
  expires: (l) => l.expires_at,
  host: (l) => (l.seen_by === null ? -1 : l.seen_by),
};

function visibleLeases() {
  const needle = $('lease-search').value.trim().toLowerCase();
  const host = $('lease-host').value;
  const wanted = $('lease-state').value;
  const key = SORTERS[state.sort.key];
  return state.leases
    .filter((l) => !needle || [l.address, l.mac, l.client_id, l.requested_hostname, l.granted_name, l.network]
      .some((field) => field && field.toLowerCase().includes(needle)))
    .filter((l) => !host || String(l.seen_by) === host)
    .filter((l) => !wanted || l.state === wanted)
    .sort((a, b) => {
      const [ka, kb] = [key(a), key(b)];
      const order = ka < kb ? -1 : ka > kb ? 1 : SORTERS.address(a) < SORTERS.address(b) ? -1 : 1;
      return order * state.sort.dir;
    });
}

function renderLeases(force) {
  const leases = visibleLeases();
  const minute = Math.floor(now() / 60000); // "expires in" moves once a minute
  if (!changed('leases', [leases, state.sort, minute]) && !force) return;
  const rows = leases.map((l) => el('tr', { 'data-address': l.address, 'data-state': l.state, 'data-family': l.family || 'ipv4' },
    l.family === 'ipv6'
      ? el('td', { title: `DHCPv6: DUID ${l.client_id}, IAID ${l.iaid}`, text: l.address })
      // A lease outside the default network names its network after the address.
      : el('td', {}, l.address, l.network && l.network !== 'default'
        ? el('span', { class: 'network', 'data-network': l.network, text: ` ${l.network}` })
        : null),
    el('td', { text: l.mac || `DUID ${l.client_id}` }),
    el('td', { text: dash(l.requested_hostname) }),
    el('td', { text: dash(l.granted_name) }),
    el('td', { text: l.state }),
    el('td', { title: new Date(l.expires_at).toISOString(), text: relative(l.expires_at) }),
    el('td', { text: l.seen_by === null ? '–' : `node ${l.seen_by}` })));
  if (rows.length === 0) {
    const text = state.leases.length ? 'No lease matches the filters.' : 'No leases yet.';
    rows.push(el('tr', {}, el('td', { class: 'empty', colspan: 7, text })));
  }
  $('leases').tBodies[0].replaceChildren(...rows);
  $('lease-count').textContent = `${leases.length} of ${state.leases.length} leases`;
  for (const th of $('leases').tHead.rows[0].cells) {
    if (th.dataset.sort === state.sort.key) th.setAttribute('aria-sort', state.sort.dir > 0 ? 'ascending' : 'descending');
    else th.removeAttribute('aria-sort');
  }
}

function setupLeases() {
  for (const id of ['lease-search', 'lease-host', 'lease-state']) {
    $(id).addEventListener('input', () => renderLeases());
  }
  for (const th of $('leases').tHead.rows[0].cells) {
    th.querySelector('button').addEventListener('click', () => {
      const key = th.dataset.sort;
      state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
      renderLeases();
    });
  }
}

// ---- conflicts ---------------------------------------------------------------

function renderConflicts(conflicts) {
  if (!changed('conflicts', conflicts)) return;
  const rows = conflicts.slice().reverse().map((c) => el('tr', {},
    el('td', { text: clock(c.at) }),
    el('td', { text: c.name }),
    el('td', { text: c.held_by_zone ? 'the zone (static record or NS)' : `${c.owner_address} (${c.owner})` }),
    el('td', { text: `${c.claimant_address} (${c.claimant_mac})` }),
    el('td', { text: c.granted_instead ? `got ${c.granted_instead}` : 'refused' })));
  if (rows.length === 0) rows.push(el('tr', {}, el('td', { class: 'empty', colspan: 5, text: 'No hostname conflicts.' })));
  $('conflicts').tBodies[0].replaceChildren(...rows);
}

// ---- writes ------------------------------------------------------------------

function report(target, ok, text) {
  const line = $(target);
  line.classList.toggle('ok', ok);
  line.classList.toggle('error', !ok);
  line.textContent = text;
}

function explain(error) {
  if (error instanceof ApiFailure) {
    const hint = error.status === 401 ? ' Enter the admin token at the top of the page.' : '';
    return `Refused (${error.status} ${error.kind || 'error'}): ${error.message}${hint}`;
  }
  return `Failed: ${error.message}`;
}

async function perform(target, action) {
  try {
    const answer = await action();
    report(target, true, answer.message || 'Done.');
    await refreshTables();
    return true;
  } catch (error) {
    report(target, false, explain(error));
    return false;
  }
}

function renderReservations(reservations) {
  if (!changed('reservations', reservations)) return;
  const rows = reservations.map((r) => el('tr', { 'data-mac': r.mac },
    el('td', { text: r.mac }),
    el('td', { text: r.address }),
    el('td', { text: dash(r.hostname) }),
    el('td', {}, el('button', {
      type: 'button', class: 'quiet', text: 'Remove', 'aria-label': `Remove the reservation of ${r.mac}`,
      onclick: () => perform('reservation-message', () => send('DELETE', `/reservations/${encodeURIComponent(r.mac)}`)),
    }))));
  if (rows.length === 0) rows.push(el('tr', {}, el('td', { class: 'empty', colspan: 4, text: 'No reservations.' })));
  $('reservations').tBodies[0].replaceChildren(...rows);
}

function setupReservationForm() {
  const form = $('reservation-form');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const mac = $('reservation-mac').value.trim();
    const address = $('reservation-address').value.trim();
    const hostname = $('reservation-hostname').value.trim();
    if (!mac || !address) {
      report('reservation-message', false, 'MAC and address are required.');
      (mac ? $('reservation-address') : $('reservation-mac')).focus();
      return;
    }
    const body = { mac, address, hostname: hostname || null };
    if (await perform('reservation-message', () => send('POST', '/reservations', body))) form.reset();
  });
}

function recordValue(data) {
  switch (data.type) {
    case 'A': case 'AAAA': return data.address;
    case 'CNAME': return data.target;
    case 'TXT': return `"${data.text}"`;
    case 'MX': return `${data.preference} ${data.exchange}`;
    case 'SRV': return `${data.priority} ${data.weight} ${data.port} ${data.target}`;
    default: return JSON.stringify(data);
  }
}

function renderRecords(records) {
  if (!changed('records', records)) return;
  const rows = records.map((r) => el('tr', { 'data-name': r.name },
    el('td', { text: r.name }),
    el('td', { text: r.data.type }),
    el('td', { text: recordValue(r.data) }),
    el('td', { text: dash(r.ttl) }),
    el('td', {}, el('button', {
      type: 'button', class: 'quiet', text: 'Remove', 'aria-label': `Remove ${r.data.type} record ${r.name}`,
      onclick: () => perform('record-message', () => send('DELETE', '/records', r)),
    }))));
  if (rows.length === 0) rows.push(el('tr', {}, el('td', { class: 'empty', colspan: 5, text: 'No static records.' })));
  $('records').tBodies[0].replaceChildren(...rows);
}

const RECORD_HINTS = {
  A: 'An IPv4 address, e.g. 172.16.0.80',
  AAAA: 'An IPv6 address, e.g. fd42::80',
  CNAME: 'The target name, e.g. web (in the cluster domain) or example.com.',
  TXT: 'The text, e.g. v=spf1 -all',
  MX: 'Preference and mail server, e.g. 10 mail',
  SRV: 'Priority, weight, port and target, e.g. 10 5 5060 sip',
};

/// The record's data from the form's type and value, or a message.
function recordData(type, value) {
  const words = value.split(/\s+/).filter(Boolean);
  const number = (word) => (/^\d+$/.test(word) ? Number(word) : NaN);
  switch (type) {
    case 'A': case 'AAAA': return { type, address: value };
    case 'CNAME': return { type, target: value };
    case 'TXT': return { type, text: value };
    case 'MX':
      if (words.length !== 2 || Number.isNaN(number(words[0]))) return 'MX needs "preference exchange", e.g. 10 mail';
      return { type, preference: number(words[0]), exchange: words[1] };
    case 'SRV':
      if (words.length !== 4 || words.slice(0, 3).some((w) => Number.isNaN(number(w)))) {
        return 'SRV needs "priority weight port target", e.g. 10 5 5060 sip';
      }
      return { type, priority: number(words[0]), weight: number(words[1]), port: number(words[2]), target: words[3] };
    default: return `unknown type ${type}`;
  }
}

function setupRecordForm() {
  const form = $('record-form');
  const type = $('record-type');
  type.addEventListener('change', () => { $('record-hint').textContent = RECORD_HINTS[type.value]; });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = $('record-name').value.trim();
    const value = $('record-value').value.trim();
    const ttlText = $('record-ttl').value.trim();
    if (!name || !value) {
      report('record-message', false, 'Name and value are required.');
      (name ? $('record-value') : $('record-name')).focus();
      return;
    }
    const data = recordData(type.value, value);
    if (typeof data === 'string') {
      report('record-message', false, data);
      $('record-value').focus();
      return;
    }
    if (ttlText && !/^\d+$/.test(ttlText)) {
      report('record-message', false, 'TTL is a number of seconds.');
      $('record-ttl').focus();
      return;
    }
    const record = { name, ttl: ttlText ? Number(ttlText) : null, data };
    if (await perform('record-message', () => send('POST', '/records', record))) {
      form.reset();
      $('record-hint').textContent = RECORD_HINTS.A;
    }
  });
}

// ---- token -------------------------------------------------------------------

function showToken() {
  const on = Boolean(sessionStorage.getItem(TOKEN_KEY));
  const line = $('token-state');
  line.textContent = on
    ? 'Token set for this tab: changes are sent with it.'
    : 'Read-only: enter the admin token (node.admin_token_file) to make changes.';
  line.classList.toggle('on', on);
}

function setupToken() {
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = $('token').value.trim();
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    $('token').value = '';
    showToken();
  });
  $('token-forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showToken();
  });
  showToken();
}

document.addEventListener('DOMContentLoaded', () => {
  setupToken();
  setupLeases();
  setupReservationForm();
  setupRecordForm();
  every(STATUS_EVERY_MS, refreshStatus);
  every(TABLES_EVERY_MS, refreshTables);
  every(TABLES_EVERY_MS, refreshHistory);
});
