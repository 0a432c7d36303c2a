// A terminal's track for one day (#/terminals/:id/track?day=YYYY-MM-DD): its accepted fixes as
// a line on a small map, the patrol segments over it (green: valid, orange: not, with the
// reason), and a replay: play/pause and a slider moving a marker along the track in time order.
// A day is a China day (UTC+8), the day the patrol rules count by.

import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { apiAll } from '../api.js';
import { useApi } from '../hooks.js';
import { formatTime, t } from '../i18n.js';
import { MiniMap } from '../minimap.js';
import { drawCrs } from '../settings.js';

const CHINA_OFFSET_MS = 8 * 3600 * 1000;
const SPEEDS = [10, 60, 300];
const TICK_MS = 100;

export function chinaToday(now = Date.now()) {
  return new Date(now + CHINA_OFFSET_MS).toISOString().slice(0, 10);
}

// [from, to) of a China day, as the API wants them (RFC 3339 with an offset).
export function dayBounds(day) {
  const from = new Date(`${day}T00:00:00+08:00`);
  return { from: from.toISOString(), to: new Date(from.getTime() + 24 * 3600 * 1000).toISOString() };
}

async function loadDay(id, day) {
  const bounds = dayBounds(day);
  const path = `/terminals/${encodeURIComponent(id)}`;
  const [fixes, segments] = await Promise.all([
    apiAll(`${path}/track`, { ...bounds, crs: drawCrs(), limit: 1000 }), // as the map draws
    apiAll(`${path}/patrols`, { ...bounds, limit: 1000 }),
  ]);
  const placed = fixes.filter((f) => f.lat !== null && f.lon !== null);
  return { fixes: placed, times: placed.map((f) => Date.parse(f.ts)), segments };
}

// The day before or after a YYYY-MM-DD day.
export function shiftDay(day, days) {
  const moved = new Date(Date.parse(`${day}T00:00:00Z`) + days * 24 * 3600 * 1000);
  return moved.toISOString().slice(0, 10);
}

// The index of the last fix at or before `at` (binary search: tracks have 10,000s of fixes).
export function fixAt(times, at) {
  let lo = 0;
  let hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (times[mid] <= at) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function drawDay({ fixes, times, segments }, marker) {
  return (layer, L) => {
    if (!fixes.length) return null;
    const line = L.polyline(fixes.map((f) => [f.lat, f.lon]), { color: '#8796a5', weight: 2 }).addTo(layer);
    for (const s of segments) {
      const first = fixAt(times, Date.parse(s.started_at));
      const last = fixAt(times, Date.parse(s.ended_at));
      const colour = s.valid ? '#2e9d4f' : '#f07c00';
      L.polyline(fixes.slice(first, last + 1).map((f) => [f.lat, f.lon]), { color: colour, weight: 5, opacity: 0.8 })
        .bindTooltip(segmentLabel(s))
        .addTo(layer);
    }
    marker.current = L.circleMarker([fixes[0].lat, fixes[0].lon], {
      radius: 8, color: '#fff', weight: 2, fillColor: '#d7191c', fillOpacity: 1,
    }).addTo(layer);
    return line.getBounds();
  };
}

function segmentLabel(s) {
  const minutes = Math.round(s.duration_s / 60);
  const state = s.valid ? t('track.valid') : t('track.invalid', { reason: s.reason ?? '' });
  return `${formatTime(s.started_at)} · ${t('track.minutes', { minutes })} · ${Math.round(s.distance_m)} m · ${state}`;
}

function Replay({ times, onMove }) {
  const start = times[0];
  const end = times[times.length - 1];
  const [at, setAt] = useState(start);
  const [playing, setPlaying] = useState(false);
  const [speed, setSpeed] = useState(SPEEDS[1]);
  useEffect(() => onMove(fixAt(times, at)), [at]);
  useEffect(() => {
    if (!playing) return undefined;
    const timer = setInterval(() => {
      setAt((now) => {
        const next = Math.min(end, now + speed * TICK_MS);
        if (next >= end) setPlaying(false);
        return next;
      });
    }, TICK_MS);
    return () => clearInterval(timer);
  }, [playing, speed]);
  const toggle = () => {
    if (!playing && at >= end) setAt(start); // play again from the start once at the end
    setPlaying(!playing);
  };
  return html`
    <div class="replay" data-testid="replay" data-fix=${fixAt(times, at)}>
      <button type="button" data-testid="play" onClick=${toggle}>${playing ? t('track.pause') : t('track.play')}</button>
      <input type="range" data-testid="replay-slider" min=${start} max=${end} step="1000" value=${at}
        onInput=${(e) => { setPlaying(false); setAt(Number(e.currentTarget.value)); }} />
      <span class="replay-time" data-testid="replay-time">${formatTime(new Date(at).toISOString())}</span>
      <select value=${speed} onChange=${(e) => setSpeed(Number(e.currentTarget.value))} title=${t('track.speed')}>
        ${SPEEDS.map((s) => html`<option value=${s}>${s}×</option>`)}
      </select>
    </div>`;
}

function Segments({ segments }) {
  if (!segments.length) return html`<p class="muted" data-testid="segments">${t('track.no_segments')}</p>`;
  return html`
    <table class="list" data-testid="segments">
      <thead><tr><th>${t('track.start')}</th><th>${t('track.end')}</th><th>${t('track.duration')}</th>
        <th>${t('track.distance')}</th><th>${t('track.grids')}</th><th>${t('track.counted')}</th></tr></thead>
      <tbody>${segments.map((s) => html`
        <tr key=${s.started_at}>
          <td>${formatTime(s.started_at)}</td><td>${formatTime(s.ended_at)}</td>
          <td>${t('track.minutes', { minutes: Math.round(s.duration_s / 60) })}</td>
          <td>${Math.round(s.distance_m)} m</td>
          <td>${s.grids.map((g) => g.grid).join(', ') || t('common.none')}</td>
          <td class=${s.valid ? 'ok' : 'escalated'}>${s.valid ? t('track.valid') : t('track.invalid', { reason: s.reason ?? '' })}</td>
        </tr>`)}</tbody>
    </table>`;
}

export default function TrackPage({ params, query }) {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(query.day ?? '') ? query.day : chinaToday();
  const { data, error } = useApi(() => loadDay(params.id, day), [params.id, day]);
  const marker = useRef(null);
  const go = (next) => {
    location.hash = `#/terminals/${encodeURIComponent(params.id)}/track?day=${next}`;
  };
  const move = (i) => {
    const fix = data?.fixes[i];
    if (fix && marker.current) marker.current.setLatLng([fix.lat, fix.lon]);
  };
  const grids = data ? data.segments.flatMap((s) => s.grids.map((g) => g.grid)) : [];
  return html`
    <section data-testid="page-track" class="detail">
      <h2>${t('track.title', { id: params.id })}</h2>
      <div class="filters">
        <label>${t('track.day')}
          <input type="date" data-testid="day" value=${day}
            onChange=${(e) => e.currentTarget.value && go(e.currentTarget.value)} /></label>
        <button type="button" class="secondary" data-testid="day-before"
          onClick=${() => go(shiftDay(day, -1))}>${t('track.before')}</button>
        <button type="button" class="secondary" data-testid="day-after"
          onClick=${() => go(shiftDay(day, 1))}>${t('track.after')}</button>
        ${data && html`<span class="muted" data-testid="track-summary">
          ${t('track.summary', { fixes: data.fixes.length, segments: data.segments.length })}</span>`}
      </div>
      ${error && html`<p class="error" role="alert">${t('common.error', { message: error.message })}</p>`}
      ${!data && !error && html`<p class="muted">${t('common.loading')}</p>`}
      ${data && data.fixes.length === 0 && html`<p class="muted" data-testid="track-empty">${t('track.empty')}</p>`}
      ${data && data.fixes.length > 0 && html`
        <${MiniMap} draw=${drawDay(data, marker)} deps=${[data]} grids=${grids} height=${420} testid="track-map" />
        <${Replay} times=${data.times} onMove=${move} />`}
      ${data && html`<h3>${t('track.segments')}</h3><${Segments} segments=${data.segments} />`}
    </section>`;
}
