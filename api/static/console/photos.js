// Photos behind the API's token: an <img> cannot send an Authorization header, so the bytes are
// fetched with the token and shown from a blob: URL (freed when the thumbnail goes away). A
// click shows the photo full size above the page; Escape or a click closes it.

import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { apiUrl, getToken } from './api.js';
import { t } from './i18n.js';

function usePhotoUrl(path) {
  const [state, setState] = useState({ url: null, error: null });
  useEffect(() => {
    let url = null;
    let current = true;
    fetch(apiUrl(path), { headers: { Authorization: `Bearer ${getToken()}` } })
      .then(async (answer) => {
        if (!answer.ok) {
          const body = await answer.json().catch(() => null);
          throw new Error(body?.error?.message ?? `HTTP ${answer.status}`);
        }
        return answer.blob();
      })
      .then(
        (blob) => {
          url = URL.createObjectURL(blob);
          if (current) setState({ url, error: null });
        },
        (error) => current && setState({ url: null, error: error.message }),
      );
    return () => {
      current = false;
      if (url) URL.revokeObjectURL(url);
    };
  }, [path]);
  return state;
}

// `path` is under /api/v1, e.g. `/cases/C1/photos/<sha256>`.
export function PhotoThumb({ path, name }) {
  const { url, error } = usePhotoUrl(path);
  const [open, setOpen] = useState(false);
  useEffect(() => {
    if (!open) return undefined;
    const close = (event) => event.key === 'Escape' && setOpen(false);
    window.addEventListener('keydown', close);
    return () => window.removeEventListener('keydown', close);
  }, [open]);
  if (error) return html`<span class="photo-missing" title=${error}>${t('photo.missing')}</span>`;
  if (!url) return html`<span class="photo-thumb muted">…</span>`;
  return html`
    <button type="button" class="photo-thumb" title=${name} data-testid="photo-thumb"
      onClick=${() => setOpen(true)}><img src=${url} alt=${t('photo.alt', { name })} /></button>
    ${open && html`
      <div class="lightbox" role="dialog" data-testid="lightbox" onClick=${() => setOpen(false)}>
        <img src=${url} alt=${t('photo.alt', { name })} />
        <button type="button" class="secondary">${t('common.close')}</button>
      </div>`}`;
}
