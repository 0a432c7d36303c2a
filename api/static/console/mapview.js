// The map drawing, outside Preact: Leaflet on one canvas renderer (no DOM element per grid or
// hazard, so 12,000 grids and 1,000 live hazards stay smooth). Grid polygons are the map; a
// grid with an open major or critical hazard is tinted with its colour; each hazard is a circle
// at its own position, or at its grid's centre when it has none.

import * as L from 'leaflet';
import './canvas_guard.js';
import { SEVERITY_COLOR, severityRank } from './severity.js';

const GRID_STYLE = { color: '#5b6b7c', weight: 0.6, fillColor: '#dfe6ee', fillOpacity: 0.35 };
const RADIUS = { critical: 9, major: 7, warning: 6, info: 5 };
const TINT_FROM = severityRank('major');

export class HazardMap {
  constructor(element, { tileUrl = '', onSelect = () => {} } = {}) {
    this.onSelect = onSelect;
    this.renderer = L.canvas({ padding: 0.3, tolerance: 3 });
    this.map = L.map(element, {
      preferCanvas: true,
      crs: L.CRS.EPSG3857,
      renderer: this.renderer,
      attributionControl: false, // its default text links to leafletjs.com: no external links
      zoomSnap: 0.25,
      // No zoom animation: a map removed mid-animation (the operator leaves the page) would
      // redraw its canvas after removal and throw ("reading 'save'" of a deleted context);
      // with 12,000 grids on one canvas the animated frames cost more than they show.
      zoomAnimation: false,
      fadeAnimation: false,
      markerZoomAnimation: false,
      minZoom: 3,
      maxZoom: 19,
    }).setView([31.23, 121.47], 11);
    if (tileUrl) L.tileLayer(tileUrl, { maxZoom: 19, crossOrigin: true }).addTo(this.map);
    this.grids = new Map(); // code -> { layer, centre, name }
    this.hazards = new Map(); // id -> { hazard, marker }
    this.byGrid = new Map(); // grid code -> Set of hazard ids drawn in it
    this.firstDrawn = new Map(); // id -> epoch ms its circle was first drawn (benchmarks read it)
    this.bounds = null;
    // Once the operator drags or zooms, the view is theirs: loading more grids no longer
    // re-fits it.
    this.touched = false;
    const touch = () => (this.touched = true);
    element.addEventListener('pointerdown', touch);
    element.addEventListener('wheel', touch, { passive: true });
    // Hazards above grids: a pane of their own, so a grid drawn later never covers them.
    this.map.createPane('hazards').style.zIndex = 450;
    this.hazardRenderer = L.canvas({ pane: 'hazards', padding: 0.3, tolerance: 4 });
  }

  // After this, drawing calls are ignored: a page of grids or a feed event still arriving for
  // a map the operator has left would reach a canvas Leaflet has already taken down.
  destroy() {
    this.destroyed = true;
    this.map.remove();
  }

  // Add a page of areas from GET /grids?geometry=1 (drawn at once, while the rest loads).
  addGrids(areas) {
    if (this.destroyed) return;
    for (const area of areas) {
      if (!area.geometry || this.grids.has(area.code)) continue;
      const layer = L.GeoJSON.geometryToLayer(
        { type: 'Feature', geometry: area.geometry, properties: {} },
        { ...GRID_STYLE, renderer: this.renderer },
      );
      layer.on('click', () => this.onSelect({ type: 'grid', code: area.code }));
      layer.addTo(this.map);
      const box = layer.getBounds();
      this.grids.set(area.code, { layer, centre: box.getCenter(), name: area.name });
      this.bounds = this.bounds
        ? this.bounds.extend(box)
        : L.latLngBounds(box.getSouthWest(), box.getNorthEast());
    }
    // Hazards that arrived before their grid had a place to be drawn.
    for (const { hazard, marker } of this.hazards.values()) {
      if (!marker) this.showHazard(hazard);
    }
  }

  fitGrids() {
    if (this.destroyed) return;
    if (this.bounds && !this.touched) this.map.fitBounds(this.bounds, { padding: [20, 20] });
  }

  // Draw, move or remove one hazard as its latest state says (a cleared one goes away).
  showHazard(hazard) {
    if (this.destroyed) return;
    const known = this.hazards.get(hazard.id);
    if (hazard.status === 'cleared') {
      if (known) this.removeHazard(hazard.id);
      return;
    }
    const place = this.placeOf(hazard);
    let marker = known?.marker ?? null;
    if (marker && !place) {
      marker.remove();
      marker = null;
    } else if (marker) {
      marker.setLatLng(place);
      marker.setStyle(markerStyle(hazard));
      marker.setRadius(RADIUS[hazard.severity] ?? 5);
    } else if (place) {
      marker = L.circleMarker(place, { ...markerStyle(hazard), renderer: this.hazardRenderer });
      marker.setRadius(RADIUS[hazard.severity] ?? 5);
      marker.on('click', () => this.onSelect({ type: 'hazard', id: hazard.id }));
      marker.addTo(this.map);
      if (!this.firstDrawn.has(hazard.id)) {
        this.firstDrawn.set(hazard.id, performance.timeOrigin + performance.now());
      }
    }
    if (known && known.hazard.grid_code !== hazard.grid_code) this.untrack(known.hazard);
    this.hazards.set(hazard.id, { hazard, marker });
    this.track(hazard);
  }

  removeHazard(id) {
    if (this.destroyed) return;
    const known = this.hazards.get(id);
    if (!known) return;
    known.marker?.remove();
    this.hazards.delete(id);
    this.firstDrawn.delete(id);
    this.untrack(known.hazard);
  }

  placeOf(hazard) {
    if (hazard.lat !== null && hazard.lon !== null) return [hazard.lat, hazard.lon];
    return this.grids.get(hazard.grid_code)?.centre ?? null;
  }

  track(hazard) {
    if (!hazard.grid_code) return;
    if (!this.byGrid.has(hazard.grid_code)) this.byGrid.set(hazard.grid_code, new Set());
    this.byGrid.get(hazard.grid_code).add(hazard.id);
    this.tintGrid(hazard.grid_code);
  }

  untrack(hazard) {
    const ids = this.byGrid.get(hazard.grid_code);
    if (!ids) return;
    ids.delete(hazard.id);
    this.tintGrid(hazard.grid_code);
  }

  // A grid takes the colour of the worst major or critical hazard still open in it. Warnings
  // stay dots: a day's patrol-compliance warnings alone would tint most of the city.
  tintGrid(code) {
    if (this.destroyed) return;
    const grid = this.grids.get(code);
    if (!grid) return;
    let worst = null;
    for (const id of this.byGrid.get(code) ?? []) {
      const { hazard } = this.hazards.get(id);
      if (hazard.status !== 'open' || severityRank(hazard.severity) < TINT_FROM) continue;
      if (!worst || severityRank(hazard.severity) > severityRank(worst)) {
        worst = hazard.severity;
      }
    }
    grid.layer.setStyle(
      worst ? { ...GRID_STYLE, fillColor: SEVERITY_COLOR[worst], fillOpacity: 0.45 } : GRID_STYLE,
    );
  }

  focus(latlng) {
    if (this.destroyed) return;
    this.map.setView(latlng, Math.max(this.map.getZoom(), 16));
  }

  // For the browser tests: what is drawn for a hazard (its circle's place and colour).
  drawn(id) {
    const known = this.hazards.get(id);
    if (!known?.marker) return null;
    const { lat, lng } = known.marker.getLatLng();
    return { lat, lon: lng, color: known.marker.options.fillColor, grid: known.hazard.grid_code };
  }
}

function markerStyle(hazard) {
  const colour = SEVERITY_COLOR[hazard.severity] ?? '#777';
  // An acknowledged hazard is still there but someone has it: a ring instead of a dot.
  const acked = hazard.status === 'acknowledged';
  return {
    color: acked ? colour : '#ffffff',
    weight: acked ? 3 : 1.5,
    fillColor: colour,
    fillOpacity: acked ? 0.25 : 0.95,
  };
}
