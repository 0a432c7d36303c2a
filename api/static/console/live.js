// The live feed (GET /api/v1/stream, Server-Sent Events) shared by every page: one connection
// for the whole console, and pages subscribe() to the events they draw.
//
// EventSource cannot send the bearer token, so each connection is opened with a single-use
// ticket (POST /api/v1/stream/tickets). A ticket is spent once used, so EventSource's own
// reconnect (same URL) would be refused: on any error we close it, fetch a new ticket and
// reopen with ?last_event_id= the last event seen, and the server replays what we missed.

import { apiPost } from './api.js';
import { drawCrs } from './settings.js';

const KINDS = ['hazard.opened', 'hazard.updated', 'hazard.cleared', 'case.created', 'case.updated'];
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 15000; // a long outage is retried this often, not every half second
// A reconnection before any event was seen has no event id to resume from: it asks for the
// events since the first connection instead, less this margin for the browser's clock being
// behind the server's. Replaying a few events twice is harmless (pages apply a hazard's or a
// case's latest state by id); missing one is not.
const CLOCK_MARGIN_MS = 120000;

const subscribers = new Set();
const statusWatchers = new Set();
let source = null;
let lastEventId = null;
let status = 'offline'; // offline | connecting | connected
let retryMs = RETRY_MIN_MS;
let retryTimer = null;
let running = false;
let startedAt = null; // ISO time of the first connection, for ?since= (see CLOCK_MARGIN_MS)

function setStatus(next) {
  status = next;
  for (const watcher of statusWatchers) watcher(next);
}

function deliver(type, message) {
  lastEventId = message.lastEventId || lastEventId;
  let data;
  try {
    data = JSON.parse(message.data);
  } catch {
    return; // not ours to crash on: the next event is still good
  }
  for (const handler of subscribers) {
    try {
      handler(type, data);
    } catch (err) {
      console.error('live subscriber failed', err); // one broken page must not stop the others
    }
  }
}

async function connect() {
  if (!running) return;
  setStatus('connecting');
  let ticket;
  try {
    ticket = (await apiPost('/stream/tickets')).ticket;
  } catch {
    scheduleRetry(); // a 401 has already logged out (api.js), which stops us
    return;
  }
  if (!running) return;
  // Positions in the map's coordinate system (settings.js), as the REST lists give them.
  const query = new URLSearchParams({ ticket, crs: drawCrs() });
  if (lastEventId !== null) query.set('last_event_id', lastEventId);
  else if (startedAt !== null) query.set('since', startedAt);
  else startedAt = new Date(Date.now() - CLOCK_MARGIN_MS).toISOString();
  source = new EventSource(`/api/v1/stream?${query}`);
  source.onopen = () => {
    retryMs = RETRY_MIN_MS;
    setStatus('connected');
  };
  source.onerror = () => {
    drop();
    scheduleRetry();
  };
  for (const kind of KINDS) source.addEventListener(kind, (message) => deliver(kind, message));
}

function drop() {
  if (source) source.close();
  source = null;
  setStatus('offline');
}

// A lost network can leave the stream half-open for minutes before it errors: when the browser
// knows it is offline, drop the stream at once, and reconnect as soon as it is back (the
// server then replays what was missed after the last event id).
window.addEventListener('offline', () => running && drop());
window.addEventListener('online', () => {
  if (!running || source || status === 'connecting') return;
  if (retryTimer !== null) clearTimeout(retryTimer);
  retryTimer = null;
  retryMs = RETRY_MIN_MS;
  connect();
});

function scheduleRetry() {
  if (!running || retryTimer !== null) return;
  retryTimer = setTimeout(() => {
    retryTimer = null;
    connect();
  }, retryMs);
  retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
}

// Open the feed (after login). The stream starts "now": pages load the current state by REST
// and apply events from then on.
export function startLive() {
  if (running) return;
  running = true;
  retryMs = RETRY_MIN_MS;
  connect();
}

// Close the feed (at logout) and forget where it was: the next operator starts afresh.
export function stopLive() {
  running = false;
  if (retryTimer !== null) clearTimeout(retryTimer);
  retryTimer = null;
  drop();
  lastEventId = null;
  startedAt = null;
}

// handler(type, data) for every event: type is "hazard.opened|updated|cleared" (data: the
// hazard as GET /hazards shows it) or "case.created|updated" (data: the case as GET /cases
// shows it). Returns the function that unsubscribes (call it when the page unmounts).
export function subscribe(handler) {
  subscribers.add(handler);
  return () => subscribers.delete(handler);
}

// watcher(status) whenever the connection's state changes; called at once with the current one.
export function watchStatus(watcher) {
  statusWatchers.add(watcher);
  watcher(status);
  return () => statusWatchers.delete(watcher);
}

// handler(events) at most once per animation frame, with the events since its last call in
// order ({ type, data } each): for pages that redraw a map or a long list, so that a storm of
// thousands of events costs one render per frame rather than one per event. (A hidden tab has
// no frames: its events wait, and are applied together when it is shown again.)
export function subscribeFrames(handler) {
  let pending = [];
  let frame = null;
  const flush = () => {
    frame = null;
    const events = pending;
    pending = [];
    handler(events);
  };
  const unsubscribe = subscribe((type, data) => {
    pending.push({ type, data });
    if (frame === null) frame = requestAnimationFrame(flush);
  });
  return () => {
    unsubscribe();
    if (frame !== null) cancelAnimationFrame(frame);
  };
}
