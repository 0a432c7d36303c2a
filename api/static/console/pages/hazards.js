// The hazard list (#/hazards): filters the API supports, acknowledge with a note, live.

import { html } from 'htm/preact';
import { t } from '../i18n.js';

export default function HazardsPage() {
  return html`<section data-testid="page-hazards"><h2>${t('nav.hazards')}</h2></section>`;
}
