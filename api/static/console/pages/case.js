// A case's page (#/cases/:id): its fields, its history (every step: time, action, actor,
// status change, note, photos) and where each step was, on a small map. Applied live: a step
// taken while the page is open reloads the case.

import { html } from 'htm/preact';
import { useEffect } from 'preact/hooks';
import { apiGet } from '../api.js';
import { Countdown } from '../countdown.js';
import { useApi, useNow } from '../hooks.js';
import { formatTime, label, t } from '../i18n.js';
import { subscribe } from '../live.js';
import { MiniMap } from '../minimap.js';
import { PhotoThumb } from '../photos.js';
import { drawCrs } from '../settings.js';

const STEP_STYLE = { radius: 7, color: '#fff', weight: 2, fillColor: '#1f5fa8', fillOpacity: 0.95 };
const CASE_STYLE = { radius: 9, color: '#d7191c', weight: 3, fillOpacity: 0 };

async function loadCase(id) {
  // Positions in the crs the small map draws in (the operator's tiles').
  const found = await apiGet(`/cases/${encodeURIComponent(id)}`, { crs: drawCrs() });
  // The reports that opened it: what the worker saw, with their photos.
  const reports = await Promise.all(
    found.report_ids.map((r) => apiGet(`/reports/${encodeURIComponent(r)}`).catch(() => null)),
  );
  return { found, reports: reports.filter(Boolean) };
}

function Photos({ caseId, shas }) {
  if (!shas.length) return null;
  return html`<div class="photos">${shas.map((sha) => html`
    <${PhotoThumb} key=${sha} name=${sha.slice(0, 12)}
      path=${`/cases/${encodeURIComponent(caseId)}/photos/${sha}`} />`)}</div>`;
}

function Fields({ c, now }) {
  const open = c.status !== 'closed';
  return html`
    <dl class="fields">
      <dt>${t('case.status')}</dt><dd data-testid="case-status">${label('case_status', c.status)}</dd>
      <dt>${t('case.category')}</dt><dd>${label('category', c.category)}</dd>
      <dt>${t('case.urgency')}</dt><dd>${label('urgency', c.urgency)}</dd>
      <dt>${t('case.assignee')}</dt><dd>${c.assignee ?? t('case.unassigned')}</dd>
      <dt>${t('case.stage')}</dt><dd>${label('stage', c.stage)}</dd>
      <dt>${t('case.escalation')}</dt><dd>${c.escalation_level}</dd>
      <dt>${t('case.deadline')}</dt><dd><${Countdown} deadline=${c.deadline} now=${now}
        paused=${Boolean(c.suspended_since)} done=${!open} /></dd>
      <dt>${t('case.created')}</dt><dd>${formatTime(c.created_at)}</dd>
      ${c.closed_at && html`<dt>${t('casepage.closed')}</dt><dd>${formatTime(c.closed_at)}</dd>`}
      <dt>${t('casepage.grid')}</dt><dd>${c.grid_code ?? t('common.none')}</dd>
      <dt>${t('casepage.unit')}</dt><dd>${c.unit_id
        ? html`<a href=${`#/units/${encodeURIComponent(c.unit_id)}`}>${c.unit_id}</a>`
        : t('common.none')}</dd>
      <dt>${t('casepage.hazards')}</dt><dd>${c.hazard_ids.join(', ') || t('common.none')}</dd>
    </dl>`;
}

// Dispatch's own steps (report, file, dispatch, escalate...) are recorded as by "system".
const actorName = (actor) => (!actor || actor === 'system' ? t('casepage.system') : actor);

function History({ c }) {
  return html`
    <table class="list" data-testid="case-history">
      <thead><tr>
        <th>#</th><th>${t('casepage.at')}</th><th>${t('casepage.action')}</th>
        <th>${t('casepage.actor')}</th><th>${t('case.status')}</th><th>${t('casepage.note')}</th>
        <th>${t('casepage.photos')}</th><th>${t('casepage.position')}</th>
      </tr></thead>
      <tbody>${c.history.map((s) => html`
        <tr key=${s.seq} data-step=${s.seq}>
          <td>${s.seq}</td>
          <td>${formatTime(s.at)}</td>
          <td>${label('case_action', s.action)}</td>
          <td>${actorName(s.actor)}</td>
          <td>${s.from_status ? `${label('case_status', s.from_status)} → ` : ''}${label('case_status', s.to_status)}</td>
          <td class="note">${s.note || ''}</td>
          <td><${Photos} caseId=${c.id} shas=${s.photos} /></td>
          <td>${s.lat !== null ? html`<span class="step-pin">${s.seq}</span>` : ''}</td>
        </tr>`)}
      </tbody>
    </table>`;
}

// The case's own point (a red ring) and each step taken somewhere, numbered, joined in order.
function drawSteps(c) {
  return (layer, L) => {
    const points = [];
    if (c.lat !== null && c.lon !== null) {
      L.circleMarker([c.lat, c.lon], CASE_STYLE).bindTooltip(t('casepage.place')).addTo(layer);
      points.push([c.lat, c.lon]);
    }
    const steps = c.history.filter((s) => s.lat !== null && s.lon !== null);
    if (steps.length > 1) {
      L.polyline(steps.map((s) => [s.lat, s.lon]), { color: '#1f5fa8', weight: 2, dashArray: '4 4' })
        .addTo(layer);
    }
    for (const s of steps) {
      L.circleMarker([s.lat, s.lon], STEP_STYLE)
        .bindTooltip(`${s.seq} ${label('case_action', s.action)} ${formatTime(s.at)}`, { permanent: true })
        .addTo(layer);
      points.push([s.lat, s.lon]);
    }
    return points.length ? L.latLngBounds(points) : null;
  };
}

export default function CasePage({ params }) {
  const { data, error, reload } = useApi(() => loadCase(params.id), [params.id]);
  const now = useNow(1000);
  useEffect(() => subscribe((type, event) => {
    if (type.startsWith('case.') && event.id === params.id) reload();
  }), [params.id]);
  if (error) return html`<p class="error" role="alert">${t('common.error', { message: error.message })}</p>`;
  if (!data) return html`<p class="muted">${t('common.loading')}</p>`;
  const { found: c, reports } = data;
  return html`
    <section data-testid="page-case" class="detail">
      <h2>${t('casepage.title', { id: c.id })}</h2>
      <div class="detail-grid">
        <div>
          <${Fields} c=${c} now=${now} />
          ${reports.map((r) => html`
            <div class="report" data-testid="case-report">
              <h3>${t('casepage.report')} · ${label('category', r.category)}</h3>
              <p>${r.description}</p>
              <${Photos} caseId=${c.id} shas=${r.photos} />
            </div>`)}
        </div>
        <div>
          <h3>${t('casepage.map')}</h3>
          <${MiniMap} draw=${drawSteps(c)} deps=${[c.version]} grids=${[c.grid_code]}
            testid="case-map" />
        </div>
      </div>
      <h3>${t('casepage.history')}</h3>
      <${History} c=${c} />
    </section>`;
}
