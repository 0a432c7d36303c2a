// The hazard list (#/hazards): newest first, filtered by what the API filters (severity, kind,
// status: kept in the hash, so a filtered list survives a reload and can be linked), each open
// hazard acknowledged with a note, new and changed hazards applied live.

import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { AckForm } from '../ack.js';
import { apiGet } from '../api.js';
import { formatTime, label, t } from '../i18n.js';
import { Latest } from '../freshness.js';
import { subscribeFrames } from '../live.js';
import { SEVERITIES } from '../severity.js';

const PAGE = 100;
const STATUSES = ['open', 'acknowledged', 'cleared'];
// The rule kinds of rules/kinds (the API's `kind` filter).
const KINDS = [
  'device_event', 'threshold', 'sudden_drop', 'silence', 'correlation', 'false_alarms',
  'patrol_compliance', 'report',
];
const FILTERS = ['severity', 'kind', 'status'];

function matches(hazard, filters) {
  return FILTERS.every((f) => !filters[f] || hazard[f] === filters[f]);
}

function setFilter(filters, name, value) {
  const next = new URLSearchParams();
  for (const f of FILTERS) {
    const v = f === name ? value : filters[f];
    if (v) next.set(f, v);
  }
  const text = next.toString();
  location.hash = `#/hazards${text ? `?${text}` : ''}`;
}

export default function HazardsPage({ query }) {
  const filters = Object.fromEntries(FILTERS.map((f) => [f, query[f] ?? '']));
  const [rows, setRows] = useState(null);
  const [cursor, setCursor] = useState(null);
  const [error, setError] = useState(null);
  const [acking, setAcking] = useState(null);
  const [fresh, setFresh] = useState(new Set());

  const [latest] = useState(() => new Latest());
  const load = (after) =>
    apiGet('/hazards', { ...filters, limit: PAGE, cursor: after }).then(
      (page) => {
        page.items.forEach((h) => latest.accept(h));
        setRows((old) => [...(after ? old : []), ...page.items]);
        setCursor(page.next_cursor);
      },
      (err) => setError(err.message),
    );

  useEffect(() => {
    const apply = (all) => {
      const hazards = all.filter((hazard) => latest.accept(hazard));
      setRows((old) => {
        if (old === null) return old; // the first page failed: its error is shown instead
        let next = old;
        for (const hazard of hazards) {
          const at = next.findIndex((h) => h.id === hazard.id);
          if (!matches(hazard, filters)) {
            if (at >= 0) next = next.filter((h) => h.id !== hazard.id);
          } else if (at < 0) {
            next = [hazard, ...next]; // newest first: a new hazard goes on top
          } else {
            next = next.slice();
            next[at] = hazard; // a changed one keeps its place
          }
        }
        return next;
      });
      setFresh((old) => new Set([...old, ...hazards.map((h) => h.id)]));
    };
    // Events that arrive while the first page loads are applied after it, in order: the page
    // may predate them, and the last event of a hazard is its current state.
    let early = [];
    load(null).then(() => {
      apply(early);
      early = null;
    });
    return subscribeFrames((events) => {
      const hazards = events.filter((e) => e.type.startsWith('hazard.')).map((e) => e.data);
      if (early) early.push(...hazards);
      else if (hazards.length) apply(hazards);
    });
  }, []);

  const replace = (hazard) =>
    latest.accept(hazard) && setRows((old) => old.map((h) => (h.id === hazard.id ? hazard : h)));
  const select = (name, values, labelOf) => html`
    <label>${t(`hazard.${name}`)}
      <select value=${filters[name]} data-testid=${`filter-${name}`}
        onChange=${(e) => setFilter(filters, name, e.currentTarget.value)}>
        <option value="">${t('common.all')}</option>
        ${values.map((v) => html`<option value=${v}>${labelOf(v)}</option>`)}
      </select></label>`;

  return html`
    <section data-testid="page-hazards">
      <h2>${t('nav.hazards')}</h2>
      <div class="filters">
        ${select('severity', SEVERITIES, (v) => label('severity', v))}
        ${select('kind', KINDS, (v) => label('kind', v))}
        ${select('status', STATUSES, (v) => label('status', v))}
      </div>
      ${error && html`<p class="error" role="alert">${t('common.error', { message: error })}</p>`}
      ${rows === null && !error && html`<p class="muted">${t('common.loading')}</p>`}
      ${rows !== null && html`
        <table class="list" data-testid="hazard-list">
          <thead><tr>
            <th>${t('hazard.id')}</th><th>${t('hazard.severity')}</th><th>${t('hazard.rule')}</th>
            <th>${t('hazard.status')}</th><th>${t('hazard.grid')}</th><th>${t('hazard.device')}</th>
            <th>${t('hazard.unit')}</th><th>${t('hazard.opened')}</th><th></th>
          </tr></thead>
          <tbody>
            ${rows.length === 0 && html`<tr><td colspan="9" class="muted">${t('common.empty')}</td></tr>`}
            ${rows.map((h) => html`
              <tr key=${h.id} data-hazard=${h.id} data-rule=${h.rule} class=${fresh.has(h.id) ? 'fresh' : ''}>
                <td>${h.id}</td>
                <td><span class=${`sev sev-${h.severity}`}>${label('severity', h.severity)}</span></td>
                <td>${label('rule', h.rule)}</td>
                <td data-testid="hazard-status">${label('status', h.status)}
                  ${h.acknowledged_note && html`<div class="muted small">${h.acknowledged_note}</div>`}</td>
                <td>${h.grid_code ?? t('common.none')}</td>
                <td>${h.device_id ? html`<a href=${`#/devices/${encodeURIComponent(h.device_id)}`}>${h.device_id}</a>` : t('common.none')}</td>
                <td>${h.unit_id ? html`<a href=${`#/units/${encodeURIComponent(h.unit_id)}`}>${h.unit_id}</a>` : t('common.none')}</td>
                <td>${formatTime(h.opened_at)}</td>
                <td>${h.status === 'open' && (acking === h.id
                  ? html`<${AckForm} hazard=${h} onDone=${(done) => { replace(done); setAcking(null); }} />`
                  : html`<button class="secondary" data-testid="ack" onClick=${() => setAcking(h.id)}>
                      ${t('ack.submit')}</button>`)}</td>
              </tr>`)}
          </tbody>
        </table>
        ${cursor && html`<p><button class="secondary" onClick=${() => load(cursor)}>${t('common.more')}</button></p>`}`}
    </section>`;
}
