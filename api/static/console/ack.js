// Acknowledge a hazard with a note (POST /hazards/{id}/ack): the list, the map's details and
// the fire takeover all use this form. The acknowledger is the token's actor, set by the API.

import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { apiPost } from './api.js';
import { t } from './i18n.js';

const NOTE_MAX = 500; // the API's limit (AckBody.note)

export function AckForm({ hazard, onDone = () => {}, big = false }) {
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onDone(await apiPost(`/hazards/${hazard.id}/ack`, { note: note.trim() || null }));
    } catch (err) {
      setError(err.message);
      setBusy(false);
    }
  };
  return html`
    <form class=${big ? 'ack ack-big' : 'ack'} onSubmit=${submit} data-testid="ack-form">
      <input type="text" maxLength=${NOTE_MAX} placeholder=${t('ack.note')} value=${note}
        aria-label=${t('ack.note')} onInput=${(e) => setNote(e.currentTarget.value)} />
      <button type="submit" disabled=${busy}>${t(big ? 'fire.ack' : 'ack.submit')}</button>
      ${error && html`<span class="error" role="alert">${error}</span>`}
    </form>`;
}
