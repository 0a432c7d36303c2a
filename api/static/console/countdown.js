// A case's deadline as a countdown: "01:59:58", "2天 03:00:00", overdue "-00:00:12" (red).

import { html } from 'htm/preact';
import { t } from './i18n.js';

function clock(ms) {
  const total = Math.floor(Math.abs(ms) / 1000);
  const days = Math.floor(total / 86400);
  const hms = [Math.floor(total / 3600) % 24, Math.floor(total / 60) % 60, total % 60]
    .map((n) => String(n).padStart(2, '0'))
    .join(':');
  return days ? `${t('countdown.days', { days })} ${hms}` : hms;
}

// `now` comes from the caller's useNow(), so a whole table ticks on one timer.
export function Countdown({ deadline, now, paused = false, done = false }) {
  if (done) return html`<span class="muted">${t('common.none')}</span>`;
  if (paused) return html`<span class="muted" data-testid="countdown">${t('countdown.paused')}</span>`;
  if (!deadline) return html`<span class="muted">${t('common.none')}</span>`;
  const left = new Date(deadline).getTime() - now;
  if (left < 0) {
    return html`<span class="overdue" data-testid="countdown" title=${t('countdown.overdue')}>
      ${t('countdown.overdue')} ${clock(left)}</span>`;
  }
  return html`<span class="countdown" data-testid="countdown">${clock(left)}</span>`;
}
