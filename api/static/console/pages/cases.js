// The case queue (#/cases): status, assignee, escalation level, deadline counting down, live.

import { html } from 'htm/preact';
import { t } from '../i18n.js';

export default function CasesPage() {
  return html`<section data-testid="page-cases"><h2>${t('nav.cases')}</h2></section>`;
}
