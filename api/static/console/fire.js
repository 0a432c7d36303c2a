// The confirmed-fire takeover: while any confirmed fire (severity.js isConfirmedFire) is open,
// a full-screen red overlay above every page, with a repeating alarm, until an operator
// acknowledges each fire with a note. It shows without any click (the fires of the operator's
// areas open when it loads are shown at once, new ones as the live feed brings them).

import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { AckForm } from './ack.js';
import { apiAll } from './api.js';
import { formatTime, label, t } from './i18n.js';
import { subscribe } from './live.js';
import { isConfirmedFire } from './severity.js';
import { drawCrs } from './settings.js';
import { Latest } from './freshness.js';
import { startAlarm, stopAlarm } from './sound.js';

const burning = (hazard) => isConfirmedFire(hazard) && hazard.status === 'open';

export function FireTakeover() {
  const [fires, setFires] = useState(new Map());
  const [latest] = useState(() => new Latest());
  const update = (hazard) =>
    latest.accept(hazard) &&
    setFires((old) => {
      if (!burning(hazard) && !old.has(hazard.id)) return old;
      const next = new Map(old);
      if (burning(hazard)) next.set(hazard.id, hazard);
      else next.delete(hazard.id); // acknowledged (here or elsewhere) or cleared
      return next;
    });

  useEffect(() => {
    let alive = true;
    const unsubscribe = subscribe((type, data) => type.startsWith('hazard.') && update(data));
    apiAll('/hazards', { status: 'open', severity: 'critical', crs: drawCrs(), limit: 1000 }).then(
      (open) => alive && open.forEach(update),
      () => {}, // the map and lists show the error; the feed still brings new fires
    );
    return () => {
      alive = false;
      unsubscribe();
      stopAlarm();
    };
  }, []);

  useEffect(() => {
    if (fires.size > 0) startAlarm();
    else stopAlarm();
  }, [fires.size > 0]);

  if (fires.size === 0) return null;
  const list = [...fires.values()].sort((a, b) => a.id - b.id);
  return html`
    <div class="takeover" role="alertdialog" aria-labelledby="takeover-title" data-testid="fire-takeover">
      <div class="takeover-body">
        <h1 id="takeover-title">${t('fire.title')}</h1>
        <p>${t('fire.count', { count: list.length })}</p>
        ${list.map((h) => html`
          <div class="takeover-fire" key=${h.id} data-hazard=${h.id}>
            <h2>${label('rule', h.rule)}</h2>
            <p>${[
              `${t('hazard.unit')}: ${h.unit_id ?? t('common.none')}`,
              `${t('hazard.grid')}: ${h.grid_code ?? t('common.none')}`,
              formatTime(h.opened_at),
            ].join('  ·  ')}</p>
            <${AckForm} hazard=${h} big=${true} onDone=${update} />
          </div>`)}
      </div>
    </div>`;
}
