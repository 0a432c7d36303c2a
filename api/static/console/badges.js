// Small status badges the detail pages share.

import { html } from 'htm/preact';
import { label } from './i18n.js';

// A device's data-silence status (online, offline, unknown: never heard from).
export function DeviceStatus({ status }) {
  return html`<span class=${`badge status-${status}`} data-testid="device-status">${label('device_status', status)}</span>`;
}
