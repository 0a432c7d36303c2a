// A uPlot chart as a Preact component: created once on mount, fed new data in place, sized to
// its container (and again when the window is resized), destroyed on unmount. uPlot draws on a
// canvas: thousands of points cost no DOM.
//
// `x` is uPlot's x series (its legend label and value), `series` the others ({ label, stroke,
// ... }); `data` is uPlot's columnar data, [xs, ys1, ys2, ...]; `options` is merged into
// uPlot's (axes, scales...).

import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

const HEIGHT = 260;

export function Chart({ x = {}, series, data, options = {}, height = HEIGHT, testid = 'chart' }) {
  const box = useRef(null);
  const plot = useRef(null);

  useEffect(() => {
    const element = box.current;
    plot.current = new uPlot(
      { width: element.clientWidth || 600, height, series: [x, ...series], ...options },
      data,
      element,
    );
    const resize = () => plot.current.setSize({ width: element.clientWidth, height });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      plot.current.destroy();
      plot.current = null;
    };
    // The series and options shape the chart: a new shape builds a new chart.
  }, [JSON.stringify(series.map((s) => s.label)), height]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return html`<div class="chart" ref=${box} data-testid=${testid}
    data-points=${data.length ? data[0].length : 0}></div>`;
}

// A time axis in the operator's language, 24-hour: "12-07 14:30" when the chart spans days,
// "14:30" within one (uPlot's own labels are English, "2:30pm"). x values are Unix seconds.
export function timeAxis(lang, label) {
  const two = (n) => String(n).padStart(2, '0');
  const when = (seconds, withDay) => {
    const d = new Date(seconds * 1000);
    const time = `${two(d.getHours())}:${two(d.getMinutes())}`;
    return withDay ? `${two(d.getMonth() + 1)}-${two(d.getDate())} ${time}` : time;
  };
  return {
    x: { label, value: (_, v) => (v == null ? '--' : new Date(v * 1000).toLocaleString(lang, { hour12: false })) },
    axis: {
      values: (u, splits) => {
        const [min, max] = [u.scales.x.min, u.scales.x.max];
        return splits.map((s) => when(s, max - min > 24 * 3600));
      },
    },
  };
}

// Bars for a category axis: x is 0..n-1, `names[i]` is written under bar i.
export function barOptions(names) {
  return {
    scales: { x: { time: false, range: [-0.5, names.length - 0.5] } },
    axes: [
      {
        splits: () => names.map((_, i) => i),
        values: (_, splits) => splits.map((i) => names[i] ?? ''),
        rotate: names.length > 8 ? -30 : 0,
        size: names.length > 8 ? 80 : 40,
      },
      {},
    ],
  };
}

// Bars side by side per category: uPlot draws every series at the same x, so bar k of category
// i is given an x of its own, i - 0.4 + (k + 0.5) * slot, and a value only there (null in the
// other series' slots). `columns[k][i]` is series k's value for category `names[i]`; `label`
// names the categories in the legend.
export function groupedBars(names, columns, series, label) {
  const slot = 0.8 / columns.length;
  const xs = [];
  const ys = columns.map(() => []);
  names.forEach((_, i) => {
    columns.forEach((column, k) => {
      xs.push(i - 0.4 + (k + 0.5) * slot);
      ys.forEach((y, j) => y.push(j === k ? column[i] : null));
    });
  });
  // uPlot sizes a bar by the closest two x values, one slot apart: 90% of a slot.
  const paths = uPlot.paths.bars({ size: [0.9, 60] });
  return {
    // The legend names the category under the cursor.
    x: { label, value: (_, v) => (v == null ? '--' : names[Math.round(v)] ?? '--') },
    data: [xs, ...ys],
    series: series.map((s) => ({ ...s, paths, points: { show: false } })),
    options: barOptions(names),
  };
}
