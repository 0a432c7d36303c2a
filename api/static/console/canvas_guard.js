// Leaflet 1.9.4's canvas renderer can be asked to redraw after it was taken down: a map removed
// while the operator leaves its page (logout, another page) still had a redraw coming, and the
// canvas's drawing context is gone by then ("Cannot read properties of undefined (reading
// 'save')", seen under load on CI and on a fresh machine, never in a quiet run; Leaflet #6030 is
// the same race for an earlier path). A canvas that is gone has nothing to draw: its redraw and
// resize are skipped. Imported once by every module that draws a Leaflet map.

import { Canvas } from 'leaflet';

for (const name of ['_redraw', '_update']) {
  const original = Canvas.prototype[name];
  Canvas.prototype[name] = function guarded(...args) {
    if (!this._ctx) return undefined;
    return original.apply(this, args);
  };
}
