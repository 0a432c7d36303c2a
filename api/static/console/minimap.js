// A small Leaflet map for a page's places (a case's steps, a terminal's track): the grids of
// the communities of `grids` drawn as the background (those of `grids` themselves highlighted),
// over the operator's tiles when the map settings name some. Places are drawn in the settings'
// crs (`drawCrs()`): a page asks the API for its positions with ?crs=${drawCrs()}, as the grids
// are asked here, so everything sits on the tiles' streets.
// `draw(map)` adds the page's layers and returns what to fit the view to (a LatLngBounds, or
// null); it runs again when `deps` change, after the previous layers were removed.

import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import * as L from 'leaflet';
import './canvas_guard.js';
import { apiAll } from './api.js';
import { drawCrs, mapSettings } from './settings.js';

const GRID_STYLE = { color: '#7a8896', weight: 1, fillColor: '#dfe6ee', fillOpacity: 0.4 };
const HERE_STYLE = { color: '#1f5fa8', weight: 2, fillColor: '#cfe0f5', fillOpacity: 0.5 };

export function MiniMap({ draw, deps, height = 320, grids = [], testid = 'minimap' }) {
  const box = useRef(null);
  const map = useRef(null);
  const layers = useRef(null);

  useEffect(() => {
    map.current = L.map(box.current, {
      preferCanvas: true,
      attributionControl: false, // its default text links to leafletjs.com: no external links
      zoomSnap: 0.25,
      // No zoom animation: a map removed mid-animation (the operator leaves the page) would
      // redraw its canvas after removal and throw ("reading 'save'" of a deleted context).
      zoomAnimation: false,
      fadeAnimation: false,
      markerZoomAnimation: false,
    }).setView([31.23, 121.47], 15);
    box.current.leafletMap = map.current; // for the browser tests: what is drawn where
    const { tileUrl } = mapSettings();
    if (tileUrl) L.tileLayer(tileUrl, { maxZoom: 19, crossOrigin: true }).addTo(map.current);
    const background = L.layerGroup().addTo(map.current);
    // The communities' grids under the places: one request per community, drawn as they come.
    const communities = [...new Set(grids.filter(Boolean).map((g) => g.slice(0, 12)))];
    for (const parent of communities) {
      apiAll('/grids', { parent, level: 'grid', geometry: 1, crs: drawCrs() }, (areas) => {
        for (const area of areas) {
          if (!area.geometry || !map.current) continue;
          const style = grids.includes(area.code) ? HERE_STYLE : GRID_STYLE;
          L.geoJSON(area.geometry, { style }).bindTooltip(area.name || area.code).addTo(background);
          box.current.dataset.grids = Number(box.current.dataset.grids ?? 0) + 1; // for tests
        }
      }).catch(() => {}); // the background is a nicety: the places are drawn without it
    }
    return () => {
      map.current.remove();
      map.current = null;
    };
  }, []);

  useEffect(() => {
    layers.current?.remove();
    layers.current = L.layerGroup().addTo(map.current);
    const bounds = draw(layers.current, L);
    // maxZoom: a street's worth around even a single place.
    if (bounds?.isValid()) map.current.fitBounds(bounds, { padding: [24, 24], maxZoom: 17 });
  }, deps);

  return html`<div class="minimap" ref=${box} style=${`height:${height}px`} data-testid=${testid}></div>`;
}
