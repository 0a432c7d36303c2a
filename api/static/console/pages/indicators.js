// Indicators (#/indicators): GET /indicators per worker, grid, community or street over a
// period, as a table and a bar chart (score, closure and on-time rates per area, in %).
// `?level=` and `?period=` preselect the switch and the period.

import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { apiAll, apiGet } from '../api.js';
import { Chart, groupedBars } from '../chart.js';
import { useApi } from '../hooks.js';
import { formatTime, t } from '../i18n.js';

const LEVELS = ['worker', 'grid', 'community', 'street'];
// Calendar months are China months (UTC+8), as the cases' deadlines are counted; "this month"
// includes the days to come, so the cases due later this month count already.
const PERIODS = ['month', 'last_month', '7d', '30d', '90d'];
const DAY_MS = 24 * 3600 * 1000;
const CHINA_MS = 8 * 3600 * 1000;

function monthStart(year, month) {
  return new Date(Date.UTC(year, month, 1) - CHINA_MS); // 00:00 in China on the 1st
}

export function periodBounds(period, now = Date.now()) {
  const china = new Date(now + CHINA_MS);
  const [year, month] = [china.getUTCFullYear(), china.getUTCMonth()];
  if (period === 'month') return { from: monthStart(year, month), to: monthStart(year, month + 1) };
  if (period === 'last_month') return { from: monthStart(year, month - 1), to: monthStart(year, month) };
  // The last n whole days up to tomorrow's start (China): the cases due today count.
  const tomorrow = new Date(Date.UTC(year, month, china.getUTCDate() + 1) - CHINA_MS);
  return { from: new Date(tomorrow.getTime() - parseInt(period, 10) * DAY_MS), to: tomorrow };
}

const percent = (rate) => (rate === null || rate === undefined ? null : Math.round(rate * 1000) / 10);
const shown = (value, unit = '') => (value === null || value === undefined ? t('common.none') : `${value}${unit}`);

function loadIndicators(level, period) {
  const { from, to } = periodBounds(period);
  return apiGet('/indicators', { level, from: from.toISOString(), to: to.toISOString() });
}

// The names of the level's workers or areas, by code (empty until loaded, or if it fails: the
// codes are shown alone then).
async function loadNames(level) {
  if (level === 'worker') {
    const staff = await apiAll('/staff', { limit: 1000 });
    return Object.fromEntries(staff.map((s) => [s.staff_id, s.name]));
  }
  const areas = await apiAll('/grids', { level, limit: 1000 });
  return Object.fromEntries(areas.filter((a) => a.name).map((a) => [a.code, a.name]));
}

function IndicatorChart({ items, names: known }) {
  const names = items.map((i) => known[i.code] ?? i.code);
  const chart = groupedBars(
    names,
    [items.map((i) => i.score), items.map((i) => percent(i.closure_rate)), items.map((i) => percent(i.on_time_rate))],
    [
      { label: t('indicators.score'), stroke: '#1f5fa8', fill: 'rgba(31,95,168,.7)' },
      { label: t('indicators.closure'), stroke: '#2e9d4f', fill: 'rgba(46,157,79,.6)' },
      { label: t('indicators.on_time'), stroke: '#f07c00', fill: 'rgba(240,124,0,.6)' },
    ],
    t('indicators.code'),
  );
  chart.options.scales.y = { range: [0, 100] };
  // key: other areas are another axis, so another chart rather than new data on the old one.
  return html`<${Chart} key=${names.join()} ...${chart} testid="indicator-chart" />`;
}

function IndicatorTable({ items, names }) {
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
          <td>${names[i.code] ? html`${names[i.code]} <span class="muted small">${i.code}</span>` : i.code}</td>
          <td>${i.due}</td><td>${i.closed}</td><td>${i.closed_on_time}</td>
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
  const [period, setPeriod] = useState(PERIODS.includes(query.period) ? query.period : 'month');
  const { data, error } = useApi(() => loadIndicators(level, period), [level, period]);
  const { data: names } = useApi(() => loadNames(level).catch(() => ({})), [level]);
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
          <select data-testid="period" value=${period} onChange=${(e) => setPeriod(e.currentTarget.value)}>
            ${PERIODS.map((p) => html`<option value=${p}>${t(`period.${p}`)}</option>`)}
          </select></label>
        ${data && html`<span class="muted">${formatTime(data.from)} – ${formatTime(data.to)}</span>`}
      </div>
      ${error && html`<p class="error" role="alert">${t('common.error', { message: error.message })}</p>`}
      ${!data && !error && html`<p class="muted">${t('common.loading')}</p>`}
      ${data && data.items.length === 0 && html`<p class="muted" data-testid="indicator-empty">${t('common.empty')}</p>`}
      ${data && data.items.length > 0 && html`
        <${IndicatorChart} items=${data.items} names=${names ?? {}} />
        <${IndicatorTable} items=${data.items} names=${names ?? {}} />`}
    </section>`;
}
