// Hooks the pages share.

import { useCallback, useEffect, useState } from 'preact/hooks';

// Run `load()` (a promise) when `deps` change; { data, error, reload }. An answer that arrives
// after the deps changed again is dropped, so a slow old request never overwrites a new one.
export function useApi(load, deps) {
  const [state, setState] = useState({ data: null, error: null });
  const [round, setRound] = useState(0);
  useEffect(() => {
    let current = true;
    setState((s) => ({ data: s.data, error: null }));
    load().then(
      (data) => current && setState({ data, error: null }),
      (error) => current && setState({ data: null, error }),
    );
    return () => {
      current = false;
    };
  }, [...deps, round]);
  const reload = useCallback(() => setRound((n) => n + 1), []);
  return { ...state, reload };
}

// The current time, refreshed every `everyMs`: for countdowns that tick without a reload.
export function useNow(everyMs = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}
