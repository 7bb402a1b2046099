// The admin console: plain script, no build step, no framework. It calls the admin API with
// relative URLs, so it works under whatever path the app mounts the handler at. Every value from
// the API goes into the page through textContent, never as HTML.

const STATS_EVERY_MS = 5000;
const PAGE_SIZE = 20;
// The shape of a public session id (28 base64url characters): "Any" searches look it up by id first.
const SESSION_ID = /^[A-Za-z0-9_-]{28}$/;

const state = {
  // The filter the current listing uses: { subject } | { q } | { id } | {}.
  filter: {},
  // Cursors of the pages before the current one (null for the first), for "Previous".
  previous: [],
  cursor: null,
  nextCursor: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text != null) node.textContent = String(text);
  if (attrs) for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

function say(text, isError) {
  const message = $('message');
  message.textContent = text;
  message.classList.toggle('error', Boolean(isError));
}

/** Calls the API; resolves to the parsed body (null for 204), rejects with the API's error message. */
async function api(method, path) {
  // Same-origin fetch: the browser adds Sec-Fetch-Site: same-origin, the proof mutating routes need.
  const response = await fetch(path, { method, credentials: 'same-origin', headers: { accept: 'application/json' } });
  if (response.status === 204) return null;
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = body?.error?.message ?? `HTTP ${response.status}`;
    throw new Error(`${message} (${response.status})`);
  }
  return body;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value != null && value !== '') search.set(name, value);
  return search.toString();
}

const DATE = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

/** A short local time, the exact ISO time in its tooltip. */
function when(iso) {
  if (iso == null) return el('span', '–');
  const date = new Date(iso);
  return el('time', Number.isNaN(date.getTime()) ? iso : DATE.format(date), { datetime: iso, title: iso });
}

/** "Firefox 128 on Android" from a User-Agent, for the table; the details show it whole. */
function browserName(userAgent) {
  if (!userAgent) return 'unknown device';
  // Most specific first: Edge's and Chrome's agents name Chrome and Safari too, Chrome's names Safari.
  const browser = [/\b(Edg)\/(\d+)/, /\b(Firefox)\/(\d+)/, /\b(Chrome)\/(\d+)/, /\b(Version)\/(\d+).*Safari/]
    .map((pattern) => pattern.exec(userAgent))
    .find((found) => found !== null);
  const names = { Edg: 'Edge', Version: 'Safari' };
  const os = /Android|iPhone|iPad|Windows|Mac OS X|Linux|CrOS/.exec(userAgent)?.[0];
  const osNames = { 'Mac OS X': 'macOS', CrOS: 'ChromeOS' };
  if (!browser) return userAgent.length > 40 ? `${userAgent.slice(0, 40)}…` : userAgent;
  const name = `${names[browser[1]] ?? browser[1]} ${browser[2]}`;
  return os ? `${name} on ${osNames[os] ?? os}` : name;
}

function device(session) {
  const box = el('div');
  box.append(
    el('span', browserName(session.userAgent), { title: session.userAgent ?? '', 'data-testid': 'session-device' }),
    el('span', session.ip || 'unknown address', { class: 'sub', 'data-testid': 'session-ip' }),
  );
  return box;
}

function cell(label, content) {
  const td = el('td', null, { 'data-label': label });
  const wrap = typeof content === 'string' || content == null ? el('div', content ?? '–') : content;
  td.append(wrap);
  return td;
}

function row(session) {
  const tr = el('tr', null, { 'data-testid': 'session-row', 'data-id': session.id });
  const actions = el('div', null, { class: 'actions' });
  const details = el('button', 'Details', { type: 'button', 'data-testid': 'show-details' });
  details.addEventListener('click', () => showDetails(session.id));
  const revoke = el('button', 'Revoke', { type: 'button', class: 'danger', 'data-testid': 'revoke-session' });
  revoke.addEventListener('click', () => revokeOne(session));
  actions.append(details, revoke);
  if (session.subject != null) {
    const all = el('button', 'Revoke all of user', { type: 'button', class: 'danger', 'data-testid': 'revoke-all' });
    all.addEventListener('click', () => revokeAll(session.subject));
    actions.append(all);
  }
  tr.append(
    cell('User', el('div', session.subject ?? '(anonymous)', { 'data-testid': 'session-subject' })),
    cell('Display name', el('div', session.displayName ?? '–', { 'data-testid': 'session-name' })),
    cell('Device and address', device(session)),
    cell('Created', when(session.createdAt)),
    cell('Last seen', when(session.lastSeenAt)),
    cell('Expires', when(session.expiresAt)),
    cell('Absolute expiry', when(session.absoluteExpiresAt)),
    cell('', actions),
  );
  return tr;
}

async function loadPage() {
  const body = await api('GET', `api/sessions?${query({ ...state.filter, cursor: state.cursor, limit: PAGE_SIZE })}`);
  const rows = $('rows');
  rows.replaceChildren(...body.sessions.map(row));
  state.nextCursor = body.nextCursor ?? null;
  $('next').disabled = state.nextCursor === null;
  $('prev').disabled = state.previous.length === 0;
  $('page-number').textContent = `Page ${state.previous.length + 1}`;
  return body.sessions.length;
}

/** How the one search box becomes a filter: the chosen field, or for "Any" an id, then a user, then a name prefix. */
async function resolveFilter(field, text) {
  if (text === '') return {};
  if (field !== 'any') return { [field]: text };
  if (SESSION_ID.test(text)) {
    const byId = await api('GET', `api/sessions?${query({ id: text, limit: 1 })}`);
    if (byId.sessions.length > 0) return { id: text };
  }
  const bySubject = await api('GET', `api/sessions?${query({ subject: text, limit: 1 })}`);
  if (bySubject.sessions.length > 0) return { subject: text };
  return { q: text };
}

async function search() {
  say('Searching…');
  try {
    const text = $('search-text').value.trim();
    state.filter = await resolveFilter($('search-field').value, text);
    state.previous = [];
    state.cursor = null;
    const count = await loadPage();
    say(count > 0 ? describeFilter() : 'No sessions found.');
  } catch (error) {
    say(error.message, true);
  }
}

function describeFilter() {
  const f = state.filter;
  if (f.id) return `Session ${f.id}`;
  if (f.subject) return `Sessions of user "${f.subject}"`;
  if (f.q) return `Display names starting with "${f.q}"`;
  return 'All live sessions';
}

async function turn(forward) {
  try {
    if (forward) {
      if (state.nextCursor === null) return;
      state.previous.push(state.cursor);
      state.cursor = state.nextCursor;
    } else {
      if (state.previous.length === 0) return;
      state.cursor = state.previous.pop() ?? null;
    }
    say(describeFilter());
    await loadPage();
  } catch (error) {
    say(error.message, true);
  }
}

/** Reloads the current page after a revocation; an emptied last page steps back one. */
async function reload() {
  const count = await loadPage();
  if (count === 0 && state.previous.length > 0) {
    state.cursor = state.previous.pop() ?? null;
    await loadPage();
  }
}

async function showDetails(id) {
  try {
    const { session } = await api('GET', `api/sessions/${encodeURIComponent(id)}`);
    const list = $('details-list');
    const pairs = [
      ['Session id', session.id],
      ['User', session.subject ?? '(anonymous)'],
      ['Display name', session.displayName ?? '–'],
      ['Created', session.createdAt],
      ['Last seen', session.lastSeenAt],
      ['Expires', session.expiresAt],
      ['Absolute expiry', session.absoluteExpiresAt],
      ['Address', session.ip ?? '–'],
      ['Device', session.userAgent ?? '–'],
      ['Created from', session.createdIp ?? '–'],
      ['Created on device', session.createdUserAgent ?? '–'],
      ['Data fields', (session.dataFields ?? []).length === 0 ? '(none)' : session.dataFields.map(dataField).join('\n')],
    ];
    list.replaceChildren();
    for (const [name, value] of pairs) list.append(el('dt', name), el('dd', value, { 'data-field': name }));
    $('details').showModal();
  } catch (error) {
    say(error.message, true);
  }
}

/** "name (N bytes)", and its value when the handler shows values (`showData`). */
function dataField(field) {
  const size = `${field.name} (${field.bytes} bytes)`;
  return 'value' in field ? `${size}: ${JSON.stringify(field.value)}` : size;
}

/** Resolves true when the operator confirms in the dialog. */
function confirmAction(text, okLabel) {
  const dialog = $('confirm');
  $('confirm-text').textContent = text;
  dialog.querySelector('[value="ok"]').textContent = okLabel;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
  });
}

async function revokeOne(session) {
  const who = session.displayName ?? session.subject ?? 'an anonymous user';
  if (!(await confirmAction(`Revoke this session of ${who}? The device is logged out at its next request.`, 'Revoke session'))) return;
  try {
    await api('DELETE', `api/sessions/${encodeURIComponent(session.id)}`);
    await Promise.all([reload(), refreshStats()]);
    say(`Revoked session ${session.id}.`);
  } catch (error) {
    say(error.message, true);
    // Already gone (revoked elsewhere, or expired): the page shows what the store holds now.
    await Promise.all([reload(), refreshStats()]).catch(() => {});
  }
}

async function revokeAll(subject) {
  if (!(await confirmAction(`Revoke every session of user "${subject}"? They are logged out everywhere.`, 'Revoke all'))) return;
  try {
    const { revoked } = await api('DELETE', `api/subjects/${encodeURIComponent(subject)}/sessions`);
    await Promise.all([reload(), refreshStats()]);
    say(`Revoked ${revoked} session${revoked === 1 ? '' : 's'} of user "${subject}".`);
  } catch (error) {
    say(error.message, true);
  }
}

function setStat(testId, value) {
  document.querySelector(`[data-testid="${testId}"]`).textContent = value == null ? '–' : String(value);
}

async function refreshStats() {
  try {
    const stats = await api('GET', 'api/stats');
    setStat('stat-live', stats.live);
    setStat('stat-subjects', stats.subjects);
    // null: the store cannot count users without a scan, so the box is left out rather than shown empty.
    document.querySelector('[data-testid="stat-subjects"]').parentElement.hidden = stats.subjects == null;
    setStat('stat-created', stats.recent?.created);
    setStat('stat-logged-in', stats.recent?.loggedIn);
    setStat('stat-logout', stats.recent?.revoked?.logout);
    setStat('stat-user', stats.recent?.revoked?.user);
    setStat('stat-admin', stats.recent?.revoked?.admin);
    setStat('stat-evicted', stats.recent?.revoked?.evicted);
    setStat('stat-expired', stats.recent?.expired);
    const minutes = Math.round((stats.recent?.windowSeconds ?? 3600) / 60);
    document.querySelector('[data-testid="stats-window"]').textContent =
      `Counters: events seen by this server process in the last ${minutes} minutes (or since it started). Refreshed every ${STATS_EVERY_MS / 1000} s.`;
  } catch (error) {
    say(`Stats: ${error.message}`, true);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('search').addEventListener('submit', (event) => {
    event.preventDefault();
    search();
  });
  $('next').addEventListener('click', () => turn(true));
  $('prev').addEventListener('click', () => turn(false));
  refreshStats();
  setInterval(refreshStats, STATS_EVERY_MS);
  search();
});
