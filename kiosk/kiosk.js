/* Pavilion lobby screen client. The protocol and the playlist rule are in
 * README.md beside this file. The screen is unattended for years: every
 * failure path ends in "keep showing something sensible and try again". */
'use strict';

// ---------------------------------------------------------------- text ----
// The few strings the client shows itself; notices bring their own text.
const TEXT = {
  pairTitle: { zh: '电子屏配对', en: 'Screen pairing' },
  pairHint: { zh: '请管理员在工作台输入此配对码', en: 'Ask an admin to enter this code in the console' },
  pairValid: { zh: '此配对码约 {n} 分钟内有效', en: 'This code is valid for about {n} more minutes' },
  pairRenew: { zh: '即将更换配对码', en: 'A new code is on its way' },
  connecting: { zh: '正在连接服务器…', en: 'Connecting to the server…' },
  residentQr: { zh: '扫码报事报修', en: 'Scan to report a problem in this building' },
  live: { zh: '正在直播', en: 'Live now' },
  liveScan: { zh: '扫码观看直播', en: 'Scan to watch' },
  answering: { zh: '正在回答', en: 'Answering now' },
  emergency: { zh: '紧急通知', en: 'Emergency' },
  offline: { zh: '离线 自 {t}', en: 'offline since {t}' },
  revoked: {
    zh: '此屏幕已被停用或凭证无效，请管理员重新配对',
    en: 'This screen was deactivated or its credentials are no longer valid: ask an admin to pair it again',
  },
  figures: { zh: '阳光公示 · 诉求办理情况', en: 'Public disclosure · residents\' requests' },
  figuresNote: { zh: '由诉求记录自动统计', en: 'Computed from the records, not typed in' },
  thisMonth: { zh: '本月至今', en: 'This month so far' },
  lastMonth: { zh: '上月', en: 'Last month' },
  received: { zh: '受理', en: 'Received' },
  solved: { zh: '办结', en: 'Solved' },
  onTime: { zh: '{c} 按时', en: '{c} on time' },
  medianOnSite: { zh: '到场用时（中位数）', en: 'Median time to on-site' },
  medianResolution: { zh: '办结用时（中位数）', en: 'Median time to resolution' },
  satisfaction: { zh: '满意度', en: 'Satisfaction' },
  ratings: { zh: '{n} 人评价', en: '{n} ratings' },
  topCategories: { zh: '诉求最多', en: 'Top categories' },
  none: { zh: '—', en: '' },
  weekdays: ['星期日', '星期一', '星期二', '星期三', '星期四', '星期五', '星期六'],
  categories: {
    announcement: '通知公告', disclosure: '阳光三务', outage: '停水停电 · 检修',
    event: '社区活动', price_list: '收费标准', broadcast_schedule: '直播预告',
  },
};

// ------------------------------------------------------------ settings ----
const API = '/kiosk/api/';
const DEV_VERSION = 'dev';
const CLIENT_VERSION = (() => {
  const v = document.querySelector('meta[name="pavilion-client-version"]')?.content || '';
  return !v || v.includes('{{') ? DEV_VERSION : v; // placeholder not filled in: a dev copy
})();
const KEY = {
  token: 'pavilion.kiosk.token', playlist: 'pavilion.kiosk.playlist', etag: 'pavilion.kiosk.etag',
  plays: 'pavilion.kiosk.plays', offlineSince: 'pavilion.kiosk.offlineSince',
  reloadedFor: 'pavilion.kiosk.reloadedFor', clock: 'pavilion.kiosk.clock', revoked: 'pavilion.kiosk.revoked',
  acks: 'pavilion.kiosk.acks',
};
const OFFLINE_HEADER = 'X-Pavilion-Offline'; // set by sw.js when it answers from its cache
const REQUEST_TIMEOUT_MS = 15000;    // flaky Wi-Fi leaves half-open connections hanging
const PAIR_POLL_MS = 3000;
const HEARTBEAT_MS = 30000;
const POLL_MS = 30000;               // playlist polling while the push stream is down
const PLAYS_FLUSH_MS = 60000;
const PLAYS_CAP = 200000;            // ~11 days of 5 s turns (~3 MB), a month of 15 s turns
const PLAYS_BATCH = 200;             // the server's limit per report
const ACKS_CAP = 200;                // emergency acknowledgements queued or remembered as sent
const STREAM_SILENCE_MS = 45000;     // the server comments every 15 s; silence means a dead link
const BACKOFF_MAX_MS = 60000;
const MIN_FIT = 0.8;                 // shrink text to 80 % at most (stays ≥ 40 px at 1080p)
const SECONDS_PER_LINE = 2.5;        // slowest comfortable auto-scroll for elderly readers
const SCROLL_HOLD_MS = 3000;         // pause at the top and at the bottom of a scroll
const MAX_TURN_MS = 300000;          // longest a turn may stretch for scrolling text
const VIDEO_EXTRA_MAX_MS = 300000;   // a long video plays to its end, but 5 min more at most
const ERROR_REPORT_MS = 600000;      // last_error is reported for 10 minutes
const CLOCK_JUMP_MS = 5000;          // the box's clock moved against the monotonic one: it was set
const DATE_SLACK_MS = 1500;          // an HTTP Date header is whole seconds, stamped before sending

// --------------------------------------------------------------- state ----
const state = {
  token: null, playlist: null, running: false,
  preview: false,    // the console's preview frame: one notice, no token, no reports
  turn: null,        // {item, key, json, node, startedAt, endsAt, video, ms}
  lastKey: null, idle: false,
  offline: false, offlineSince: null,
  fetching: false, refetch: false, flushing: false, updating: false,
  lastError: null, qrSvg: null,
};
const stream = { ctrl: null, backoff: 1000, openedAt: Infinity };
const pairing = { secret: null, expiresAt: 0, failures: 0 };

// ------------------------------------------------------------- helpers ----
const $ = (sel) => document.querySelector(sel);

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text != null) node.textContent = text;
  return node;
}

/** Chinese first, English smaller beneath (for instruction text). */
function bilingual(entry, vars = {}) {
  const fill = (s) => s.replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? '');
  const box = el('span', 'bi');
  box.append(el('span', 'zh', fill(entry.zh)), el('span', 'en', fill(entry.en)));
  return box;
}

const store = {
  get(key) { try { return JSON.parse(localStorage.getItem(key)); } catch { return null; } },
  set(key, value) {
    try { localStorage.setItem(key, JSON.stringify(value)); } catch (e) { noteError(e); }
  },
  remove(key) { try { localStorage.removeItem(key); } catch { /* nothing to do */ } },
};

class Unauthorized extends Error {}

function noteError(err) {
  if (err instanceof Unauthorized) return;
  const message = String((err && err.message) || err || 'unknown error').slice(0, 500);
  state.lastError = { message, at: performance.now() };
  console.warn('[kiosk]', message);
}

function timeoutSignal(ms) {
  if (AbortSignal.timeout) return AbortSignal.timeout(ms);
  const ctrl = new AbortController();
  setTimeout(() => ctrl.abort(), ms); // one-shot guard for old Chromium builds
  return ctrl.signal;
}

function retryAfterMs(res, fallback = 30000) {
  const value = res.headers.get('Retry-After');
  let ms = Number(value) * 1000;
  if (!Number.isFinite(ms) && value) ms = Date.parse(value) - serverNow();
  return Math.min(Math.max(Number.isFinite(ms) && value ? ms : fallback, 1000), 3600000);
}

const jitter = (ms) => Math.round(ms * (0.5 + Math.random() * 0.5));

// ----------------------------------------------------------- scheduler ----
// Every timer of the page is a named task here, run off one setTimeout on the
// monotonic clock, so nothing drifts with wall-clock jumps, a re-armed task
// replaces its old self (no leaks), and a throwing task cannot stop the rest.
const tasks = new Map();
let wakeTimer = 0;

function later(name, ms, fn) {
  tasks.set(name, { at: performance.now() + Math.max(0, ms), fn });
  arm();
}

function cancel(name) { tasks.delete(name); }

/** Runs fn every ms (first run after ms) until the task is cancelled. */
function repeat(name, ms, fn) {
  const loop = () => { later(name, ms, loop); return fn(); };
  later(name, ms, loop);
}

function arm() {
  clearTimeout(wakeTimer);
  let next = Infinity;
  for (const task of tasks.values()) next = Math.min(next, task.at);
  if (next < Infinity) wakeTimer = setTimeout(runDue, Math.min(Math.max(0, next - performance.now()), 60000));
}

function runDue() {
  const now = performance.now();
  for (const [name, task] of [...tasks]) {
    if (task.at > now || tasks.get(name) !== task) continue; // not due, or replaced meanwhile
    tasks.delete(name);
    try {
      const result = task.fn();
      if (result && result.catch) result.catch(noteError);
    } catch (e) { noteError(e); }
  }
  arm();
}

const sleep = (name, ms) => new Promise((resolve) => later(name, ms, resolve));

// ---------------------------------------------------------------- time ----
// The box's own clock is not trusted either: a Raspberry Pi has no battery
// clock and may boot at the time it was switched off, or in 1970. The screen
// keeps the server's clock as an offset from the box's, measured on every
// answer from the server (the playlist's generated_at_ms to the millisecond,
// the HTTP Date header to the second) and saved beside the playlist:
//
//   serverNow() = max(box clock + offset, last server time seen + time since)
//
// "Time since" is measured on the monotonic clock (performance.now()), which
// the box's clock cannot move. The second term is a floor: however wrong the
// box's clock, the screen never goes back before the last server time it saw
// (after a reboot offline, that and the time since the page loaded is all it
// knows). If the box's clock is set while the page runs so that it now agrees
// with the server's (NTP after a boot), the offset takes up the jump at once.
// Validity, day-parts, the clock on screen and proof-of-play all use it.
const clock = {
  offset: 0,          // server clock − box clock, in ms
  floorMs: 0,         // the last server time seen …
  floorPerf: 0,       // … and performance.now() at that moment
  boxBase: null,      // box clock − monotonic clock at the last look, to notice the box's clock being set
};

function loadClock() {
  const saved = store.get(KEY.clock) || {};
  if (Number.isFinite(saved.offset)) clock.offset = saved.offset;
  const playlist = store.get(KEY.playlist);
  // Saved before this page loaded: count the time since from the page's start.
  clock.floorMs = Math.max(Number(saved.server_ms) || 0, playlist ? generatedMs(playlist) : 0);
  clock.floorPerf = 0;
}

/** The server's time now, in ms since the epoch (a whole number). */
function serverNow() {
  const box = Date.now();
  const mono = performance.now();
  const base = box - mono;
  const jump = clock.boxBase === null ? 0 : base - clock.boxBase;
  clock.boxBase = base;
  // Set right (it now agrees with us): keep the time continuous. Any other jump
  // (a suspend, a bad setting) leaves the offset for the server to correct.
  if (Math.abs(jump) > CLOCK_JUMP_MS && Math.abs(clock.offset - jump) < CLOCK_JUMP_MS) {
    clock.offset -= jump;
    saveClock();
  }
  return Math.round(Math.max(box + clock.offset, clock.floorMs + (mono - clock.floorPerf)));
}

/** A reading of the server's clock, taken now, good to ±slack ms. */
function noteServerTime(serverMs, slack) {
  if (!Number.isFinite(serverMs) || serverMs <= 0) return;
  const mono = performance.now();
  const offset = serverMs - Date.now();
  // A coarse reading (the Date header) only corrects an offset it disagrees with.
  if (slack === 0 || Math.abs(offset - clock.offset) > slack) clock.offset = offset;
  clock.boxBase = Date.now() - mono;
  if (serverMs - slack > clock.floorMs + (mono - clock.floorPerf)) {
    clock.floorMs = serverMs - slack;
    clock.floorPerf = mono;
  }
  saveClock();
}

function saveClock() {
  const serverMs = Math.round(clock.floorMs + (performance.now() - clock.floorPerf));
  store.set(KEY.clock, { offset: clock.offset, server_ms: serverMs });
}

/** The Date header of a live answer (not one sw.js kept). */
function noteServerDate(res) {
  const date = Date.parse(res.headers.get('Date'));
  if (Number.isFinite(date)) noteServerTime(date + 500, DATE_SLACK_MS); // the middle of the second it names
}

// Community time comes from utc_offset_minutes, never from the box's own time
// zone, which is often wrong on cheap boxes.
function offsetMinutes() {
  const o = state.playlist && state.playlist.utc_offset_minutes;
  return Number.isFinite(o) ? o : -new Date().getTimezoneOffset();
}

/** A Date whose UTC fields read as community wall-clock time. */
const communityDate = (ms, offset = offsetMinutes()) => new Date(ms + offset * 60000);
const pad = (n) => String(n).padStart(2, '0');

function fmtTime(ms) {
  const d = communityDate(ms);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

function fmtDate(ms) {
  const d = communityDate(ms);
  return `${d.getUTCMonth() + 1}月${d.getUTCDate()}日 ${TEXT.weekdays[d.getUTCDay()]}`;
}

/** "14:05" today, "11月20日 14:05" on another day. */
function fmtSince(ms) {
  const sameDay = communityDate(ms).toISOString().slice(0, 10) === communityDate(serverNow()).toISOString().slice(0, 10);
  const d = communityDate(ms);
  return sameDay ? fmtTime(ms) : `${d.getUTCMonth() + 1}月${d.getUTCDate()}日 ${fmtTime(ms)}`;
}

// ------------------------------------------------------- playlist rule ----
// Same rule as src/signage/playlist.rs: validity, then day-parts at the
// community's offset; a window whose until ≤ from crosses midnight and
// belongs to the weekday it starts on; showing emergencies hide the rest.
function secondsOfDay(hm) {
  const [h, m = 0, s = 0] = String(hm).split(':').map(Number);
  return h * 3600 + m * 60 + s;
}

function inDayPart(part, local) {
  const t = local.getUTCHours() * 3600 + local.getUTCMinutes() * 60 + local.getUTCSeconds();
  const from = secondsOfDay(part.from), until = secondsOfDay(part.until);
  const today = local.getUTCDay() || 7;          // ISO: 1 = Monday … 7 = Sunday
  const yesterday = today === 1 ? 7 : today - 1;
  const days = part.weekdays || [];
  if (from < until) return days.includes(today) && from <= t && t < until;
  if (t >= from) return days.includes(today);     // the window started this evening
  return t < until && days.includes(yesterday);   // the window started last evening
}

function isShowing(item, nowMs, offset) {
  const start = item.starts_at ? Date.parse(item.starts_at) : -Infinity;
  const end = item.ends_at ? Date.parse(item.ends_at) : Infinity;
  if (!(start <= nowMs && nowMs < end)) return false;
  const parts = item.day_parts || [];
  return parts.length === 0 || parts.some((p) => inDayPart(p, communityDate(nowMs, offset)));
}

function showingItems(playlist, nowMs) {
  if (!playlist) return [];
  if (state.preview) return playlist.items; // staff preview drafts and future notices too
  const offset = Number.isFinite(playlist.utc_offset_minutes) ? playlist.utc_offset_minutes : offsetMinutes();
  const known = (item) => ['notice', 'live', 'figures'].includes(item.kind); // a newer server's kinds wait for a newer client
  const items = playlist.items.filter((item) => known(item) && isShowing(item, nowMs, offset));
  return items.some((i) => i.emergency) ? items.filter((i) => i.emergency) : items;
}

function itemKey(item) {
  if (item.kind === 'live') return `live:${item.broadcast_id}`;
  if (item.kind === 'figures') return `figures:${item.estate_id}`;
  return `notice:${item.id}`;
}

// ----------------------------------------------------------------- api ----
/** fetch() for the API: token, timeout, online/offline bookkeeping, 401. */
async function api(path, { method = 'GET', body, headers = {} } = {}) {
  const init = { method, headers: { ...headers }, cache: 'no-store', signal: timeoutSignal(REQUEST_TIMEOUT_MS) };
  if (state.token) init.headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(API + path, init);
  } catch (e) {
    markOffline();
    throw new Error(`${method} ${path}: ${e.message}`);
  }
  noteReachability(res);
  if (res.status === 401 && state.token) {
    forgetToken();
    throw new Unauthorized();
  }
  return res;
}

function noteReachability(res) {
  if (res.headers.get(OFFLINE_HEADER) || (res.status >= 502 && res.status <= 504)) return markOffline();
  noteServerDate(res);
  markOnline();
}

// ------------------------------------------------------------- pairing ----
function startPairing() {
  state.running = false;
  document.body.className = 'is-pairing';
  $('#app').hidden = true;
  $('#pairing').hidden = false;
  $('#pair-title').replaceChildren(bilingual(TEXT.pairTitle));
  $('#pair-hint').replaceChildren(bilingual(TEXT.pairHint));
  // Kept until the screen is paired again, so a reload does not hide why it asks.
  const notice = $('#pair-notice');
  notice.replaceChildren(bilingual(TEXT.revoked));
  notice.hidden = !store.get(KEY.revoked);
  showCode(null);
  requestCode();
}

async function requestCode() {
  try {
    const res = await api('pairings', { method: 'POST' });
    if (res.status === 429) return later('pair', retryAfterMs(res), requestCode);
    if (!res.ok) throw new Error(`pairings: HTTP ${res.status}`);
    const p = await res.json();
    // Count the code's life on the monotonic clock, from the server's time.
    pairing.secret = p.secret;
    pairing.expiresAt = performance.now() + (Date.parse(p.expires_at) - serverNow());
    pairing.failures = 0;
    showCode(p.code);
    later('pair', PAIR_POLL_MS, pollPairing);
  } catch (e) {
    noteError(e);
    showCode(null);
    pairing.failures += 1;
    later('pair', jitter(Math.min(1000 * 2 ** pairing.failures, BACKOFF_MAX_MS)), requestCode);
  }
}

async function pollPairing() {
  try {
    const res = await api(`pairings/${encodeURIComponent(pairing.secret)}`);
    if (res.status === 200) {
      const { token } = await res.json();
      if (!token) throw new Error('pairing: no token in answer');
      state.token = token;
      store.set(KEY.token, token);
      store.remove(KEY.revoked);
      return startRuntime();
    }
    if (res.status === 410 || res.status === 404) return requestCode(); // expired or forgotten
    if (res.status === 429) return later('pair', retryAfterMs(res), pollPairing);
    if (res.status !== 202) throw new Error(`pairing poll: HTTP ${res.status}`);
  } catch (e) { noteError(e); }
  later('pair', PAIR_POLL_MS, pollPairing);
}

function showCode(code) {
  const box = $('#pair-code');
  box.replaceChildren(...(code ? [...code].map((ch) => el('span', 'pair-char', ch)) : []));
  box.classList.toggle('waiting', !code);
  if (!code) pairing.expiresAt = 0;
  updatePairingStatus();
}

function updatePairingStatus() {
  if (!state.running && !$('#pairing').hidden) {
    const left = pairing.expiresAt - performance.now();
    const entry = !pairing.expiresAt ? TEXT.connecting : left > 60000 ? TEXT.pairValid : TEXT.pairRenew;
    const text = entry.zh + Math.ceil(left / 60000);
    const status = $('#pair-status');
    if (status.dataset.text !== text) {
      status.dataset.text = text;
      status.replaceChildren(bilingual(entry, { n: Math.ceil(left / 60000) }));
    }
  }
}

function forgetToken() {
  if (!state.token) return;
  endTurn();
  state.token = null;
  state.playlist = null;
  state.lastKey = null;
  state.idle = false;
  closeStream();
  for (const name of ['heartbeat', 'plays', 'poll', 'stream', 'turn', 'slide', 'playlist-now', 'resync']) cancel(name);
  // The queued plays belong to the revoked screen; a new pairing may be another screen.
  for (const key of [KEY.token, KEY.playlist, KEY.etag, KEY.plays, KEY.acks]) store.remove(key);
  playLog.rows = [];
  store.set(KEY.revoked, true); // the pairing screen says why it is back
  tellServiceWorker({ type: 'forget' });
  $('#stage').replaceChildren();
  startPairing();
}

// ------------------------------------------------------------- runtime ----
function startRuntime() {
  cancel('pair');
  state.running = true;
  document.body.className = '';
  $('#pairing').hidden = true;
  $('#app').hidden = false;
  $('#resident-caption').replaceChildren(bilingual(TEXT.residentQr));
  state.playlist = store.get(KEY.playlist);
  if (state.playlist) renderChrome();
  postMediaList();
  fetchPlaylist();
  openStream();
  sendHeartbeat();
  flushPlays(); // plays left from before a reload or power cut
  flushAcks();
  repeat('heartbeat', HEARTBEAT_MS, () => { sendHeartbeat(); flushAcks(); });
  repeat('plays', PLAYS_FLUSH_MS, flushPlays);
  watchRotation();
}

async function fetchPlaylist() {
  if (!state.running) return;
  if (state.fetching) { state.refetch = true; return; }
  state.fetching = true;
  try {
    const etag = store.get(KEY.etag);
    const headers = etag && state.playlist ? { 'If-None-Match': etag } : {};
    const res = await api('playlist', { headers });
    if (res.status === 304) return;
    if (!res.ok) throw new Error(`playlist: HTTP ${res.status}`);
    const playlist = await res.json();
    const fromCache = Boolean(res.headers.get(OFFLINE_HEADER));
    if (!fromCache) noteServerTime(playlist.generated_at_ms, 0);
    // Offline, sw.js answers with its copy, which may be older than ours: never go back.
    if (fromCache && state.playlist && !(generatedMs(playlist) > generatedMs(state.playlist))) return;
    applyPlaylist(playlist, res.headers.get('ETag'), !fromCache);
  } catch (e) {
    noteError(e);
  } finally {
    state.fetching = false;
    if (state.refetch) {
      state.refetch = false;
      later('playlist-now', 0, fetchPlaylist);
    }
  }
}

/** When the server made a playlist; copies saved by older clients carry only generated_at. */
function generatedMs(playlist) {
  const ms = playlist.generated_at_ms;
  return Number.isFinite(ms) ? ms : Date.parse(playlist.generated_at) || 0;
}

function applyPlaylist(playlist, etag, fresh) {
  if (!state.running) return;
  if (!playlist || !Array.isArray(playlist.items)) throw new Error('playlist: unexpected shape');
  state.playlist = playlist;
  store.set(KEY.playlist, playlist);
  if (etag) store.set(KEY.etag, etag);
  renderChrome();
  if (fresh) {
    postMediaList();
    updateClient(playlist.client_version);
  }
  watchRotation(); // an emergency in it interrupts the current item right now
}

function renderChrome() {
  const pl = state.playlist;
  $('#screen-name').textContent = (pl.screen && pl.screen.name) || '';
  document.documentElement.dataset.orientation = (pl.screen && pl.screen.orientation) || '';
  state.qrSvg = (pl.resident_qr && pl.resident_qr.svg) || null;
  for (const box of document.querySelectorAll('.resident-qr')) fillQr(box);
}

function fillQr(box) {
  if (box.dataset.svg !== state.qrSvg) {
    box.dataset.svg = state.qrSvg || '';
    box.innerHTML = state.qrSvg || ''; // generated by the server, not user text
  }
  box.closest('figure').hidden = !state.qrSvg;
}

// ------------------------------------------------------------ rotation ----
/** Called every second and after each new playlist: does the stage still show the right thing? */
function watchRotation() {
  if (!state.running) return;
  const showing = showingItems(state.playlist, serverNow());
  const turn = state.turn;
  if (!turn) {
    if (showing.length) nextTurn();
    else showIdle();
    return;
  }
  const current = showing.find((i) => itemKey(i) === turn.key);
  const emergencyWaiting = !turn.item.emergency && showing.some((i) => i.emergency);
  if (!current || emergencyWaiting || JSON.stringify(current) !== turn.json) nextTurn();
}

function nextTurn() {
  const previous = state.turn;
  endTurn();
  const showing = showingItems(state.playlist, serverNow());
  if (!showing.length) return showIdle();
  const item = pickNext(showing);
  const json = JSON.stringify(item);
  // The same item again (e.g. a lone emergency): keep its node, no flicker.
  const reuse = previous && previous.json === json && previous.node.isConnected ? previous.node : null;
  startTurn(item, json, reuse);
}

/** The first showing item after the last one shown, in playlist order. */
function pickNext(showing) {
  const order = state.playlist.items.map(itemKey);
  const byKey = new Map(showing.map((i) => [itemKey(i), i]));
  const from = order.indexOf(state.lastKey);
  for (let step = 1; step <= order.length; step += 1) {
    const item = byKey.get(order[(from + step + order.length) % order.length]);
    if (item) return item;
  }
  return showing[0];
}

function startTurn(item, json, reuse) {
  let node = reuse;
  if (!node) {
    try { node = renderItem(item); } catch (e) {
      noteError(e);
      node = renderFallback(item); // a broken item still shows its title
    }
  }
  const ms = Math.min(Math.max(Number(item.display_seconds) || 15, 5), 300) * 1000;
  const turn = { item, key: itemKey(item), json, node, ms, startedAt: serverNow(), video: node.querySelector('video') };
  state.turn = turn;
  state.lastKey = turn.key;
  state.idle = false;
  if (!reuse) swapStage(node, { emergency: item.emergency, live: item.kind === 'live' });
  if (item.emergency && item.kind === 'notice') afterPaint(() => ackEmergency(item));
  if (turn.video) {
    turn.video.loop = true;
    turn.video.play().catch((e) => { if (e.name !== 'AbortError') noteError(e); });
  }
  scheduleEnd(turn, fitText(node, ms));
  startSlides(turn);
}

function scheduleEnd(turn, ms) {
  turn.endsAt = performance.now() + ms;
  later('turn', ms, turnTimeUp);
}

/** A video longer than display_seconds plays to its end (bounded); anything else moves on. */
function turnTimeUp() {
  const turn = state.turn;
  const video = turn && turn.video;
  if (video && !turn.extended && !video.paused && !video.ended && video.duration * 1000 > turn.ms) {
    const left = (video.duration - video.currentTime) * 1000;
    if (left > 500) {
      turn.extended = true;
      video.loop = false;
      video.addEventListener('ended', () => { if (state.turn === turn) nextTurn(); }, { once: true });
      later('turn', Math.min(left + 2000, VIDEO_EXTRA_MAX_MS), nextTurn); // in case it stalls
      return;
    }
  }
  nextTurn();
}

/** Ends the current turn and records its proof of play. */
function endTurn() {
  const turn = state.turn;
  if (!turn) return;
  state.turn = null;
  cancel('turn');
  cancel('slide');
  if (turn.item.kind === 'notice' && !state.preview) recordPlay(turn.item.id, turn.startedAt, serverNow());
}

function showIdle() {
  if (state.idle) return;
  endTurn();
  state.idle = true;
  const node = el('section', 'item idle-view');
  const clock = el('div', 'idle-clock');
  clock.append(el('div', 'idle-time'), el('div', 'idle-date'));
  clock.firstChild.dataset.clock = 'time';
  clock.lastChild.dataset.clock = 'date';
  node.append(clock, qrFigure('idle-qr resident-qr', TEXT.residentQr));
  swapStage(node, { idle: true });
  fillQr(node.querySelector('.resident-qr'));
  updateClock();
}

/** Cross-fades to node; the previous node is removed on the next sweep. */
function swapStage(node, { emergency = false, idle = false, live = false } = {}) {
  const stage = $('#stage');
  sweepStage();
  for (const old of stage.children) {
    old.classList.add('leaving');
    for (const v of old.querySelectorAll('video')) v.pause(); // cheap boxes decode one video at a time
  }
  document.body.classList.toggle('is-emergency', Boolean(emergency));
  document.body.classList.toggle('is-idle', idle);
  document.body.classList.toggle('is-live', live);
  stage.append(node);
  void node.offsetWidth; // let the browser see opacity 0 first, so the fade runs
  node.classList.add('shown');
  updateClock();
  later('sweep', 1500, sweepStage);
}

function sweepStage() {
  for (const old of [...document.querySelectorAll('#stage > .leaving')]) {
    releaseVideos(old);
    old.remove();
  }
}

function releaseVideos(root) {
  for (const v of root.querySelectorAll('video')) {
    v.pause();
    v.removeAttribute('src'); // frees the decoder and its buffers now, not at GC time
    v.load();
  }
}

// ------------------------------------------------------------ rendering ----
function renderNotice(item) {
  const node = el('article', `item notice${item.emergency ? ' emergency' : ''}`);
  node.dataset.category = item.category || '';
  const strip = el('header', 'strip');
  if (item.emergency) {
    strip.append(el('span', 'strip-name', `⚠ ${TEXT.emergency.zh} ${TEXT.emergency.en.toUpperCase()}`));
    const time = el('span', 'strip-time');
    time.dataset.clock = 'time';
    strip.append(time);
  } else {
    strip.append(el('span', 'strip-name', TEXT.categories[item.category] || item.category || ''));
  }
  const content = el('div', 'content');
  const text = el('div', 'text');
  const inner = el('div', 'text-inner');
  inner.innerHTML = item.html || ''; // sanitised by the server (ammonia)
  text.append(inner);
  if (inner.textContent.trim() || inner.querySelector('img, table')) content.append(text);
  const media = renderMedia(item, node);
  if (media) content.append(media);
  content.classList.toggle('with-media', Boolean(media));
  content.classList.toggle('media-only', Boolean(media) && !content.contains(text));
  node.append(strip, el('h1', 'title', item.title || ''), content);
  return node;
}

function renderMedia(item, node) {
  const box = el('div', 'media');
  const onError = (e) => mediaFailed(node, e.currentTarget);
  if (item.video && item.video.url) {
    const v = document.createElement('video');
    v.muted = true; // autoplay is only allowed muted; lobbies are quiet places anyway
    v.defaultMuted = true;
    v.autoplay = true;
    v.loop = true;
    v.playsInline = true;
    v.preload = 'auto';
    v.setAttribute('playsinline', '');
    if (item.video.poster) v.poster = item.video.poster; // shown while the video loads
    v.addEventListener('error', onError, { once: true });
    v.src = item.video.url;
    v.className = 'on';
    box.append(v);
    return box;
  }
  const images = (item.images || []).filter(Boolean);
  if (!images.length) return null;
  images.forEach((src, i) => {
    const img = el('img', i === 0 ? 'on' : '');
    img.alt = '';
    img.decoding = 'async';
    img.addEventListener('error', onError, { once: true });
    img.src = src;
    box.append(img);
  });
  return box;
}

/** A broken picture or video is dropped; with nothing left to show, the turn ends. */
function mediaFailed(node, media) {
  if (!media.getAttribute('src')) return; // released on purpose
  noteError(new Error(`media failed: ${media.getAttribute('src')}`));
  if (media.tagName === 'VIDEO') releaseVideos(media.parentNode);
  const box = media.parentNode;
  media.remove();
  const turn = state.turn;
  if (!box) return;
  if (box.children.length) {
    if (!box.querySelector('.on')) box.firstElementChild.classList.add('on');
    return;
  }
  box.remove();
  node.querySelector('.content').classList.remove('with-media', 'media-only');
  if (!turn || turn.node !== node) return;
  turn.video = null;
  if (!node.querySelector('.text')) return later('turn', 0, nextTurn);
  scheduleEnd(turn, fitText(node, Math.max(turn.endsAt - performance.now(), 3000))); // text got wider
}

function renderLive(item) {
  const node = el('article', 'item live');
  const strip = el('header', 'strip');
  strip.append(el('span', 'live-dot'), el('span', 'strip-name', `${TEXT.live.zh} ${TEXT.live.en.toUpperCase()}`));
  const info = el('div', 'live-info');
  info.append(el('h1', 'title', item.title || ''));
  if (typeof item.answering === 'string' && item.answering) {
    // Optional: the question being answered right now, if the server sends it.
    const q = el('p', 'live-answering');
    q.append(el('span', 'live-answering-label', `${TEXT.answering.zh}：`), document.createTextNode(item.answering));
    info.append(q);
  }
  const fig = qrFigure('live-qr', TEXT.liveScan);
  fig.querySelector('.qr').innerHTML = item.qr_svg || ''; // generated by the server
  const body = el('div', 'live-body');
  body.append(info, fig);
  node.append(strip, body);
  return node;
}

function renderItem(item) {
  if (item.kind === 'live') return renderLive(item);
  if (item.kind === 'figures') return renderFigures(item);
  return renderNotice(item);
}

/** Minutes as people read them: "35 分钟" / "3 小时 5 分". */
function duration(minutes) {
  if (minutes == null) return { zh: TEXT.none.zh, en: '' };
  if (minutes < 120) return { zh: `${minutes} 分钟`, en: `${minutes} min` };
  const h = Math.floor(minutes / 60), m = minutes % 60;
  return { zh: `${h} 小时 ${m} 分`, en: `${h} h ${m} min` };
}

function cell(value) {
  const td = el('td', 'num');
  if (value && typeof value === 'object') td.append(bilingual(value));
  else td.textContent = value == null ? TEXT.none.zh : String(value);
  return td;
}

/** The computed disclosure figures of the estate: a large two-month table. */
function renderFigures(item) {
  const node = el('article', 'item notice figures');
  node.dataset.category = 'disclosure';
  const strip = el('header', 'strip');
  strip.append(el('span', 'strip-name', `${TEXT.figures.zh} · ${item.estate || ''}`));
  const months = (item.months || []).slice(0, 2);
  const table = el('table', 'figures-table');
  const head = el('tr');
  head.append(el('th'));
  for (const m of months) {
    const th = el('th', 'num');
    th.append(bilingual(m.so_far ? TEXT.thisMonth : TEXT.lastMonth));
    th.append(el('span', 'figures-month', m.month || ''));
    head.append(th);
  }
  const thead = el('thead');
  thead.append(head);
  const body = el('tbody');
  const row = (label, values) => {
    const tr = el('tr');
    const th = el('th');
    th.scope = 'row';
    th.append(label);
    tr.append(th, ...values.map(cell));
    body.append(tr);
  };
  row(bilingual(TEXT.received), months.map((m) => m.received));
  row(bilingual(TEXT.solved), months.map((m) => m.solved));
  const classes = (months[0] && months[0].classes) || [];
  classes.forEach((c, i) => {
    const label = { zh: TEXT.onTime.zh.replace('{c}', c.name.zh), en: TEXT.onTime.en.replace('{c}', c.name.en) };
    row(bilingual(label), months.map((m) => {
      const k = (m.classes || [])[i];
      return k ? `${k.on_time} / ${k.received}` : null;
    }));
  });
  row(bilingual(TEXT.medianOnSite), months.map((m) => duration(m.median_on_site_minutes)));
  row(bilingual(TEXT.medianResolution), months.map((m) => duration(m.median_resolution_minutes)));
  row(bilingual(TEXT.satisfaction), months.map((m) => (m.satisfaction == null ? null : {
    zh: `${m.satisfaction.toFixed(1)} / 5 · ${TEXT.ratings.zh.replace('{n}', m.ratings)}`,
    en: TEXT.ratings.en.replace('{n}', m.ratings),
  })));
  const top = el('tr');
  const topTh = el('th');
  topTh.scope = 'row';
  topTh.append(bilingual(TEXT.topCategories));
  top.append(topTh, ...months.map((m) => {
    const td = el('td', 'figures-top');
    for (const c of (m.top_categories || []).slice(0, 3)) {
      const li = el('span', 'figures-category');
      li.append(bilingual({ zh: `${c.name.zh} ${c.count}`, en: c.name.en }));
      td.append(li);
    }
    return td;
  }));
  body.append(top);
  table.append(thead, body);
  const content = el('div', 'content');
  const text = el('div', 'text');
  const inner = el('div', 'text-inner');
  inner.append(table, el('p', 'figures-note', `${TEXT.figuresNote.zh} · ${TEXT.figuresNote.en}`));
  text.append(inner);
  content.append(text);
  const charts = Array.isArray(item.charts) ? item.charts : [];
  if (charts.length) {
    content.classList.add('with-media');
    content.append(chartPanel(charts, item.display_seconds, () => content.classList.remove('with-media')));
  }
  node.append(strip, content);
  return node;
}

const CHART_TEXT = {
  'on-time': { zh: '近12个月各类诉求按时办理率', en: 'On-time rate per class, last 12 months' },
  satisfaction: { zh: '近12个月居民满意度', en: 'Residents\' satisfaction, last 12 months' },
  categories: { zh: '本月诉求类别', en: 'This month\'s records by category' },
};

/** The figures' charts (SVG pictures drawn by the server; sw.js keeps them for
 *  offline hours), one at a time, each for an equal share of the item's turn. */
function chartPanel(urls, seconds, gone) {
  const media = el('figure', 'media figures-chart');
  const caption = el('figcaption', 'figures-chart-caption');
  const shown = urls.map((url) => {
    const kind = Object.keys(CHART_TEXT).find((k) => url.includes(`/${k}.svg`)) || 'on-time';
    const img = el('img');
    img.alt = `${CHART_TEXT[kind].zh} · ${CHART_TEXT[kind].en}`;
    img.dataset.chart = kind;
    img.addEventListener('error', () => {
      img.remove();
      if (!media.querySelector('img')) {
        media.remove();
        gone();
      }
    });
    img.src = url;
    return img;
  });
  media.append(...shown, caption);
  let at = -1;
  const next = () => {
    const live = shown.filter((img) => img.isConnected);
    if (!live.length) return;
    at = (at + 1) % live.length;
    live.forEach((img, i) => img.classList.toggle('on', i === at));
    caption.replaceChildren(bilingual(CHART_TEXT[live[at].dataset.chart]));
  };
  next();
  if (shown.length > 1) {
    const every = Math.max(4, (seconds || 24) / shown.length) * 1000;
    const timer = setInterval(() => (media.isConnected ? next() : clearInterval(timer)), every);
  }
  return media;
}

function renderFallback(item) {
  const node = el('article', 'item notice');
  node.append(el('header', 'strip'), el('h1', 'title', item.title || ''));
  return node;
}

function qrFigure(cls, caption) {
  const fig = el('figure', 'qr-figure');
  const cap = el('figcaption');
  cap.append(bilingual(caption));
  fig.append(el('div', `qr ${cls}`), cap);
  return fig;
}

/** Fits the body text: shrink down to MIN_FIT, then scroll slowly; never cut. Returns the turn length. */
function fitText(node, ms) {
  const box = node.querySelector('.text');
  if (!box) return ms;
  const inner = box.firstElementChild;
  for (const a of inner.getAnimations ? inner.getAnimations() : []) a.cancel();
  box.classList.remove('scrolling', 'squeeze');
  let fit = 1;
  box.style.setProperty('--fit', fit);
  const overflowing = () => box.scrollHeight > box.clientHeight + 2 || box.scrollWidth > box.clientWidth + 2;
  while (overflowing() && fit > MIN_FIT) {
    fit = Math.max(MIN_FIT, Math.round((fit - 0.05) * 100) / 100);
    box.style.setProperty('--fit', fit);
  }
  if (box.scrollWidth > box.clientWidth + 2) box.classList.add('squeeze'); // a table too wide even at MIN_FIT
  if (!overflowing()) return ms;
  box.classList.add('scrolling'); // adds the faded edges' padding before measuring
  const distance = inner.offsetHeight - box.clientHeight;
  // Scroll no faster than one line per SECONDS_PER_LINE: stretch the turn if
  // needed (up to MAX_TURN_MS), beyond that scroll faster rather than cut.
  const line = parseFloat(getComputedStyle(inner).lineHeight) || 60;
  const wanted = (distance / line) * SECONDS_PER_LINE * 1000 + 2 * SCROLL_HOLD_MS;
  const total = Math.max(ms, Math.min(wanted, MAX_TURN_MS));
  const hold = Math.min(SCROLL_HOLD_MS / total, 0.2);
  const end = `translateY(${-distance}px)`;
  inner.animate([
    { transform: 'translateY(0)', offset: 0 },
    { transform: 'translateY(0)', offset: hold },
    { transform: end, offset: 1 - hold },
    { transform: end, offset: 1 },
  ], { duration: total, fill: 'forwards', easing: 'linear' });
  return total;
}

/** Several images: a simple sequence within the turn. */
function startSlides(turn) {
  const box = turn.node.querySelector('.media');
  if (!box || box.querySelector('video') || box.children.length < 2) return;
  const each = Math.max(4000, turn.ms / box.children.length);
  const step = () => {
    if (state.turn !== turn) return;
    const imgs = [...box.children];
    const i = imgs.findIndex((img) => img.classList.contains('on'));
    if (i >= 0) imgs[i].classList.remove('on');
    imgs[(i + 1) % imgs.length].classList.add('on');
    later('slide', each, step);
  };
  later('slide', each, step);
}

// ------------------------------------------------------ clock, offline ----
function tick() {
  later('tick', 1000 - (serverNow() % 1000) + 20, tick); // on the second, so minutes flip on time
  updateClock();
  updatePairingStatus();
  watchRotation();
}

function updateClock() {
  const now = serverNow();
  const values = { time: fmtTime(now), date: fmtDate(now) };
  for (const node of document.querySelectorAll('[data-clock]')) {
    const v = values[node.dataset.clock];
    if (node.textContent !== v) node.textContent = v;
  }
}

function markOffline() {
  if (state.offline) return;
  state.offline = true;
  state.offlineSince = state.offlineSince || serverNow();
  store.set(KEY.offlineSince, state.offlineSince);
  const mark = $('#offline');
  mark.replaceChildren(bilingual(TEXT.offline, { t: fmtSince(state.offlineSince) }));
  mark.hidden = false;
}

function markOnline() {
  const wasOffline = state.offline;
  if (state.offlineSince) store.remove(KEY.offlineSince);
  state.offline = false;
  state.offlineSince = null;
  $('#offline').hidden = true;
  if (wasOffline) later('resync', 0, resync);
}

/** The server answers again: catch up on everything at once. */
function resync() {
  if (!state.running) return;
  fetchPlaylist();
  flushPlays();
  flushAcks();
  sendHeartbeat();
  postMediaList();
  if (!stream.ctrl) {
    stream.backoff = 1000;
    later('stream', 0, openStream);
  }
}

// ---------------------------------------------------------- server push ----
async function openStream() {
  cancel('stream');
  if (stream.ctrl || !state.running) return;
  const ctrl = new AbortController();
  stream.ctrl = ctrl;
  try {
    const res = await fetch(`${API}events`, {
      headers: { Authorization: `Bearer ${state.token}`, Accept: 'text/event-stream' },
      cache: 'no-store', signal: ctrl.signal,
    });
    noteReachability(res);
    if (res.status === 401) return forgetToken();
    if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}`);
    stream.openedAt = performance.now();
    cancel('poll');
    later('playlist-now', 0, fetchPlaylist); // catch up on what happened while it was down
    await readEvents(res.body.getReader());
    throw new Error('events: stream ended');
  } catch (e) {
    if (stream.ctrl === ctrl) streamDown(e); // otherwise closed on purpose
  }
}

/** Minimal text/event-stream parser: event:/data: fields, ':' comments, blank line dispatches. */
async function readEvents(reader) {
  const decoder = new TextDecoder();
  let buffer = '';
  let type = '';
  let data = [];
  for (;;) {
    later('stream-watchdog', STREAM_SILENCE_MS, () => streamDown(new Error('events: silent too long')));
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    // A chunk may end between '\r' and '\n': keep a trailing '\r' for the next one.
    const cut = buffer.endsWith('\r') ? buffer.length - 1 : buffer.length;
    const lines = buffer.slice(0, cut).split(/\r\n|\r|\n/);
    buffer = lines.pop() + buffer.slice(cut);
    for (const line of lines) {
      if (line === '') {
        if (data.length) onServerEvent(type || 'message', data.join('\n'));
        type = '';
        data = [];
      } else if (line[0] !== ':') {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') type = val;
        else if (field === 'data') data.push(val);
      }
    }
  }
}

function onServerEvent(type, data) {
  let msg;
  try { msg = JSON.parse(data); } catch { return noteError(new Error(`events: bad data for ${type}`)); }
  if (type === 'playlist' && (!state.playlist || msg.version !== state.playlist.version)) fetchPlaylist();
  else if (type === 'client') updateClient(msg.version);
}

function closeStream() {
  const ctrl = stream.ctrl;
  stream.ctrl = null;
  cancel('stream-watchdog');
  if (ctrl) ctrl.abort();
}

/** Stream lost: poll every 30 s, check right now, retry with backoff and jitter. */
function streamDown(err) {
  closeStream();
  noteError(err);
  if (!state.running) return;
  // A stream that stayed up a while was fine; one that keeps dropping backs off.
  if (performance.now() - stream.openedAt > 60000) stream.backoff = 1000;
  stream.openedAt = Infinity;
  later('stream', jitter(stream.backoff), openStream);
  stream.backoff = Math.min(stream.backoff * 2, BACKOFF_MAX_MS);
  if (!tasks.has('poll')) repeat('poll', POLL_MS, fetchPlaylist);
  later('playlist-now', 0, fetchPlaylist);
}

// ------------------------------------------------ heartbeat, plays, update ----
async function sendHeartbeat() {
  if (!state.running) return;
  const turn = state.turn;
  const recent = state.lastError && performance.now() - state.lastError.at < ERROR_REPORT_MS;
  try {
    const res = await api('heartbeat', {
      method: 'POST',
      body: {
        current_notice: turn && turn.item.kind === 'notice' ? turn.item.id : null,
        client_version: CLIENT_VERSION,
        uptime_seconds: Math.round(performance.now() / 1000),
        last_error: recent ? state.lastError.message : null,
      },
    });
    if (!res.ok) throw new Error(`heartbeat: HTTP ${res.status}`);
  } catch (e) { noteError(e); }
}

// Proof of play must survive days offline and lose nothing, so the queue is
// kept compact in localStorage: {"v": 2, "base": ms, "rows": [[notice_id,
// start − end of the row before (the first: − base), end − start], …]}, all in
// ms of the server's clock. A row is ~16 characters: a week of 5 s turns
// (~121 000 plays) is ~2 MB, well within the 5–10 MB a browser gives a site.
// Clients before this one kept [{notice_id, started_at, ended_at}, …] under
// the same key; that list is read and rewritten in the new form. Plays go to
// the server PLAYS_BATCH at a time, oldest first; a batch leaves the queue
// only once accepted, and the server ignores a play it already has.
const playLog = { rows: null }; // [{id, start, end}] in ms, oldest first; read on first use

function queuedPlays() {
  if (!playLog.rows) {
    const saved = store.get(KEY.plays);
    playLog.rows = Array.isArray(saved) ? legacyPlays(saved) : decodePlays(saved);
    if (Array.isArray(saved)) savePlays();
  }
  return playLog.rows;
}

function legacyPlays(list) {
  return list
    .map((p) => ({ id: p && p.notice_id, start: Date.parse(p && p.started_at), end: Date.parse(p && p.ended_at) }))
    .filter((p) => Number.isSafeInteger(p.id) && p.end > p.start);
}

function decodePlays(saved) {
  if (!saved || saved.v !== 2 || !Number.isFinite(saved.base) || !Array.isArray(saved.rows)) return [];
  const rows = [];
  let end = saved.base;
  for (const row of saved.rows) {
    const [id, gap, length] = Array.isArray(row) ? row : [];
    const start = end + gap;
    end = start + length;
    if (Number.isSafeInteger(id) && Number.isFinite(start) && length > 0) rows.push({ id, start, end });
    if (!Number.isFinite(end)) return rows; // damaged beyond this point: keep what came before
  }
  return rows;
}

function encodePlays(rows) {
  const base = rows[0].start;
  let end = base;
  const out = rows.map((p) => {
    const row = [p.id, p.start - end, p.end - p.start];
    end = p.end;
    return row;
  });
  return { v: 2, base, rows: out };
}

function savePlays() {
  const rows = playLog.rows || [];
  if (rows.length) store.set(KEY.plays, encodePlays(rows));
  else store.remove(KEY.plays);
}

function recordPlay(noticeId, startMs, endMs) {
  if (!Number.isSafeInteger(noticeId) || !(endMs > startMs)) return;
  const rows = queuedPlays();
  rows.push({ id: noticeId, start: startMs, end: endMs });
  if (rows.length > PLAYS_CAP) rows.splice(0, rows.length - PLAYS_CAP); // weeks offline: the oldest go
  savePlays();
}

async function flushPlays() {
  if (!state.running || state.offline || state.flushing) return;
  state.flushing = true;
  try {
    for (;;) {
      const batch = queuedPlays().slice(0, PLAYS_BATCH);
      if (!batch.length) return;
      const iso = (ms) => new Date(ms).toISOString();
      const body = batch.map((p) => ({ notice_id: p.id, started_at: iso(p.start), ended_at: iso(p.end) }));
      const res = await api('plays', { method: 'POST', body });
      // 400/422: this batch can never be accepted, so drop it rather than block the queue.
      const hopeless = res.status === 400 || res.status === 422;
      if (res.status !== 204 && !hopeless) throw new Error(`plays: HTTP ${res.status}`);
      if (hopeless) noteError(new Error(`plays: HTTP ${res.status}, ${batch.length} dropped`));
      // Plays were added (and maybe the oldest dropped) while we waited: remove exactly these.
      const sent = new Set(batch);
      playLog.rows = queuedPlays().filter((p) => !sent.has(p));
      savePlays();
    }
  } catch (e) {
    noteError(e);
  } finally {
    state.flushing = false;
  }
}

// Proof that an emergency is on the glass: once per notice revision, the
// screen tells the server when it painted it (POST acks), in the server's
// clock (serverNow). Made offline, the acknowledgement waits in localStorage,
// {"queue": [{notice_id, revision, shown_ms}], "sent": ["id:revision", …]},
// and goes out when the server is back; an ack the server can never accept
// (the notice is gone or no longer aimed here) is dropped.

/** Runs `fn` once the browser has painted what was just put on the stage. */
function afterPaint(fn) {
  let done = false;
  const once = () => { if (!done) { done = true; fn(); } };
  requestAnimationFrame(() => requestAnimationFrame(once));
  setTimeout(once, 1000); // no frames while hidden: the stage still holds it
}

function ackLog() {
  const saved = store.get(KEY.acks);
  const ok = (a) => a && Number.isSafeInteger(a.notice_id) && Number.isSafeInteger(a.revision) && Number.isFinite(a.shown_ms);
  return {
    queue: Array.isArray(saved && saved.queue) ? saved.queue.filter(ok) : [],
    sent: Array.isArray(saved && saved.sent) ? saved.sent.filter((k) => typeof k === 'string') : [],
  };
}

function ackEmergency(item) {
  if (!state.running || !Number.isSafeInteger(item.id) || !Number.isSafeInteger(item.revision)) return;
  const log = ackLog();
  const key = `${item.id}:${item.revision}`;
  if (log.sent.includes(key) || log.queue.some((a) => `${a.notice_id}:${a.revision}` === key)) return;
  log.queue.push({ notice_id: item.id, revision: item.revision, shown_ms: serverNow() });
  if (log.queue.length > ACKS_CAP) log.queue.splice(0, log.queue.length - ACKS_CAP);
  store.set(KEY.acks, log);
  flushAcks();
}

async function flushAcks() {
  if (!state.running || state.offline || state.ackFlushing) return;
  state.ackFlushing = true;
  try {
    for (;;) {
      const ack = ackLog().queue[0];
      if (!ack) return;
      const body = { notice_id: ack.notice_id, revision: ack.revision, shown_at: new Date(ack.shown_ms).toISOString() };
      const res = await api('acks', { method: 'POST', body });
      const hopeless = [400, 403, 404, 422].includes(res.status);
      if (res.status !== 204 && !hopeless) throw new Error(`acks: HTTP ${res.status}`);
      if (hopeless) noteError(new Error(`acks: HTTP ${res.status}, notice ${ack.notice_id} dropped`));
      const log = ackLog();
      const key = `${ack.notice_id}:${ack.revision}`;
      log.queue = log.queue.filter((a) => `${a.notice_id}:${a.revision}` !== key);
      log.sent = log.sent.filter((k) => k !== key).concat(key).slice(-ACKS_CAP);
      store.set(KEY.acks, log);
    }
  } catch (e) {
    noteError(e);
  } finally {
    state.ackFlushing = false;
  }
}

/** A new client is deployed: update the Service Worker, then reload — never offline. */
async function updateClient(version) {
  if (!version || version === CLIENT_VERSION || CLIENT_VERSION === DEV_VERSION || state.updating) return;
  if (state.offline || !navigator.onLine) return; // the next fresh playlist asks again
  const tried = store.get(KEY.reloadedFor);
  if (tried && tried.version === version && Math.abs(serverNow() - tried.at) < 15 * 60000) return; // no reload loops
  state.updating = true;
  try {
    const page = await fetch('/kiosk/', { cache: 'no-store', signal: timeoutSignal(REQUEST_TIMEOUT_MS) });
    if (!page.ok || page.headers.get(OFFLINE_HEADER)) throw new Error('client update: server not reachable');
    const reg = navigator.serviceWorker && (await navigator.serviceWorker.getRegistration('/kiosk/'));
    if (reg) {
      await reg.update();
      await workerSettled(reg.installing);
    }
    store.set(KEY.reloadedFor, { version, at: serverNow() });
    endTurn(); // keep the proof of play of what is on screen
    location.reload();
  } catch (e) {
    noteError(e);
  } finally {
    state.updating = false;
  }
}

function workerSettled(worker) {
  if (!worker) return Promise.resolve();
  return Promise.race([
    sleep('sw-wait', 15000),
    new Promise((resolve) => worker.addEventListener('statechange', () => {
      if (worker.state === 'activated' || worker.state === 'redundant') resolve();
    })),
  ]);
}

// ------------------------------------------------------- service worker ----
function registerServiceWorker() {
  if (!navigator.serviceWorker) return; // needs https (or localhost)
  navigator.serviceWorker
    .register(`/kiosk/sw.js?v=${encodeURIComponent(CLIENT_VERSION)}`, { scope: '/kiosk/' })
    .catch(noteError);
  navigator.serviceWorker.addEventListener('controllerchange', postMediaList);
}

function tellServiceWorker(msg) {
  const sw = navigator.serviceWorker && navigator.serviceWorker.controller;
  if (sw) sw.postMessage(msg);
}

/** Lets sw.js pre-cache every picture and video of the playlist and evict the rest. */
function postMediaList() {
  if (!state.playlist || !state.running) return;
  const urls = [];
  for (const item of state.playlist.items) {
    urls.push(...(item.images || []), ...bodyPictures(item));
    if (item.video) urls.push(item.video.url, item.video.poster);
    if (Array.isArray(item.charts)) urls.push(...item.charts);
  }
  tellServiceWorker({ type: 'media', urls: urls.filter(Boolean) });
}

/** Pictures placed in a notice's Markdown body: <img src="/kiosk/media/…"> in its html. */
function bodyPictures(item) {
  if (typeof item.html !== 'string' || !item.html.includes('<img')) return [];
  const parsed = document.createElement('template');
  parsed.innerHTML = item.html; // a template's content is inert: nothing loads, nothing runs
  const urls = [];
  for (const img of parsed.content.querySelectorAll('img[src]')) {
    let url;
    try { url = new URL(img.getAttribute('src'), location.href); } catch { continue; }
    if (url.origin === location.origin && url.pathname.startsWith('/kiosk/media/')) urls.push(url.pathname + url.search);
  }
  return urls;
}

/** Asks the browser not to evict the token, the playlist and the cached media when space runs low. */
function keepStorage() {
  const storage = navigator.storage;
  if (!storage || !storage.persist) return;
  storage.persisted()
    .then((kept) => kept || storage.persist())
    .then((kept) => { if (!kept) console.info('[kiosk] storage may be evicted under pressure'); })
    .catch(noteError);
}

// ----------------------------------------------------------------- boot ----
/** /kiosk/preview/{notice}: the server embeds a one-notice playlist in the page. */
function startPreview(playlist) {
  state.preview = true;
  state.running = true;
  state.playlist = playlist;
  $('#app').hidden = false;
  $('#resident-caption').replaceChildren(bilingual(TEXT.residentQr));
  renderChrome();
  tick();
}

function boot() {
  window.addEventListener('error', (e) => noteError(e.error || e.message));
  window.addEventListener('unhandledrejection', (e) => noteError(e.reason));
  const preview = document.getElementById('pavilion-preview');
  if (preview) return startPreview(JSON.parse(preview.textContent));
  window.addEventListener('pagehide', endTurn); // the play on screen still counts
  window.addEventListener('online', () => { if (state.running && !stream.ctrl) later('stream', 0, openStream); });
  registerServiceWorker();
  keepStorage();
  loadClock();
  state.offlineSince = store.get(KEY.offlineSince);
  state.token = store.get(KEY.token);
  tick();
  if (state.token) startRuntime();
  else startPairing();
}

boot();
