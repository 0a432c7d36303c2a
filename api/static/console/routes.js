// The console's pages: one line each. `path` is matched against the hash (#/cases/42 matches
// '/cases/:id' with params.id = '42'); `nav` (an i18n key) puts the page in the top bar;
// `load` imports the page's module only when it is first shown. A page module's default
// export is a Preact component taking { params, query } (see README.md).

export const ROUTES = [
  { path: '/map', nav: 'nav.map', load: () => import('./pages/map.js') },
  { path: '/hazards', nav: 'nav.hazards', load: () => import('./pages/hazards.js') },
  { path: '/cases', nav: 'nav.cases', load: () => import('./pages/cases.js') },
  { path: '/cases/:id', load: () => import('./pages/case.js') },
  { path: '/units', nav: 'nav.units', load: () => import('./pages/units.js') },
  { path: '/units/:id', load: () => import('./pages/unit.js') },
  { path: '/devices', nav: 'nav.devices', load: () => import('./pages/devices.js') },
  { path: '/devices/:id', load: () => import('./pages/device.js') },
  { path: '/terminals/:id/track', load: () => import('./pages/track.js') },
  { path: '/indicators', nav: 'nav.indicators', load: () => import('./pages/indicators.js') },
];

export const DEFAULT_PATH = '/map';

// Split "#/cases/42?x=1" into the route it names, its params and its query; null if none.
export function matchRoute(hash) {
  const [path, search = ''] = (hash.replace(/^#/, '') || DEFAULT_PATH).split('?');
  const parts = path.split('/').filter(Boolean);
  for (const route of ROUTES) {
    const pattern = route.path.split('/').filter(Boolean);
    if (pattern.length !== parts.length) continue;
    const params = {};
    const same = pattern.every((piece, i) => {
      if (piece.startsWith(':')) {
        params[piece.slice(1)] = decodeURIComponent(parts[i]);
        return true;
      }
      return piece === parts[i];
    });
    if (same) return { route, params, query: Object.fromEntries(new URLSearchParams(search)) };
  }
  return null;
}
