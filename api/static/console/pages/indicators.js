// Indicators (#/indicators): GET /indicators per worker, grid, community or street over a
// period, as a table and a bar chart (score, closure and on-time rates per area, in %).
// `?level=` and `?days=` preselect the switch and the period.

import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { apiGet } from '../api.js';
import { Chart, barOptions, bars } from '../chart.js';
import { useApi } from '../hooks.js';
import { t } from '../i18n.js';

const LEVELS = ['worker', 'grid', 'community', 'street'];
const PERIODS = [7, 30, 90];
const DAY_MS = 24 * 3600 * 1000;

const percent = (rate) => (rate === null || rate === undefined ? null : Math.round(rate * 1000) / 10);
const shown = (value, unit = '') => (value === null || value === undefined ? t('common.none') : `${value}${unit}`);

function loadIndicators(level, days) {
  // Whole days up to tomorrow's start (UTC): cases due today count in every period.
  const to = new Date(Math.ceil(Date.now() / DAY_MS) * DAY_MS);
  const from = new Date(to.getTime() - days * DAY_MS);
  return apiGet('/indicators', { level, from: from.toISOString(), to: to.toISOString() });
}

function IndicatorChart({ items }) {
  const names = items.map((i) => i.code);
  const data = [
    names.map((_, i) => i),
    items.map((i) => i.score),
    items.map((i) => percent(i.closure_rate)),
    items.map((i) => percent(i.on_time_rate)),
  ];
  const series = [
    { label: t('indicators.score'), stroke: '#1f5fa8', fill: 'rgba(31,95,168,.7)', paths: bars() },
    { label: t('indicators.closure'), stroke: '#2e9d4f', fill: 'rgba(46,157,79,.6)', paths: bars() },
    { label: t('indicators.on_time'), stroke: '#f07c00', fill: 'rgba(240,124,0,.6)', paths: bars() },
  ];
  const options = barOptions(names);
  options.scales.y = { range: [0, 100] };
  // key: other areas are another axis, so another chart rather than new data on the old one.
  return html`<${Chart} key=${names.join()} series=${series} data=${data} options=${options} testid="indicator-chart" />`;
}

function IndicatorTable({ items }) {
  return html`
    <table class="list" data-testid="indicator-table">
      <thead><tr>
        <th>${t('indicators.code')}</th><th>${t('indicators.due')}</th><th>${t('indicators.closed')}</th>
        <th>${t('indicators.closed_on_time')}</th><th>${t('indicators.closure')}</th>
        <th>${t('indicators.on_time')}</th><th>${t('indicators.rework')}</th>
        <th>${t('indicators.escalations')}</th><th>${t('indicators.patrols')}</th>
        <th>${t('indicators.rating')}</th><th>${t('indicators.score')}</th>
      </tr></thead>
      <tbody>${items.map((i) => html`
        <tr key=${i.code} data-code=${i.code}>
          <td>${i.code}</td><td>${i.due}</td><td>${i.closed}</td><td>${i.closed_on_time}</td>
          <td>${shown(percent(i.closure_rate), '%')}</td><td>${shown(percent(i.on_time_rate), '%')}</td>
          <td>${shown(percent(i.rework_rate), '%')}</td><td>${i.escalations}</td>
          <td>${i.patrols_required ? `${i.patrols_done ?? 0} / ${i.patrols_required}` : t('common.none')}</td>
          <td>${shown(i.rating_mean === null ? null : i.rating_mean.toFixed(1))}</td>
          <td data-testid="score">${shown(i.score)}</td>
        </tr>`)}</tbody>
    </table>`;
}

export default function IndicatorsPage({ query }) {
  const [level, setLevel] = useState(LEVELS.includes(query.level) ? query.level : 'grid');
  const [days, setDays] = useState(PERIODS.includes(Number(query.days)) ? Number(query.days) : 30);
  const { data, error } = useApi(() => loadIndicators(level, days), [level, days]);
  return html`
    <section data-testid="page-indicators">
      <h2>${t('nav.indicators')}</h2>
      <div class="filters">
        <span class="switch" role="group" data-testid="level-switch">
          ${LEVELS.map((l) => html`
            <button type="button" class=${l === level ? '' : 'secondary'} aria-pressed=${l === level}
              onClick=${() => setLevel(l)}>${t(`level.${l}`)}</button>`)}
        </span>
        <label>${t('indicators.period')}
          <select data-testid="period" value=${days} onChange=${(e) => setDays(Number(e.currentTarget.value))}>
            ${PERIODS.map((d) => html`<option value=${d}>${t('indicators.days', { days: d })}</option>`)}
          </select></label>
      </div>
      ${error && html`<p class="error" role="alert">${t('common.error', { message: error.message })}</p>`}
      ${!data && !error && html`<p class="muted">${t('common.loading')}</p>`}
      ${data && data.items.length === 0 && html`<p class="muted" data-testid="indicator-empty">${t('common.empty')}</p>`}
      ${data && data.items.length > 0 && html`
        <${IndicatorChart} items=${data.items} />
        <${IndicatorTable} items=${data.items} />`}
    </section>`;
}
