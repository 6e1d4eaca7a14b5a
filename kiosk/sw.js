/* Pavilion lobby screen Service Worker: keeps the page, the last playlist and
 * its pictures and videos, so a screen survives days without the server.
 * Registered by kiosk.js as /kiosk/sw.js?v=CLIENT_VERSION, scope /kiosk/. */
'use strict';

const VERSION = new URL(self.location.href).searchParams.get('v') || 'dev';
const PREFIX = 'pavilion-kiosk-';
const SHELL_CACHE = `${PREFIX}${VERSION}`; // page + last playlist; replaced with each client version
const MEDIA_CACHE = `${PREFIX}media`;      // kept across versions, pruned to the playlist's media
const SHELL = ['/kiosk/', '/kiosk/kiosk.js', '/kiosk/kiosk.css']; // exactly what index.html loads
const PLAYLIST = '/kiosk/api/playlist';
const SHELL_TIMEOUT_MS = 8000;             // slow Wi-Fi: yesterday's page beats a blank screen
const OFFLINE_HEADER = 'X-Pavilion-Offline'; // tells the page this answer came from the cache

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL_CACHE);
    await cache.addAll(SHELL.map((url) => new Request(url, { cache: 'no-cache' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const shell = await caches.open(SHELL_CACHE);
    for (const name of await caches.keys()) {
      if (!name.startsWith(PREFIX) || name === SHELL_CACHE || name === MEDIA_CACHE) continue;
      // Carry the last playlist over, so a screen updated just before going offline still has it.
      const old = await (await caches.open(name)).match(PLAYLIST);
      if (old && !(await shell.match(PLAYLIST))) await shell.put(PLAYLIST, old);
      await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return; // heartbeat, plays, pairings: network only
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname === PLAYLIST) return event.respondWith(playlistResponse(request));
  if (url.pathname.startsWith('/kiosk/media/')) return event.respondWith(mediaResponse(event, request));
  const page = request.mode === 'navigate' && (url.pathname === '/kiosk/' || url.pathname === '/kiosk/index.html');
  if (page || SHELL.includes(url.pathname)) return event.respondWith(shellResponse(page ? '/kiosk/' : url.pathname));
  // Anything else (events stream, pairings, sw.js itself) goes to the network untouched.
});

self.addEventListener('message', (event) => {
  const msg = event.data || {};
  if (msg.type === 'media' && Array.isArray(msg.urls)) event.waitUntil(queueMediaSync(msg.urls));
  else if (msg.type === 'forget') event.waitUntil(keepPlaylist(++playlistAsked, forgetPlaylist));
});

/** Same response with the "from cache" header added. */
function fromCache(response) {
  const headers = new Headers(response.headers);
  headers.set(OFFLINE_HEADER, '1');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

/** Network first, so a new deployment arrives on the next load; the cache when the server is away. */
async function shellResponse(key) {
  const cache = await caches.open(SHELL_CACHE);
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), SHELL_TIMEOUT_MS);
  try {
    // no-cache: revalidate even if the server sent a long max-age without a hash in the URL.
    const response = await fetch(key, { cache: 'no-cache', credentials: 'same-origin', signal: ctrl.signal });
    if (response.ok) {
      await cache.put(key, response.clone());
      return response;
    }
    const cached = await cache.match(key); // an error page is worse than yesterday's page
    return cached ? fromCache(cached) : response;
  } catch (err) {
    const cached = await cache.match(key);
    if (cached) return fromCache(cached);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

// Playlist answers can arrive out of order (one the page gave up on may still
// be running): the cache keeps the answer to the latest request, never an
// older one. Writes run one at a time so that this check stays true.
let playlistAsked = 0;  // playlist requests (and forgets) seen
let playlistKept = 0;   // the one whose answer the cache holds
let playlistWrites = Promise.resolve();

function keepPlaylist(ticket, write) {
  const done = playlistWrites.then(() => {
    if (ticket < playlistKept) return undefined;
    playlistKept = ticket;
    return write();
  });
  playlistWrites = done.catch(() => {});
  return done;
}

const forgetPlaylist = () => caches.open(SHELL_CACHE).then((c) => c.delete(PLAYLIST));

/** Network first; the last good playlist when the network fails. */
async function playlistResponse(request) {
  const ticket = ++playlistAsked;
  const cache = await caches.open(SHELL_CACHE);
  try {
    const response = await fetch(request);
    if (response.status === 200) {
      // The whole body first, so that a stalled download cannot hold up the writes queued behind.
      const copy = new Response(await response.clone().blob(), { headers: response.headers });
      await keepPlaylist(ticket, () => cache.put(PLAYLIST, copy));
    } else if (response.status === 401) {
      await keepPlaylist(ticket, forgetPlaylist);
    }
    return response;
  } catch (err) {
    const cached = await cache.match(PLAYLIST, { ignoreVary: true });
    if (cached) return fromCache(cached);
    throw err;
  }
}

/** Cache first: media never change under one URL. Video asks for byte ranges. */
async function mediaResponse(event, request) {
  const cache = await caches.open(MEDIA_CACHE);
  const range = request.headers.get('Range');
  const cached = await cache.match(request.url, { ignoreVary: true });
  if (cached) return range ? rangeOf(cached, range) : cached;
  const response = await fetch(request);
  if (response.status === 200 && !range) event.waitUntil(cache.put(request.url, response.clone()).catch(() => {}));
  return response;
}

/** A 206 cut from a whole cached file (the Cache API stores only full responses). */
async function rangeOf(response, header) {
  const blob = await response.blob();
  const size = blob.size;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  let start = 0;
  let end = size - 1;
  if (m && m[1]) {
    start = Number(m[1]);
    if (m[2]) end = Math.min(Number(m[2]), size - 1);
  } else if (m && m[2]) {
    start = Math.max(size - Number(m[2]), 0); // "bytes=-500": the last 500 bytes
  }
  if (!m || start > end || start >= size) {
    return new Response(null, { status: 416, headers: { 'Content-Range': `bytes */${size}` } });
  }
  const headers = new Headers(response.headers);
  headers.set('Content-Range', `bytes ${start}-${end}/${size}`);
  headers.set('Content-Length', String(end - start + 1));
  return new Response(blob.slice(start, end + 1), { status: 206, statusText: 'Partial Content', headers });
}

// Media syncs run one after another, so an older list never re-adds what a newer one evicted.
let mediaSync = Promise.resolve();

function queueMediaSync(urls) {
  mediaSync = mediaSync.then(() => syncMedia(urls)).catch(() => {});
  return mediaSync;
}

/** Evicts media no longer in the playlist, then fetches the missing ones one by one (gentle on Wi-Fi). */
async function syncMedia(urls) {
  const keep = new Set();
  for (const u of urls) {
    const url = new URL(u, self.location.href);
    if (url.origin === self.location.origin) keep.add(url.href);
  }
  const cache = await caches.open(MEDIA_CACHE);
  for (const request of await cache.keys()) {
    if (!keep.has(request.url)) await cache.delete(request);
  }
  for (const url of keep) {
    if (await cache.match(url, { ignoreVary: true })) continue;
    try {
      const response = await fetch(url, { cache: 'no-cache' });
      if (response.status === 200) await cache.put(url, response);
    } catch {
      // Offline or a broken file: the page asks again with the next playlist or reconnection.
    }
  }
}
