// A list page's rows, one API page at a time: the first page on load (and when the filters
// change), the next one on "load more", following next_cursor.

import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { apiGet } from './api.js';
import { t } from './i18n.js';

export function usePagedList(path, filters, limit = 100) {
  const [state, setState] = useState({ items: null, cursor: null, error: null, busy: true });
  const key = JSON.stringify(filters);
  const load = (cursor, keep) => {
    setState((s) => ({ ...s, busy: true, error: null }));
    apiGet(path, { ...filters, limit, cursor }).then(
      (page) => setState({ items: [...keep, ...page.items], cursor: page.next_cursor, error: null, busy: false }),
      (error) => setState((s) => ({ ...s, error, busy: false })),
    );
  };
  useEffect(() => load(null, []), [path, key]);
  return { ...state, more: state.cursor ? () => load(state.cursor, state.items) : null };
}

// Under a paged list: its error, "loading", "nothing here" or the "load more" button.
export function ListFooter({ items, error, busy, more }) {
  if (error) return html`<p class="error" role="alert">${t('common.error', { message: error.message })}</p>`;
  if (busy) return html`<p class="muted">${t('common.loading')}</p>`;
  if (items && items.length === 0) return html`<p class="muted">${t('common.empty')}</p>`;
  return more ? html`<button type="button" class="secondary" onClick=${more}>${t('common.more')}</button>` : null;
}
