// Devices (#/devices): the registered devices the token's areas allow, with their status,
// filtered by kind and status; each links to its page.

import { html } from 'htm/preact';
import { DeviceStatus } from '../badges.js';
import { formatTime, label, t } from '../i18n.js';
import { ListFooter, usePagedList } from '../paged.js';

const KINDS = ['smoke', 'hydrant', 'extinguisher', 'water_tank', 'transmission', 'terminal'];
const STATUSES = ['online', 'offline', 'unknown'];

export default function DevicesPage({ query }) {
  const kind = query.kind ?? '';
  const status = STATUSES.includes(query.status) ? query.status : '';
  const filter = (name, value) => {
    const next = new URLSearchParams({ kind, status, [name]: value });
    for (const [k, v] of [...next]) if (!v) next.delete(k);
    location.hash = `#/devices${next.toString() ? `?${next}` : ''}`;
  };
  const { items, error, busy, more } = usePagedList('/devices', { kind, status });
  return html`
    <section data-testid="page-devices">
      <h2>${t('nav.devices')}</h2>
      <div class="filters">
        <label>${t('device.kind')}
          <select data-testid="filter-kind" value=${kind} onChange=${(e) => filter('kind', e.currentTarget.value)}>
            <option value="">${t('common.all')}</option>
            ${KINDS.map((k) => html`<option value=${k}>${label('device_kind', k)}</option>`)}
          </select></label>
        <label>${t('device.status')}
          <select data-testid="filter-status" value=${status} onChange=${(e) => filter('status', e.currentTarget.value)}>
            <option value="">${t('common.all')}</option>
            ${STATUSES.map((s) => html`<option value=${s}>${label('device_status', s)}</option>`)}
          </select></label>
      </div>
      ${items && html`
        <table class="list" data-testid="device-list">
          <thead><tr><th>${t('device.id')}</th><th>${t('device.kind')}</th><th>${t('device.status')}</th>
            <th>${t('device.unit')}</th><th>${t('device.last_seen')}</th></tr></thead>
          <tbody>${items.map((d) => html`
            <tr key=${d.device_id}>
              <td><a href=${d.kind === 'terminal'
                ? `#/terminals/${encodeURIComponent(d.device_id)}/track`
                : `#/devices/${encodeURIComponent(d.device_id)}`}>${d.device_id}</a></td>
              <td>${label('device_kind', d.kind)}</td><td><${DeviceStatus} status=${d.status} /></td>
              <td>${d.unit_id ? html`<a href=${`#/units/${encodeURIComponent(d.unit_id)}`}>${d.unit_id}</a>` : t('common.none')}</td>
              <td>${formatTime(d.last_seen)}</td>
            </tr>`)}</tbody>
        </table>`}
      <${ListFooter} items=${items} error=${error} busy=${busy} more=${more} />
    </section>`;
}
