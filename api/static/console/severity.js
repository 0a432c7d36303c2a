// Hazard severities (CONTRACT §4), their order and colours: the map, the lists and the
// takeover all draw a severity the same way. Keep the colours in step with style.css's
// --critical/--major/--warning/--info.

export const SEVERITIES = ['critical', 'major', 'warning', 'info'];

export const SEVERITY_COLOR = {
  critical: '#d7191c',
  major: '#f07c00',
  warning: '#e8c300',
  info: '#2c7bb6',
};

// Higher is worse; an unknown severity ranks below info rather than breaking a sort.
export function severityRank(severity) {
  const index = SEVERITIES.indexOf(severity);
  return index < 0 ? 0 : SEVERITIES.length - index;
}

// A confirmed fire takes over the screen. CONTRACT §4 makes a confirmed fire `critical`, but
// so is a hydrant with no pressure: the fire is the critical hazard of a correlation rule (two
// detectors, smoke with a pressure drop) or of a worker's report (its category `fire`).
const FIRE_KINDS = new Set(['correlation', 'report']);

export function isConfirmedFire(hazard) {
  return hazard.severity === 'critical' && FIRE_KINDS.has(hazard.kind);
}
