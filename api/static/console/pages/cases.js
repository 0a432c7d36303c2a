// The case queue (#/cases): open cases by deadline, soonest first, each counting down every
// second (red once overdue), then closed ones; status, assignee and escalation level shown,
// created and changed cases applied live. A case links to its page (#/cases/:id).

import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { apiGet } from '../api.js';
import { Countdown } from '../countdown.js';
import { useNow } from '../hooks.js';
import { formatTime, label, t } from '../i18n.js';
import { Latest } from '../freshness.js';
import { subscribeFrames } from '../live.js';

const PAGE = 500;
// dispatch/models.py CaseStatus; OPEN: every one but closed.
const STATUSES = ['reported', 'filed', 'dispatched', 'signed', 'handled', 'verified', 'returned', 'closed'];
const isOpen = (c) => c.status !== 'closed';

// A case event's data is the case as GET /cases shows it plus the event's own fields.
function caseOf({ type: _type, event_id: _id, event_at: _at, step: _step, ...current }) {
  return current;
}

function queueOrder(a, b) {
  if (isOpen(a) !== isOpen(b)) return isOpen(a) ? -1 : 1;
  if (isOpen(a)) {
    const da = a.deadline ? Date.parse(a.deadline) : Infinity;
    const db = b.deadline ? Date.parse(b.deadline) : Infinity;
    if (da !== db) return da - db;
  }
  return Date.parse(b.created_at) - Date.parse(a.created_at);
}

export default function CasesPage({ query }) {
  const status = query.status ?? '';
  const [cases, setCases] = useState(null);
  const [more, setMore] = useState(false);
  const [error, setError] = useState(null);
  const [fresh, setFresh] = useState(new Set());
  const now = useNow(1000);

  useEffect(() => {
    const latest = new Latest();
    apiGet('/cases', { status, limit: PAGE }).then(
      (page) => {
        // Live events may have arrived during the load: whichever state is newer stays.
        setCases((live) => {
          const byId = new Map((live ?? []).map((c) => [c.id, c]));
          for (const c of page.items) if (latest.accept(c)) byId.set(c.id, c);
          return [...byId.values()];
        });
        setMore(page.next_cursor !== null);
      },
      (err) => setError(err.message),
    );
    return subscribeFrames((events) => {
      const changed = events
        .filter((e) => e.type.startsWith('case.'))
        .map((e) => caseOf(e.data))
        .filter((c) => latest.accept(c));
      if (changed.length === 0) return;
      setCases((old) => {
        const byId = new Map((old ?? []).map((c) => [c.id, c]));
        for (const c of changed) {
          if (status && c.status !== status) byId.delete(c.id);
          else byId.set(c.id, c);
        }
        return [...byId.values()];
      });
      setFresh((old) => new Set([...old, ...changed.map((c) => c.id)]));
    });
  }, []);

  const rows = cases ? [...cases].sort(queueOrder) : null;
  return html`
    <section data-testid="page-cases">
      <h2>${t('nav.cases')}</h2>
      <div class="filters">
        <label>${t('case.status')}
          <select value=${status} data-testid="filter-status" onChange=${(e) => {
            const v = e.currentTarget.value;
            location.hash = v ? `#/cases?status=${v}` : '#/cases';
          }}>
            <option value="">${t('common.all')}</option>
            ${STATUSES.map((s) => html`<option value=${s}>${label('case_status', s)}</option>`)}
          </select></label>
      </div>
      ${error && html`<p class="error" role="alert">${t('common.error', { message: error })}</p>`}
      ${rows === null && !error && html`<p class="muted">${t('common.loading')}</p>`}
      ${rows !== null && html`
        <table class="list" data-testid="case-list">
          <thead><tr>
            <th>${t('case.id')}</th><th>${t('case.category')}</th><th>${t('case.urgency')}</th>
            <th>${t('case.status')}</th><th>${t('case.assignee')}</th><th>${t('case.escalation')}</th>
            <th>${t('case.stage')}</th><th>${t('case.deadline')}</th><th>${t('case.created')}</th>
          </tr></thead>
          <tbody>
            ${rows.length === 0 && html`<tr><td colspan="9" class="muted">${t('common.empty')}</td></tr>`}
            ${rows.map((c) => html`
              <tr key=${c.id} data-case=${c.id} class=${fresh.has(c.id) ? 'fresh' : ''}>
                <td><a href=${`#/cases/${encodeURIComponent(c.id)}`}>${c.id}</a></td>
                <td>${label('category', c.category)}</td>
                <td>${label('urgency', c.urgency)}</td>
                <td>${label('case_status', c.status)}</td>
                <td>${c.assignee ?? html`<span class="muted">${t('case.unassigned')}</span>`}</td>
                <td class=${c.escalation_level > 0 ? 'escalated' : ''}>${c.escalation_level}</td>
                <td>${label('stage', c.stage)}</td>
                <td><${Countdown} deadline=${c.deadline} now=${now}
                  paused=${c.suspended_since !== null && c.suspended_since !== undefined}
                  done=${!isOpen(c)} /></td>
                <td>${formatTime(c.created_at)}</td>
              </tr>`)}
          </tbody>
        </table>
        ${more && html`<p class="muted">${t('case.more', { count: PAGE })}</p>`}`}
    </section>`;
}
