// The demo page: plain DOM, no framework, no build step. It talks only to the JSON API on the same
// origin; the session cookie is HttpOnly, so this script never sees the token.
// Everything from the server is written with textContent, never as HTML.

const $ = (id) => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`missing #${id}`);
  return element;
};

const state = {
  /** S from the API, or null while logged out. */
  session: null,
  /** Milliseconds since the epoch, from the latest response. */
  expiresAt: null,
  /** True while an expired session is being re-checked with the server. */
  checking: false,
  /** Only the answer to the latest increment updates the counter (answers can arrive out of order). */
  incrementSeq: 0,
  /** Where the next page of "Your sessions" starts; null when the list is complete. */
  sessionsCursor: null,
};

// ---------------------------------------------------------------------------------------------
// API

async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', cache: 'no-store', headers: {} };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    return { status: 0, body: { error: { code: 'NETWORK', message: 'The server cannot be reached.' } } };
  }
  let data = null;
  if ((response.headers.get('content-type') ?? '').startsWith('application/json')) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  return { status: response.status, body: data };
}

function errorText(result) {
  return result.body?.error?.message ?? `Request failed (HTTP ${result.status}).`;
}

// ---------------------------------------------------------------------------------------------
// Messages and formatting

function say(text, kind = 'info') {
  const message = $('message');
  message.textContent = text;
  message.className = kind === 'error' ? 'message error' : 'message';
  message.hidden = text === '';
}

function plural(n, unit) {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

function duration(seconds) {
  if (seconds < 60) return plural(seconds, 'second');
  if (seconds < 3600) return seconds % 60 === 0 ? plural(seconds / 60, 'minute') : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  if (seconds < 86400) return seconds % 3600 === 0 ? plural(seconds / 3600, 'hour') : `${(seconds / 3600).toFixed(1)} hours`;
  return plural(Math.round(seconds / 86400), 'day');
}

/** "4:05" or "1:02:03" for a countdown. */
function clock(ms) {
  const total = Math.ceil(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}

function ago(iso) {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** A readable name for a User-Agent string: "Chrome 131 on Linux". Order matters: Edge and Opera also say "Chrome". */
export function describeAgent(ua) {
  if (!ua) return 'Unknown browser';
  const browsers = [
    [/Edg(?:e|A|iOS)?\/(\d+)/, 'Edge'],
    [/OPR\/(\d+)/, 'Opera'],
    [/SamsungBrowser\/(\d+)/, 'Samsung Internet'],
    [/HeadlessChrome\/(\d+)/, 'Headless Chrome'],
    [/(?:Chrome|CriOS)\/(\d+)/, 'Chrome'],
    [/(?:Firefox|FxiOS)\/(\d+)/, 'Firefox'],
    [/Version\/(\d+)[\d.]* (?:Mobile\/\S+ )?Safari\//, 'Safari'],
    [/^curl\/(\d+)/, 'curl'],
    [/^(?:node|undici)\b/, 'Node.js'],
  ];
  let name = null;
  for (const [pattern, label] of browsers) {
    const match = pattern.exec(ua);
    if (match) {
      name = match[1] ? `${label} ${match[1]}` : label;
      break;
    }
  }
  const systems = [
    [/Windows/, 'Windows'],
    [/Android/, 'Android'],
    [/iPhone|iPad|iPod/, 'iOS'],
    [/Mac OS X|Macintosh/, 'macOS'],
    [/CrOS/, 'ChromeOS'],
    [/Linux/, 'Linux'],
  ];
  const system = systems.find(([pattern]) => pattern.test(ua))?.[1];
  if (name === null) name = ua.length > 40 ? `${ua.slice(0, 40)}…` : ua;
  return system ? `${name} on ${system}` : name;
}

// ---------------------------------------------------------------------------------------------
// Views

function showLoading() {
  $('loading').hidden = false;
  $('login-panel').hidden = true;
  $('session-panel').hidden = true;
}

function showLogin(message, kind) {
  state.session = null;
  state.expiresAt = null;
  state.checking = false;
  $('loading').hidden = true;
  $('session-panel').hidden = true;
  $('login-panel').hidden = false;
  $('sessions').replaceChildren();
  showMore(null);
  $('store-record').textContent = '';
  if (message !== undefined) say(message, kind);
  $('username').focus();
}

function setExpiry(ms) {
  if (Number.isFinite(ms)) state.expiresAt = ms;
  tick();
}

/** `admin` (from login and GET /api/session) shows the console link; other answers leave it as it is. */
function showSession(session, admin) {
  state.session = session;
  if (admin !== undefined) $('admin-link').hidden = admin !== true;
  $('loading').hidden = true;
  $('login-panel').hidden = true;
  $('session-panel').hidden = false;
  $('session-username').textContent = session.username;
  $('session-ttl').textContent = duration(session.ttl);
  $('session-absolute').textContent = new Date(session.absoluteExpiresAt).toLocaleString();
  const views = session.data?.views;
  $('views').textContent = String(typeof views === 'number' ? views : 0);
  const note = session.data?.note;
  if (typeof note === 'string' && document.activeElement !== $('note-input')) $('note-input').value = note;
  const select = $('ttl-select');
  if ([...select.options].some((option) => option.value === String(session.ttl))) select.value = String(session.ttl);
  setExpiry(Date.parse(session.expiresAt));
}

/** Renders a page of sessions: the first replaces the list, a later one is appended to it. */
function renderSessions(sessions, append) {
  const list = $('sessions');
  const items = sessions.map((s) => {
    const item = document.createElement('li');
    item.dataset.testid = 'session-row';
    item.dataset.sessionId = s.id;
    item.dataset.current = String(s.current);

    const who = document.createElement('div');
    who.className = 'who';
    const name = document.createElement('div');
    name.className = 'name';
    name.textContent = describeAgent(s.userAgent);
    name.dataset.testid = 'session-browser';
    if (s.current) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = 'this device';
      badge.dataset.testid = 'this-device';
      name.append(badge);
    }
    const meta = document.createElement('div');
    meta.className = 'meta';
    const ip = document.createElement('span');
    ip.textContent = s.ip ?? 'unknown IP';
    ip.dataset.testid = 'session-ip';
    const seen = document.createElement('span');
    seen.dataset.lastSeen = s.lastSeenAt;
    seen.dataset.testid = 'session-last-seen';
    seen.title = new Date(s.lastSeenAt).toLocaleString();
    seen.textContent = `last seen ${ago(s.lastSeenAt)}`;
    meta.append(ip, ' · ', seen);
    who.append(name, meta);

    const revoke = document.createElement('button');
    revoke.type = 'button';
    revoke.className = 'danger';
    revoke.textContent = s.current ? 'Log out' : 'Revoke';
    revoke.dataset.testid = 'revoke-session';
    revoke.addEventListener('click', () => revokeSession(s.id, s.current));

    item.append(who, revoke);
    return item;
  });
  if (append) list.append(...items);
  else list.replaceChildren(...items);
  $('revoke-others').disabled = list.children.length < 2 && state.sessionsCursor === null;
}

function showMore(cursor) {
  state.sessionsCursor = cursor;
  $('more-sessions').hidden = cursor === null;
}

// ---------------------------------------------------------------------------------------------
// Loading state from the server

/** A 401 in the middle of things: the session expired or was revoked from another device. */
function ended(message = 'Your session has ended. Log in again.') {
  showLogin(message, 'error');
}

async function loadStoreRecord() {
  const result = await api('GET', '/api/session/store');
  if (result.status === 401) return ended();
  if (result.status !== 200) return say(errorText(result), 'error');
  $('store-label').textContent = `(${result.body.store})`;
  $('store-record').textContent = JSON.stringify(result.body.record, null, 2);
  $('store-cache').textContent = cacheText(result.body.cache);
  setExpiry(result.body.record.expiresAt);
}

/** Whether this request found its session in the server's in-process cache (TESSERA_CACHE=on). */
function cacheText(cache) {
  if (cache === null || cache === undefined) return 'Cache off: every request reads its session from the store.';
  const where = cache.servedFromCache
    ? 'This request was served from the in-process cache: no store round trip.'
    : 'This request read its session from the store (the cache had no fresh copy, or a touch was due).';
  const channel = cache.pushed ? 'changes pushed by the store' : `entries kept at most ${cache.maxStaleness} ms`;
  return `${where} Cache: ${cache.entries} sessions, ${cache.hits} hits, ${cache.misses} misses; ${channel}.`;
}

/** The first page of the user's sessions; "More sessions" fetches the next one. */
async function loadSessions() {
  const result = await api('GET', '/api/sessions');
  if (result.status === 401) return ended();
  if (result.status !== 200) return say(errorText(result), 'error');
  showMore(result.body.nextCursor ?? null);
  renderSessions(result.body.sessions, false);
}

async function loadMoreSessions() {
  const cursor = state.sessionsCursor;
  if (cursor === null) return;
  const button = $('more-sessions');
  button.disabled = true;
  try {
    const result = await api('GET', `/api/sessions?cursor=${encodeURIComponent(cursor)}`);
    if (result.status === 401) return ended();
    if (result.status !== 200) return say(errorText(result), 'error');
    // A refresh meanwhile started the list again: this page belongs to the old one.
    if (state.sessionsCursor !== cursor) return;
    showMore(result.body.nextCursor ?? null);
    renderSessions(result.body.sessions, true);
  } finally {
    button.disabled = false;
  }
}

async function refresh() {
  const result = await api('GET', '/api/session');
  if (result.status === 200 && typeof result.body?.session?.username === 'string') {
    showSession(result.body.session, result.body.admin);
    await Promise.all([loadStoreRecord(), loadSessions()]);
  } else if (result.status === 200 || result.status === 401) {
    showLogin();
  } else {
    showLogin(errorText(result), 'error');
  }
}

// ---------------------------------------------------------------------------------------------
// The countdown

function tick() {
  const countdown = $('countdown');
  for (const element of document.querySelectorAll('[data-last-seen]')) {
    element.textContent = `last seen ${ago(element.dataset.lastSeen)}`;
  }
  if (state.session === null || state.expiresAt === null) return;
  const remaining = state.expiresAt - Date.now();
  const bar = $('countdown-bar');
  if (remaining <= 0) {
    countdown.textContent = 'expired';
    countdown.className = 'countdown expired';
    bar.style.width = '0';
    if (!state.checking) {
      state.checking = true;
      // The server decides: an expired session answers 401.
      api('GET', '/api/session').then((result) => {
        state.checking = false;
        if (result.status === 200 && typeof result.body?.session?.username === 'string') showSession(result.body.session);
        else showLogin('Your session expired. Log in again.', 'error');
      });
    }
    return;
  }
  countdown.textContent = clock(remaining);
  countdown.className = remaining < 10_000 ? 'countdown soon' : 'countdown';
  const total = (state.session.ttl ?? 1) * 1000;
  bar.style.width = `${Math.max(0, Math.min(100, (remaining / total) * 100))}%`;
}

// ---------------------------------------------------------------------------------------------
// Actions

async function login(event) {
  event.preventDefault();
  const username = $('username').value.trim();
  const ttl = Number($('login-ttl').value);
  const button = $('login-button');
  button.disabled = true;
  try {
    const result = await api('POST', '/api/login', { username, ttl });
    if (result.status !== 200) return say(errorText(result), 'error');
    say('');
    showSession(result.body.session, result.body.admin);
    await Promise.all([loadStoreRecord(), loadSessions()]);
  } finally {
    button.disabled = false;
  }
}

async function increment() {
  const seq = ++state.incrementSeq;
  const result = await api('POST', '/api/session/increment', { field: 'views' });
  if (result.status === 401) return ended();
  if (result.status !== 200) return say(errorText(result), 'error');
  if (seq === state.incrementSeq) {
    $('views').textContent = String(result.body.value);
    await loadStoreRecord();
  }
}

async function saveNote(event) {
  event.preventDefault();
  const result = await api('PUT', '/api/session/data/note', { value: $('note-input').value });
  if (result.status === 401) return ended();
  if (result.status !== 200) return say(errorText(result), 'error');
  say('Note saved in the session.');
  showSession(result.body.session);
  await loadStoreRecord();
}

async function changeTtl(event) {
  event.preventDefault();
  const ttl = Number($('ttl-select').value);
  const result = await api('PUT', '/api/session/ttl', { ttl });
  if (result.status === 401) return ended();
  if (result.status !== 200) return say(errorText(result), 'error');
  say(`TTL changed to ${duration(ttl)}.`);
  showSession(result.body.session);
  await loadStoreRecord();
}

async function logout() {
  const result = await api('POST', '/api/logout');
  if (result.status !== 204) return say(errorText(result), 'error');
  showLogin('Logged out. The session was deleted from the store.');
}

async function revokeSession(id, current) {
  const result = await api('DELETE', `/api/sessions/${encodeURIComponent(id)}`);
  if (result.status === 401) return ended();
  if (result.status === 404) {
    say('That session had already ended.');
    return loadSessions();
  }
  if (result.status !== 204) return say(errorText(result), 'error');
  if (current) return showLogin('Logged out. The session was deleted from the store.');
  say('Session revoked.');
  await loadSessions();
}

async function revokeOthers() {
  const result = await api('POST', '/api/sessions/revoke-others');
  if (result.status === 401) return ended();
  if (result.status !== 200) return say(errorText(result), 'error');
  say(`Logged out ${plural(result.body.revoked, 'other session')}.`);
  await loadSessions();
}

// ---------------------------------------------------------------------------------------------

function start() {
  $('login-form').addEventListener('submit', login);
  $('increment').addEventListener('click', increment);
  $('ttl-form').addEventListener('submit', changeTtl);
  $('note-form').addEventListener('submit', saveNote);
  $('logout').addEventListener('click', logout);
  $('revoke-others').addEventListener('click', revokeOthers);
  $('refresh-sessions').addEventListener('click', loadSessions);
  $('more-sessions').addEventListener('click', loadMoreSessions);
  $('refresh-store').addEventListener('click', loadStoreRecord);
  setInterval(tick, 1000);
  showLoading();
  refresh();
}

start();
