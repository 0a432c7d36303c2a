// A device's page (#/devices/:id): registry fields, status and latest values, and a chart of
// one metric's bucketed readings (average with the bucket's min and max) over a chosen range.
// `?metric=` and `?range=` preselect the picker (links from other pages can name them).

import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { apiAll, apiGet } from '../api.js';
import { DeviceStatus } from '../badges.js';
import { Chart, timeAxis } from '../chart.js';
import { useApi } from '../hooks.js';
import { formatTime, getLang, label, t } from '../i18n.js';

// Each range with a bucket that keeps the chart at a few hundred points at most.
export const RANGES = {
  '6h': { hours: 6, bucket: '5m' },
  '24h': { hours: 24, bucket: '15m' },
  '7d': { hours: 24 * 7, bucket: '1h' },
  '30d': { hours: 24 * 30, bucket: '6h' },
};

async function loadReadings(id, metric, range) {
  const { hours, bucket } = RANGES[range];
  const to = new Date();
  const from = new Date(to.getTime() - hours * 3600 * 1000);
  const rows = await apiAll(`/devices/${encodeURIComponent(id)}/readings`, {
    metric,
    bucket,
    from: from.toISOString(),
    to: to.toISOString(),
    limit: 1000,
  });
  const xs = rows.map((b) => Date.parse(b.ts) / 1000);
  return [xs, rows.map((b) => b.avg), rows.map((b) => b.min), rows.map((b) => b.max)];
}

function Readings({ id, metrics, query }) {
  const [metric, setMetric] = useState(metrics.includes(query.metric) ? query.metric : metrics[0]);
  const [range, setRange] = useState(RANGES[query.range] ? query.range : '24h');
  const { data, error } = useApi(() => loadReadings(id, metric, range), [id, metric, range]);
  const time = timeAxis(getLang(), t('device.at'));
  const series = [
    { label: t('device.avg'), stroke: '#1f5fa8', width: 2 },
    { label: t('device.min'), stroke: 'rgba(31,95,168,.35)', dash: [4, 4] },
    { label: t('device.max'), stroke: 'rgba(215,25,28,.45)', dash: [4, 4] },
  ];
  return html`
    <div class="filters">
      <label>${t('device.metric')}
        <select data-testid="metric" value=${metric} onChange=${(e) => setMetric(e.currentTarget.value)}>
          ${metrics.map((m) => html`<option value=${m}>${label('metric', m)}</option>`)}
        </select></label>
      <label>${t('device.range')}
        <select data-testid="range" value=${range} onChange=${(e) => setRange(e.currentTarget.value)}>
          ${Object.entries(RANGES).map(([r, { bucket }]) => html`
            <option value=${r}>${t(`range.${r}`)} (${t('device.bucket', { bucket })})</option>`)}
        </select></label>
    </div>
    ${error && html`<p class="error" role="alert">${t('common.error', { message: error.message })}</p>`}
    ${!data && !error && html`<p class="muted">${t('common.loading')}</p>`}
    ${data && data[0].length === 0 && html`<p class="muted" data-testid="readings-empty">${t('device.no_readings')}</p>`}
    ${data && data[0].length > 0 && html`<${Chart} x=${time.x} series=${series} data=${data}
      options=${{ axes: [time.axis, {}] }} testid="readings-chart" />`}`;
}

export default function DevicePage({ params, query }) {
  const { data: d, error } = useApi(() => apiGet(`/devices/${encodeURIComponent(params.id)}`), [params.id]);
  if (error) return html`<p class="error" role="alert">${t('common.error', { message: error.message })}</p>`;
  if (!d) return html`<p class="muted">${t('common.loading')}</p>`;
  const metrics = Object.keys(d.latest).sort(); // what it has sent: the metrics to chart
  const thresholds = Object.entries(d.thresholds);
  return html`
    <section data-testid="page-device" class="detail">
      <h2>${d.device_id} <${DeviceStatus} status=${d.status} /></h2>
      ${d.kind === 'terminal' && html`
        <p><a href=${`#/terminals/${encodeURIComponent(d.device_id)}/track`} data-testid="track-link">${t('device.track')}</a></p>`}
      <dl class="fields">
        <dt>${t('device.kind')}</dt><dd>${label('device_kind', d.kind)}</dd>
        <dt>${t('device.model')}</dt><dd>${d.model ?? t('common.none')}</dd>
        <dt>${t('device.unit')}</dt><dd>${d.unit_id
          ? html`<a href=${`#/units/${encodeURIComponent(d.unit_id)}`}>${d.unit_id}</a>` : t('common.none')}</dd>
        <dt>${t('device.last_seen')}</dt><dd>${formatTime(d.last_seen)}</dd>
        <dt>${t('device.heartbeat')}</dt><dd>${d.heartbeat_s ? `${d.heartbeat_s} s` : t('common.none')}</dd>
        <dt>${t('device.installed')}</dt><dd>${d.installed_on ?? t('common.none')}</dd>
        <dt>${t('device.thresholds')}</dt><dd>${thresholds.length
          ? thresholds.map(([k, v]) => `${k} = ${v}`).join('; ') : t('common.none')}</dd>
      </dl>
      <h3>${t('device.latest')}</h3>
      <table class="list narrow" data-testid="device-latest">
        <thead><tr><th>${t('device.metric')}</th><th>${t('device.value')}</th><th>${t('device.at')}</th></tr></thead>
        <tbody>${metrics.map((m) => html`
          <tr key=${m}><td>${label('metric', m)}</td><td>${d.latest[m]?.value ?? t('common.none')}</td>
            <td>${formatTime(d.latest[m]?.ts)}</td></tr>`)}
        </tbody>
      </table>
      <h3>${t('device.readings')}</h3>
      ${metrics.length
        ? html`<${Readings} id=${d.device_id} metrics=${metrics} query=${query} />`
        : html`<p class="muted" data-testid="readings-empty">${t('device.no_readings')}</p>`}
    </section>`;
}
