// The per-day chart of the statistics page: grouped bars drawn as inline SVG, laid out for the
// width it is given (one SVG unit = one CSS pixel), so labels keep their size on a phone and every
// day fits the box: app.js redraws it when its box changes width.
import { s } from './dom.js';

export const SERIES = [
  { key: 'requestsMade', cls: 'series-requests' },
  { key: 'completed', cls: 'series-completed' },
  { key: 'failed', cls: 'series-failed' },
  { key: 'expired', cls: 'series-expired' },
  { key: 'cancelled', cls: 'series-cancelled' },
  { key: 'abandonedCalls', cls: 'series-abandoned' },
];

const DAY = 86_400_000;

/** Every UTC day from `from` to `to` (at most 62), with the buckets' values or zeros. */
export function fillDays(byDay, from, to) {
  const known = new Map(byDay.map((d) => [d.day, d]));
  const days = [];
  const first = Math.floor(from / DAY) * DAY;
  const last = Math.max(first, Math.floor((to - 1) / DAY) * DAY);
  const start = Math.max(first, last - 61 * DAY);
  for (let t = start; t <= last; t += DAY) {
    const day = new Date(t).toISOString().slice(0, 10);
    days.push(known.get(day) ?? { day, offersPlayed: 0, requestsMade: 0, completed: 0, failed: 0, expired: 0, cancelled: 0, abandonedCalls: 0 });
  }
  return days;
}

/** A round axis maximum for counts: four whole-number steps of 1, 2, 5, 10, 20, 50… */
function niceMax(v) {
  const raw = Math.max(1, Math.ceil(v / 4));
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((x) => x >= raw);
  return step * 4;
}

/** The narrowest drawing: below this the box scrolls rather than squeezing bars to nothing. */
export const MIN_CHART_WIDTH = 240;

/**
 * @param days   filled buckets
 * @param labels { series: key -> text, title, dayLabel: (day) -> text }
 * @param width  the box's width in CSS pixels
 */
export function dailyChart(days, labels, width = 760) {
  const W = Math.max(MIN_CHART_WIDTH, Math.floor(width));
  const H = W < 500 ? 220 : 280;
  const m = { top: 16, right: 8, bottom: 30, left: 34 };
  const iw = W - m.left - m.right;
  const ih = H - m.top - m.bottom;
  const max = niceMax(Math.max(0, ...days.flatMap((d) => SERIES.map((x) => d[x.key]))));
  const y = (v) => m.top + ih - (v / max) * ih;
  const group = iw / Math.max(1, days.length);
  const barW = Math.max(2, Math.min(14, (group * 0.8) / SERIES.length));
  const total = days.reduce((n, d) => n + d.requestsMade, 0);

  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`,
    width: W,
    height: H,
    class: 'chart',
    role: 'img',
    'aria-label': `${labels.title}: ${total}`,
    'data-testid': 'stats-chart',
    preserveAspectRatio: 'xMidYMid meet',
  });
  svg.append(s('title', {}, labels.title));

  const ticks = 4;
  for (let i = 0; i <= ticks; i++) {
    const v = (max / ticks) * i;
    svg.append(
      s('line', { x1: m.left, x2: W - m.right, y1: y(v), y2: y(v), class: i === 0 ? 'axis' : 'grid' }),
      s('text', { x: m.left - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, v),
    );
  }

  // a day label (dd.mm, about 30 px at 11 px) at most every 38 px
  const labelEvery = Math.max(1, Math.ceil(38 / group));
  days.forEach((d, i) => {
    const gx = m.left + i * group + (group - barW * SERIES.length) / 2;
    const g = s('g', { class: 'day', 'data-day': d.day });
    SERIES.forEach((ser, j) => {
      const v = d[ser.key];
      const top = y(v);
      g.append(
        s(
          'rect',
          { x: gx + j * barW, y: top, width: Math.max(1, barW - 1), height: Math.max(0, m.top + ih - top), class: `bar ${ser.cls}`, rx: 1 },
          s('title', {}, `${labels.dayLabel(d.day)} · ${labels.series[ser.key]}: ${v}`),
        ),
      );
    });
    svg.append(g);
    if (i % labelEvery === 0) {
      svg.append(s('text', { x: m.left + i * group + group / 2, y: H - m.bottom + 18, class: 'tick', 'text-anchor': 'middle' }, labels.dayLabel(d.day)));
    }
  });
  return svg;
}
