// The map (#/map, the default page): the grids of the current version drawn from the API
// (GET /grids?level=grid&geometry=1, page by page as they arrive), the open and acknowledged
// hazards in their cells, kept current by the live feed. Click a grid or a hazard for details.

import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { AckForm } from '../ack.js';
import { apiAll } from '../api.js';
import { formatTime, label, t } from '../i18n.js';
import { subscribeFrames } from '../live.js';
import { Latest } from '../freshness.js';
import { HazardMap } from '../mapview.js';
import { CRS_CHOICES, drawCrs, mapSettings, saveMapSettings } from '../settings.js';

const GRID_PAGE = 1000; // the API's largest page
const RECENT = 12; // hazards listed beside the map, newest first

export default function MapPage() {
  const element = useRef(null);
  const view = useRef(null);
  const [grids, setGrids] = useState({ loaded: 0, done: false, error: null });
  const [hazards, setHazards] = useState(new Map());
  const [selected, setSelected] = useState(null);
  const [showSettings, setShowSettings] = useState(false);

  useEffect(() => {
    const map = new HazardMap(element.current, { tileUrl: mapSettings().tileUrl, onSelect: setSelected });
    view.current = map;
    window.firegridMap = map; // the browser tests read what is drawn
    let alive = true;
    const crs = drawCrs();
    // Events that arrive while the first lists load are applied after them, in order.
    let early = [];
    const latest = new Latest();
    const apply = (all) => {
      const changes = all.filter((hazard) => latest.accept(hazard));
      for (const hazard of changes) map.showHazard(hazard);
      setHazards((old) => {
        const next = new Map(old);
        for (const hazard of changes) {
          if (hazard.status === 'cleared') next.delete(hazard.id);
          else next.set(hazard.id, hazard);
        }
        return next;
      });
    };
    // Changes are drawn once per frame, however many arrive (subscribeFrames): a storm of
    // alarms redraws the canvas and the side list a few dozen times a second.
    const unsubscribe = subscribeFrames((events) => {
      const changes = events.filter((e) => e.type.startsWith('hazard.')).map((e) => e.data);
      if (early) early.push(...changes);
      else if (changes.length) apply(changes);
    });
    apiAll('/grids', { level: 'grid', geometry: 1, crs, limit: GRID_PAGE }, (page) => {
      if (!alive) return;
      const first = map.grids.size === 0;
      map.addGrids(page);
      if (first) map.fitGrids();
      setGrids((g) => ({ ...g, loaded: map.grids.size }));
    }).then(
      () => alive && (map.fitGrids(), setGrids((g) => ({ ...g, done: true }))),
      (err) => alive && setGrids((g) => ({ ...g, error: err.message })),
    );
    Promise.all(
      ['open', 'acknowledged'].map((status) => apiAll('/hazards', { status, crs, limit: 1000 })),
    ).then(
      (lists) => {
        if (!alive) return;
        apply([...lists.flat(), ...early]);
        early = null;
      },
      (err) => alive && setGrids((g) => ({ ...g, error: err.message })),
    );
    return () => {
      alive = false;
      unsubscribe();
      map.destroy();
      if (window.firegridMap === map) window.firegridMap = null;
    };
  }, []);

  const recent = [...hazards.values()].sort((a, b) => b.id - a.id).slice(0, RECENT);
  return html`
    <section class="map-page" data-testid="page-map">
      <div class="map" ref=${element} data-testid="map"></div>
      <aside class="map-side">
        <div class="map-status" data-testid="map-status">
          ${grids.error
            ? html`<span class="error">${t('common.error', { message: grids.error })}</span>`
            : html`<span>${t(grids.done ? 'map.grids' : 'map.loading', { count: grids.loaded })}</span>`}
          <span>${t('map.hazards', { count: hazards.size })}</span>
          <button class="link" onClick=${() => setShowSettings(!showSettings)}>${t('map.settings')}</button>
        </div>
        ${showSettings && html`<${MapSettings} />`}
        ${selected && html`<${Details} selection=${selected} hazards=${hazards} view=${view.current}
          onClose=${() => setSelected(null)} />`}
        <h3>${t('map.recent')}</h3>
        <ul class="recent" data-testid="map-recent">
          ${recent.length === 0 && html`<li class="muted">${t('common.empty')}</li>`}
          ${recent.map((h) => html`
            <li key=${h.id} class="recent-item" data-hazard=${h.id} data-rule=${h.rule}
              onClick=${() => setSelected({ type: 'hazard', id: h.id })}>
              <span class=${`sev sev-${h.severity}`}>${label('severity', h.severity)}</span>
              <span>${label('rule', h.rule)}</span>
              <span class="muted">${h.grid_code ?? t('map.nogrid')}</span>
              <span class="muted">${formatTime(h.opened_at)}</span>
            </li>`)}
        </ul>
      </aside>
    </section>`;
}

function Details({ selection, hazards, view, onClose }) {
  if (selection.type === 'grid') {
    const inGrid = [...hazards.values()].filter((h) => h.grid_code === selection.code);
    const name = view?.grids.get(selection.code)?.name;
    return html`
      <div class="details" data-testid="details">
        <button class="link close" onClick=${onClose}>${t('common.close')}</button>
        <h3>${t('map.grid')} ${selection.code}</h3>
        ${name && html`<p>${name}</p>`}
        <p>${t('map.hazards', { count: inGrid.length })}</p>
        <ul>${inGrid.map((h) => html`<li key=${h.id}>
          <span class=${`sev sev-${h.severity}`}>${label('severity', h.severity)}</span>
          ${' '}${label('rule', h.rule)} · ${label('status', h.status)}</li>`)}</ul>
      </div>`;
  }
  const hazard = hazards.get(selection.id);
  if (!hazard) return null; // cleared since it was clicked
  const place = view?.placeOf(hazard);
  return html`
    <div class="details" data-testid="details">
      <button class="link close" onClick=${onClose}>${t('common.close')}</button>
      <h3><span class=${`sev sev-${hazard.severity}`}>${label('severity', hazard.severity)}</span>
        ${' '}${label('rule', hazard.rule)}</h3>
      <dl>
        <dt>${t('hazard.status')}</dt><dd>${label('status', hazard.status)}</dd>
        <dt>${t('hazard.grid')}</dt><dd>${hazard.grid_code ?? t('map.nogrid')}</dd>
        <dt>${t('hazard.device')}</dt>
        <dd>${hazard.device_id ? html`<a href=${`#/devices/${encodeURIComponent(hazard.device_id)}`}>${hazard.device_id}</a>` : t('common.none')}</dd>
        <dt>${t('hazard.unit')}</dt>
        <dd>${hazard.unit_id ? html`<a href=${`#/units/${encodeURIComponent(hazard.unit_id)}`}>${hazard.unit_id}</a>` : t('common.none')}</dd>
        <dt>${t('hazard.opened')}</dt><dd>${formatTime(hazard.opened_at)}</dd>
        <dt>${t('hazard.occurrences')}</dt><dd>${hazard.occurrences}</dd>
        ${hazard.acknowledged_by && html`
          <dt>${t('hazard.acked_by')}</dt><dd>${hazard.acknowledged_by}</dd>
          <dt>${t('hazard.note')}</dt><dd>${hazard.acknowledged_note ?? t('common.none')}</dd>`}
      </dl>
      ${place && html`<button class="secondary" onClick=${() => view.focus(place)}>${t('map.zoom')}</button>`}
      ${hazard.status === 'open' && html`<${AckForm} hazard=${hazard} />`}
    </div>`;
}

function MapSettings() {
  const current = mapSettings();
  const [tileUrl, setTileUrl] = useState(current.tileUrl);
  const [crs, setCrs] = useState(current.crs);
  const save = (event) => {
    event.preventDefault();
    saveMapSettings({ tileUrl, crs });
    location.reload(); // the map, the lists and the live feed all start again in the new crs
  };
  return html`
    <form class="map-settings" onSubmit=${save} data-testid="map-settings">
      <label>${t('map.tile_url')}
        <input type="text" value=${tileUrl} placeholder="https://…/{z}/{x}/{y}.png"
          onInput=${(e) => setTileUrl(e.currentTarget.value)} /></label>
      <label>${t('map.crs')}
        <select value=${crs} onChange=${(e) => setCrs(e.currentTarget.value)}>
          ${CRS_CHOICES.map((c) => html`<option value=${c}>${t(`crs.${c}`)}</option>`)}
        </select></label>
      <p class="hint">${t('map.tile_hint')}</p>
      <button type="submit">${t('common.save')}</button>
    </form>`;
}
