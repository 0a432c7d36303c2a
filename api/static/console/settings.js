// The operator's map settings, kept in this browser (localStorage): an optional tile URL and
// the coordinate system its provider uses. Most Chinese providers draw in GCJ-02; the console
// then asks the API for everything it draws with ?crs=gcj02 so grids and hazards sit on the
// right streets of the tiles. Without tiles the grid polygons are the map, in WGS-84.

const KEY = 'firegrid.map';
export const CRS_CHOICES = ['wgs84', 'gcj02', 'bd09'];
const DEFAULTS = { tileUrl: '', crs: 'wgs84' };

export function mapSettings() {
  try {
    const stored = JSON.parse(localStorage.getItem(KEY) ?? '{}');
    const crs = CRS_CHOICES.includes(stored.crs) ? stored.crs : DEFAULTS.crs;
    return { tileUrl: typeof stored.tileUrl === 'string' ? stored.tileUrl : '', crs };
  } catch {
    return { ...DEFAULTS }; // a damaged entry must not lock the operator out of the map
  }
}

export function saveMapSettings({ tileUrl, crs }) {
  localStorage.setItem(KEY, JSON.stringify({ tileUrl: tileUrl.trim(), crs }));
}

// The crs every request for drawn data names (positions in hazards, cases, grids, tracks).
export function drawCrs() {
  return mapSettings().crs;
}
