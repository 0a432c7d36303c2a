// Key units (#/units): the list the token's areas allow, by level; each links to its file.

import { html } from 'htm/preact';
import { label, t } from '../i18n.js';
import { ListFooter, usePagedList } from '../paged.js';

export default function UnitsPage({ query }) {
  const level = ['1', '2', '3'].includes(query.level) ? query.level : '';
  const { items, error, busy, more } = usePagedList('/units', { level });
  return html`
    <section data-testid="page-units">
      <h2>${t('nav.units')}</h2>
      <div class="filters">
        <label>${t('unit.level')}
          <select data-testid="filter-level" value=${level}
            onChange=${(e) => { location.hash = e.currentTarget.value ? `#/units?level=${e.currentTarget.value}` : '#/units'; }}>
            <option value="">${t('common.all')}</option>
            ${[1, 2, 3].map((l) => html`<option value=${l}>${label('unit_level', l)}</option>`)}
          </select></label>
      </div>
      ${items && html`
        <table class="list" data-testid="unit-list">
          <thead><tr><th>${t('unit.id')}</th><th>${t('unit.name')}</th><th>${t('unit.level')}</th>
            <th>${t('unit.responsible')}</th><th>${t('unit.address')}</th><th>${t('unit.device_count')}</th></tr></thead>
          <tbody>${items.map((u) => html`
            <tr key=${u.unit_id}>
              <td><a href=${`#/units/${encodeURIComponent(u.unit_id)}`}>${u.unit_id}</a></td>
              <td>${u.name}</td><td>${label('unit_level', u.level)}</td>
              <td>${u.responsible ?? t('common.none')}</td><td>${u.address ?? t('common.none')}</td>
              <td>${u.device_ids.length}</td>
            </tr>`)}</tbody>
        </table>`}
      <${ListFooter} items=${items} error=${error} busy=${busy} more=${more} />
    </section>`;
}
