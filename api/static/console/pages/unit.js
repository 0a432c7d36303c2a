// A key unit's file, 一户一档 (#/units/:id), from GET /units/{id}: level and responsible
// person, its devices with their status (each linking to its page), open hazards, its cases
// (linking to theirs), and false alarms and monthly checks month by month in one chart.

import { html } from 'htm/preact';
import { apiGet } from '../api.js';
import { Chart, groupedBars } from '../chart.js';
import { useApi } from '../hooks.js';
import { formatTime, label, t } from '../i18n.js';
import { DeviceStatus } from '../badges.js';

const month = (iso) => iso.slice(0, 7); // the API's months are UTC "YYYY-MM" too

// Per month: false alarms, checks that fell overdue, checks done (the overdue hazard cleared).
export function monthlySeries(file) {
  const rows = new Map();
  const row = (m) => {
    if (!rows.has(m)) rows.set(m, [0, 0, 0]);
    return rows.get(m);
  };
  for (const { month: m, count } of file.false_alarms) row(m)[0] += count;
  for (const check of file.inspections) {
    row(month(check.overdue_since))[1] += 1;
    if (check.checked_at) row(month(check.checked_at))[2] += 1;
  }
  const months = [...rows.keys()].sort();
  return { months, columns: [0, 1, 2].map((i) => months.map((m) => rows.get(m)[i])) };
}

function Trend({ file }) {
  const { months, columns } = monthlySeries(file);
  if (!months.length) return html`<p class="muted" data-testid="unit-trend-empty">${t('unit.no_trend')}</p>`;
  const chart = groupedBars(months, columns, [
    { label: t('unit.false_alarms'), stroke: '#d7191c', fill: 'rgba(215,25,28,.6)' },
    { label: t('unit.checks_overdue'), stroke: '#f07c00', fill: 'rgba(240,124,0,.6)' },
    { label: t('unit.checks_done'), stroke: '#2e9d4f', fill: 'rgba(46,157,79,.6)' },
  ], t('unit.month'));
  // Counts: from 0, whole steps.
  chart.options.scales.y = { range: (_, min, max) => [0, Math.max(1, max)] };
  chart.options.axes[1] = { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] };
  return html`<${Chart} ...${chart} testid="unit-trend" />`;
}

function Devices({ devices }) {
  if (!devices.length) return html`<p class="muted">${t('common.empty')}</p>`;
  return html`
    <table class="list" data-testid="unit-devices">
      <thead><tr><th>${t('device.id')}</th><th>${t('device.kind')}</th><th>${t('device.status')}</th>
        <th>${t('device.last_seen')}</th></tr></thead>
      <tbody>${devices.map((d) => html`
        <tr key=${d.device_id}>
          <td><a href=${`#/devices/${encodeURIComponent(d.device_id)}`}>${d.device_id}</a></td>
          <td>${label('device_kind', d.kind)}</td>
          <td><${DeviceStatus} status=${d.status} /></td>
          <td>${formatTime(d.last_seen)}</td>
        </tr>`)}</tbody>
    </table>`;
}

function Hazards({ hazards }) {
  if (!hazards.length) return html`<p class="muted" data-testid="unit-hazards">${t('common.empty')}</p>`;
  return html`
    <table class="list" data-testid="unit-hazards">
      <thead><tr><th>${t('hazard.severity')}</th><th>${t('hazard.rule')}</th><th>${t('hazard.status')}</th>
        <th>${t('hazard.device')}</th><th>${t('hazard.opened')}</th></tr></thead>
      <tbody>${hazards.map((h) => html`
        <tr key=${h.id}>
          <td><span class=${`sev sev-${h.severity}`}>${label('severity', h.severity)}</span></td>
          <td>${label('rule', h.rule)}</td>
          <td>${label('status', h.status)}</td>
          <td>${h.device_id ? html`<a href=${`#/devices/${encodeURIComponent(h.device_id)}`}>${h.device_id}</a>` : t('common.none')}</td>
          <td>${formatTime(h.opened_at)}</td>
        </tr>`)}</tbody>
    </table>`;
}

function Cases({ cases }) {
  if (!cases.length) return html`<p class="muted" data-testid="unit-cases">${t('common.empty')}</p>`;
  return html`
    <table class="list" data-testid="unit-cases">
      <thead><tr><th>${t('case.id')}</th><th>${t('case.category')}</th><th>${t('case.status')}</th>
        <th>${t('case.assignee')}</th><th>${t('case.created')}</th></tr></thead>
      <tbody>${cases.map((c) => html`
        <tr key=${c.id}>
          <td><a href=${`#/cases/${encodeURIComponent(c.id)}`}>${c.id}</a></td>
          <td>${label('category', c.category)}</td>
          <td>${label('case_status', c.status)}</td>
          <td>${c.assignee ?? t('case.unassigned')}</td>
          <td>${formatTime(c.created_at)}</td>
        </tr>`)}</tbody>
    </table>`;
}

export default function UnitPage({ params }) {
  const { data, error } = useApi(() => apiGet(`/units/${encodeURIComponent(params.id)}`), [params.id]);
  if (error) return html`<p class="error" role="alert">${t('common.error', { message: error.message })}</p>`;
  if (!data) return html`<p class="muted">${t('common.loading')}</p>`;
  const { unit } = data;
  return html`
    <section data-testid="page-unit" class="detail">
      <h2>${unit.name} <span class="muted small">${unit.unit_id}</span></h2>
      <dl class="fields">
        <dt>${t('unit.level')}</dt><dd data-testid="unit-level">${label('unit_level', unit.level)}</dd>
        <dt>${t('unit.responsible')}</dt><dd data-testid="unit-responsible">${unit.responsible ?? t('common.none')}</dd>
        <dt>${t('unit.address')}</dt><dd>${unit.address ?? t('common.none')}</dd>
      </dl>
      <h3>${t('unit.devices', { count: data.devices.length })}</h3>
      <${Devices} devices=${data.devices} />
      <h3>${t('unit.open_hazards', { count: data.open_hazards.length })}</h3>
      <${Hazards} hazards=${data.open_hazards} />
      <h3>${t('unit.cases', { count: data.cases.length })}</h3>
      <${Cases} cases=${data.cases} />
      <h3>${t('unit.trend')}</h3>
      <${Trend} file=${data} />
    </section>`;
}
