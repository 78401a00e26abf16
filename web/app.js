// The studio view: one snapshot from /view/state, then /view/events keeps it live.
// Plain ES module, no build step: Preact, its hooks and htm come as one module the server maps to ./vendor/preact.js.
// Read-only by design: nothing here changes the coordinator (the server answers only GET and HEAD).
import { html, render, useState, useEffect, useRef, Component } from './vendor/preact.js';

const STATE_URL = new URL('./state', import.meta.url);
const EVENTS_URL = new URL('./events', import.meta.url);
/** A stream the server refused (503: too many open) is not retried by the browser itself; we try again after this. */
const REOPEN_AFTER_MS = 3000;

/** The pool bar's thresholds, as Stork colours address utilisation. */
const POOL_WARNING = 80;
const POOL_CRITICAL = 90;

/** Lease rows are this tall (style.css says the same), so only the rows in view need to exist. */
const ROW_HEIGHT = 34;
const OVERSCAN = 8;

/** The rms bar's floor: a level of 0..1 is drawn on a dB scale from here to 0 dB, as a channel meter is. */
const RMS_FLOOR_DB = -60;
/** Atlas meters report dB in this range. */
const METER_FLOOR_DB = -80;

// ---------------------------------------------------------------------------------------------------------------
// Formatting

const clamp01 = (value) => Math.min(1, Math.max(0, value));
const number = new Intl.NumberFormat('en');

function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  const seconds = ms / 1000;
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 60) return `${Math.floor(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.floor(seconds % 60)} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

const ago = (ms) => (ms === null || ms === undefined ? '—' : `${duration(ms)} ago`);
const roundTrip = (ms) => (ms === null || ms === undefined ? '—' : ms < 10 ? `${ms.toFixed(2)} ms` : `${Math.round(ms)} ms`);

function percent(part, whole) {
  if (whole <= 0) return 0;
  const value = (part * 100) / whole;
  // One decimal only where rounding would hide a handful of leases in a large pool.
  return value > 0 && value < 10 ? Math.round(value * 10) / 10 : Math.round(value);
}

const rmsDb = (rms) => (rms > 0 ? 20 * Math.log10(rms) : -Infinity);
const dbText = (db) => (db === -Infinity ? '−∞ dB' : `${db.toFixed(1).replace('-', '−')} dB`);

// ---------------------------------------------------------------------------------------------------------------
// Following the coordinator

/** Each lease's level and each meter's reading as the snapshot has them: the base the levels events change. */
function levelsOf(snapshot) {
  const rms = {};
  for (const lease of snapshot.leases) if (lease.rms !== null) rms[lease.tempId] = lease.rms;
  const meters = {};
  for (const processor of snapshot.processors) {
    for (const meter of processor.meters) if (meter.value !== null) meters[`${processor.id}/${meter.param}`] = meter.value;
  }
  return { rms, meters };
}

function follow({ onSnapshot, onLevels, onLink }) {
  let source;
  let reopen;
  let closed = false;
  let streamed = false;
  fetch(STATE_URL, { cache: 'no-store', headers: { accept: 'application/json' } })
    .then((response) => (response.ok ? response.json() : null))
    // The stream's own first snapshot may come first: then it is the newer one.
    .then((snapshot) => snapshot && !closed && !streamed && onSnapshot(snapshot))
    .catch(() => onLink('reconnecting'));
  const open = () => {
    source = new EventSource(EVENTS_URL);
    source.addEventListener('open', () => onLink('live'));
    source.addEventListener('snapshot', (event) => {
      streamed = true;
      onLink('live');
      onSnapshot(JSON.parse(event.data));
    });
    source.addEventListener('levels', (event) => onLevels(JSON.parse(event.data)));
    source.addEventListener('error', () => {
      onLink('reconnecting');
      // CONNECTING: the browser is already trying again. CLOSED: it gave up (a refusal), so we try again later.
      if (source.readyState === EventSource.CLOSED && !closed) reopen = setTimeout(open, REOPEN_AFTER_MS);
    });
  };
  open();
  return () => {
    closed = true;
    clearTimeout(reopen);
    source?.close();
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Pieces

/** A component that renders again only when one of its props changed: rows and cards at 10 updates a second. */
class Pure extends Component {
  shouldComponentUpdate(next) {
    for (const key in next) if (next[key] !== this.props[key]) return true;
    for (const key in this.props) if (!(key in next)) return true;
    return false;
  }
}

function Header({ snapshot, link }) {
  const linkText = { live: 'live', reconnecting: 'reconnecting…', connecting: 'connecting…' }[link];
  return html`
    <header class="top">
      <h1>${snapshot?.name ?? 'oscport'}</h1>
      <dl class="facts">
        <div><dt>OSC</dt><dd class="mono">udp ${snapshot?.oscPort ?? '—'}</dd></div>
        <div><dt>Up</dt><dd data-uptime=${snapshot?.uptimeMs ?? ''}>${snapshot ? duration(snapshot.uptimeMs) : '—'}</dd></div>
      </dl>
      <p class="link link-${link}" role="status" data-link=${link}><span class="dot" aria-hidden="true"></span>${linkText}</p>
    </header>`;
}

function Pool({ pool, counters, leaseCount }) {
  const { size, free, held, quarantined } = pool;
  const used = percent(held, size);
  const level = used >= POOL_CRITICAL ? 'critical' : used >= POOL_WARNING ? 'warning' : 'ok';
  const share = (part) => `${size > 0 ? (part * 100) / size : 0}%`;
  return html`
    <section class="card pool" aria-labelledby="pool-title">
      <h2 id="pool-title">Port pool</h2>
      <div class="pool-line">
        <div class=${`pool-bar pool-${level}`} role="img" data-used-percent=${used} data-level=${level}
          aria-label=${`${used} % used: ${held} held, ${free} free, ${quarantined} quarantined of ${size}`}>
          <span class="seg seg-held" style=${{ width: share(held) }}></span>
          <span class="seg seg-quarantined" style=${{ width: share(quarantined) }}></span>
        </div>
        <p class="pool-percent"><strong>${used} %</strong> used${level === 'ok' ? '' : html` <span class=${`tag tag-${level}`}>${level}</span>`}</p>
      </div>
      <ul class="legend">
        <li><span class="swatch seg-held" aria-hidden="true"></span>held <strong>${number.format(held)}</strong></li>
        <li><span class="swatch seg-free" aria-hidden="true"></span>free <strong>${number.format(free)}</strong></li>
        <li><span class="swatch seg-quarantined" aria-hidden="true"></span>quarantined <strong>${number.format(quarantined)}</strong></li>
        <li class="muted">of ${number.format(size)} ports</li>
      </ul>
      <dl class="counters">
        <div><dt>Leases</dt><dd>${number.format(leaseCount)}</dd></div>
        <div><dt>Datagrams</dt><dd>${number.format(counters.datagrams ?? 0)}</dd></div>
        <div><dt>Forwarded</dt><dd>${number.format(counters.forwarded ?? 0)}</dd></div>
        <div><dt>Probes answered</dt><dd>${number.format(counters.probeAnswers ?? 0)} / ${number.format(counters.probesSent ?? 0)}</dd></div>
        <div><dt>Malformed</dt><dd>${number.format(counters.malformed ?? 0)}</dd></div>
      </dl>
    </section>`;
}

function LevelBar({ rms }) {
  if (rms === undefined || rms === null) return html`<span class="level level-none muted">no level</span>`;
  const db = rmsDb(rms);
  const fill = clamp01((db - RMS_FLOOR_DB) / -RMS_FLOOR_DB);
  return html`
    <span class="level">
      <span class="bar" role="meter" aria-label="rms level" aria-valuemin="0" aria-valuemax="1" aria-valuenow=${rms} data-rms=${rms}>
        <span class="fill" style=${{ clipPath: `inset(0 ${((1 - fill) * 100).toFixed(2)}% 0 0)` }}></span>
      </span>
      <span class="level-text mono">${dbText(db)}</span>
    </span>`;
}

class LeaseRow extends Pure {
  render({ lease, rms, odd }) {
    return html`
      <tr class=${odd ? 'odd' : ''} data-temp-id=${lease.tempId} data-state=${lease.state}>
        <th scope="row" class="mono temp-id" title=${lease.tempId}>${lease.tempId}</th>
        <td class="mono track" title=${lease.trackId ?? ''}>${lease.trackId ?? html`<span class="muted">—</span>`}</td>
        <td class="mono num">${lease.port ?? '—'}</td>
        <td><span class=${`state state-${lease.state}`}>${lease.state}</span></td>
        <td class="num">${duration(lease.ageMs)}</td>
        <td class="num">${ago(lease.lastSeenMs)}</td>
        <td class="num">${roundTrip(lease.rttMs)}</td>
        <td class="level-cell"><${LevelBar} rms=${rms} /></td>
      </tr>`;
  }
}

const byPort = (a, b) => (a.port ?? Infinity) - (b.port ?? Infinity) || a.tempId.localeCompare(b.tempId);

function matches(lease, text, state) {
  if (state && lease.state !== state) return false;
  if (!text) return true;
  return lease.tempId.toLowerCase().includes(text) || (lease.trackId ?? '').toLowerCase().includes(text) || String(lease.port ?? '').includes(text);
}

function Leases({ leases, rms }) {
  const [text, setText] = useState('');
  const [state, setState] = useState('');
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(600);
  const scroller = useRef(null);
  const frame = useRef(0);

  useEffect(() => {
    const element = scroller.current;
    const observer = new ResizeObserver(() => setViewport(element.clientHeight));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  const onScroll = (event) => {
    const top = event.currentTarget.scrollTop;
    cancelAnimationFrame(frame.current);
    frame.current = requestAnimationFrame(() => setScrollTop(top));
  };

  const counts = {};
  for (const lease of leases) counts[lease.state] = (counts[lease.state] ?? 0) + 1;
  const states = ['requesting', 'assigned', 'verifying', 'bound', ...Object.keys(counts).filter((s) => !['requesting', 'assigned', 'verifying', 'bound'].includes(s))];
  const needle = text.trim().toLowerCase();
  const rows = leases.filter((lease) => matches(lease, needle, state)).sort(byPort);
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + viewport) / ROW_HEIGHT) + OVERSCAN);
  const shown = rows.length === leases.length ? `${number.format(leases.length)}` : `${number.format(rows.length)} of ${number.format(leases.length)}`;

  return html`
    <section class="card leases" aria-labelledby="leases-title">
      <div class="section-head">
        <h2 id="leases-title">Leases <span class="count" data-shown=${rows.length}>${shown}</span></h2>
        <div class="filters">
          <label>Filter <input type="search" name="filter" value=${text} placeholder="tempID, track or port" autocomplete="off" spellcheck="false"
            onInput=${(event) => setText(event.currentTarget.value)} /></label>
          <label>State <select name="state" value=${state} onChange=${(event) => setState(event.currentTarget.value)}>
            <option value="">all (${number.format(leases.length)})</option>
            ${states.map((name) => html`<option key=${name} value=${name}>${name} (${number.format(counts[name] ?? 0)})</option>`)}
          </select></label>
        </div>
      </div>
      <div class="table-scroll" ref=${scroller} onScroll=${onScroll}>
        <table>
          <thead>
            <tr>
              <th scope="col">tempID</th>
              <th scope="col">Track</th>
              <th scope="col" class="num">Port</th>
              <th scope="col">State</th>
              <th scope="col" class="num" title="Since it was verified, or since it asked if it is not yet">Age</th>
              <th scope="col" class="num">Last sign of life</th>
              <th scope="col" class="num">Probe RTT</th>
              <th scope="col">Level</th>
            </tr>
          </thead>
          <tbody>
            ${first > 0 && html`<tr class="spacer" aria-hidden="true" style=${{ height: `${first * ROW_HEIGHT}px` }}><td colspan="8"></td></tr>`}
            ${rows.slice(first, last).map((lease, index) => html`<${LeaseRow} key=${lease.tempId} lease=${lease} rms=${rms[lease.tempId]} odd=${(first + index) % 2 === 1} />`)}
            ${last < rows.length && html`<tr class="spacer" aria-hidden="true" style=${{ height: `${(rows.length - last) * ROW_HEIGHT}px` }}><td colspan="8"></td></tr>`}
            ${rows.length === 0 && html`<tr class="empty"><td colspan="8">${leases.length === 0 ? 'No leases yet: a plugin that asks for a port appears here.' : 'No lease matches the filter.'}</td></tr>`}
          </tbody>
        </table>
      </div>
    </section>`;
}

// ---------------------------------------------------------------------------------------------------------------
// The lease machine's chart

/** Where each state sits, in grid cells: the way in on the left, bound on the right, the ends above and below. */
const CHART_PLACES = {
  adopted: [1, 0],
  lapsed: [3, 0],
  starting: [0, 1],
  requesting: [1, 1],
  assigned: [2, 1],
  verifying: [3, 1],
  bound: [4, 1],
  retrying: [2, 2],
  released: [0, 3],
  failed: [1, 3],
  expired: [3, 3],
  stolen: [4, 3],
};
const BOX = { width: 116, height: 44, columnStep: 148, rowStep: 70, margin: 10 };

function chartLayout(chart) {
  const places = new Map();
  let extra = 0;
  for (const state of chart.states) {
    // A state this layout does not know yet still gets a box, in a row of its own below.
    const [column, row] = CHART_PLACES[state] ?? [extra++, 4];
    places.set(state, {
      x: BOX.margin + column * BOX.columnStep,
      y: BOX.margin + row * BOX.rowStep,
      cx: BOX.margin + column * BOX.columnStep + BOX.width / 2,
      cy: BOX.margin + row * BOX.rowStep + BOX.height / 2,
    });
  }
  const boxes = [...places.values()];
  const width = Math.max(...boxes.map((box) => box.x)) + BOX.width + BOX.margin;
  const height = Math.max(...boxes.map((box) => box.y)) + BOX.height + BOX.margin;

  // One arrow per pair of states, its events in the tooltip; moves from any state ('*') go in the caption.
  const pairs = new Map();
  const anywhere = [];
  for (const { from, to, event } of chart.transitions) {
    if (from === '*') {
      anywhere.push({ to, event });
      continue;
    }
    if (!places.has(from) || !places.has(to)) continue;
    const key = `${from}>${to}`;
    if (!pairs.has(key)) pairs.set(key, { from, to, events: [] });
    if (!pairs.get(key).events.includes(event)) pairs.get(key).events.push(event);
  }
  const finals = new Set(chart.states.filter((state) => !chart.transitions.some((move) => move.from === state)));
  for (const pair of pairs.values()) pair.twoWay = pairs.has(`${pair.to}>${pair.from}`);
  const edges = [...pairs.values()].map((pair) => ({ ...pair, path: edgePath(places.get(pair.from), places.get(pair.to), pair, places) }));
  return { places, width, height, edges, anywhere, finals };
}

/** Where the line from a box's centre towards (x, y) leaves the box. */
function leaveBox(box, x, y) {
  const dx = x - box.cx;
  const dy = y - box.cy;
  const t = Math.min(dx === 0 ? Infinity : BOX.width / 2 / Math.abs(dx), dy === 0 ? Infinity : BOX.height / 2 / Math.abs(dy));
  return [box.cx + dx * Math.min(t, 1), box.cy + dy * Math.min(t, 1)];
}

function insideAnotherBox(x, y, from, to, places) {
  const pad = 8;
  for (const [state, box] of places) {
    if (state === from || state === to) continue;
    if (x > box.x - pad && x < box.x + BOX.width + pad && y > box.y - pad && y < box.y + BOX.height + pad) return true;
  }
  return false;
}

/**
 * A line from one box to another, straight where it can be; a move with a move back bends to the right of its
 * direction (so the two do not lie on each other), and any line bends further until it passes no other box.
 */
function edgePath(a, b, { from, to, twoWay }, places) {
  const dx = b.cx - a.cx;
  const dy = b.cy - a.cy;
  const length = Math.hypot(dx, dy) || 1;
  const [nx, ny] = [-dy / length, dx / length];
  const bends = [...(twoWay ? [] : [0]), 12, 28, 44, 60, 76, -28, -44, -60, -76, 96];
  let chosen = bends[0];
  for (const bend of bends) {
    const mx = (a.cx + b.cx) / 2 + nx * bend * 2;
    const my = (a.cy + b.cy) / 2 + ny * bend * 2;
    let clear = true;
    for (let step = 1; step < 24 && clear; step++) {
      const t = step / 24;
      const x = (1 - t) ** 2 * a.cx + 2 * (1 - t) * t * mx + t ** 2 * b.cx;
      const y = (1 - t) ** 2 * a.cy + 2 * (1 - t) * t * my + t ** 2 * b.cy;
      if (insideAnotherBox(x, y, from, to, places)) clear = false;
    }
    if (clear) {
      chosen = bend;
      break;
    }
  }
  // The control point sits twice the bend out, so the curve's middle is `bend` from the straight line.
  const mx = (a.cx + b.cx) / 2 + nx * chosen * 2;
  const my = (a.cy + b.cy) / 2 + ny * chosen * 2;
  const [sx, sy] = leaveBox(a, mx, my);
  const [ex, ey] = leaveBox(b, mx, my);
  return `M${sx.toFixed(1)},${sy.toFixed(1)} Q${mx.toFixed(1)},${my.toFixed(1)} ${ex.toFixed(1)},${ey.toFixed(1)}`;
}

class StateChart extends Pure {
  render({ chart, states }) {
    if (!this.layout || this.chart !== chart) {
      // The graph is the machine's definition: it never changes while the page is open, but each snapshot carries a copy.
      if (!this.layout || JSON.stringify(chart) !== JSON.stringify(this.chart)) this.layout = chartLayout(chart);
      this.chart = chart;
    }
    const { places, width, height, edges, anywhere, finals } = this.layout;
    const live = Object.entries(states).filter(([, count]) => count > 0);
    const summary = live.length === 0 ? 'no leases' : live.map(([state, count]) => `${count} ${state}`).join(', ');
    return html`
      <section class="card chart" aria-labelledby="chart-title">
        <h2 id="chart-title">Lease machine <span class="count">${summary}</span></h2>
        <svg viewBox=${`0 0 ${width} ${height}`} role="img" aria-labelledby="chart-title chart-desc" class="chart-svg">
          <desc id="chart-desc">The lease machine's states with how many leases are in each: ${summary}.</desc>
          <defs>
            <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M0,0 L10,5 L0,10 z" class="arrow-head" />
            </marker>
          </defs>
          <g class="edges">
            ${edges.map((edge) => html`
              <path key=${`${edge.from}>${edge.to}`} d=${edge.path} class="edge" marker-end="url(#arrow)">
                <title>${edge.from} → ${edge.to}: ${edge.events.join(', ')}</title>
              </path>`)}
          </g>
          ${[...places].map(([state, box]) => {
            const count = states[state] ?? 0;
            const kind = finals.has(state) ? 'final' : 'live';
            return html`
              <g key=${state} class=${`node node-${kind}${count > 0 ? ' node-occupied' : ''}`} data-state=${state} data-count=${count}
                transform=${`translate(${box.x},${box.y})`}>
                <title>${state}: ${count} ${count === 1 ? 'lease' : 'leases'}${kind === 'final' ? ' (an end state)' : ''}</title>
                <rect width=${BOX.width} height=${BOX.height} rx=${kind === 'final' ? 4 : 12} />
                ${kind === 'final' && html`<rect class="inner" x="3" y="3" width=${BOX.width - 6} height=${BOX.height - 6} rx="2" />`}
                <text x="10" y="18" class="node-name">${state}</text>
                <text x=${BOX.width - 10} y="37" class="node-count" text-anchor="end">${count}</text>
              </g>`;
          })}
        </svg>
        ${anywhere.length > 0 && html`<p class="chart-note">From any live state: ${anywhere.map(({ to, event }, index) => html`${index > 0 ? ' · ' : ''}<code>${event}</code> → ${to}`)}.
          Double-bordered boxes are end states: a lease that reaches one leaves the table.</p>`}
      </section>`;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Atlas and controllers

const LINK_KIND = { connected: 'up', connecting: 'pending', subscribing: 'pending', backoff: 'pending', stopped: 'off' };

function MeterRow({ meter, value }) {
  const fill = value === undefined || value === null ? 0 : clamp01((value - METER_FLOOR_DB) / -METER_FLOOR_DB);
  return html`
    <tr data-param=${meter.param} data-updates=${meter.updatesPerSecond}>
      <th scope="row" class="mono">${meter.param}</th>
      <td class="level-cell">
        <span class="level">
          <span class="bar" role="meter" aria-label=${`${meter.param} level`} aria-valuemin=${METER_FLOOR_DB} aria-valuemax="0" aria-valuenow=${value ?? METER_FLOOR_DB} data-db=${value ?? ''}>
            <span class="fill" style=${{ clipPath: `inset(0 ${((1 - fill) * 100).toFixed(2)}% 0 0)` }}></span>
          </span>
          <span class="level-text mono">${value === undefined || value === null ? '—' : dbText(value)}</span>
        </span>
      </td>
      <td class="num">${meter.updatesPerSecond.toFixed(meter.updatesPerSecond < 10 ? 1 : 0)}/s</td>
      <td class="num">${meter.consumers}</td>
      <td><span class=${`tag device-${meter.device}`}>${meter.device}</span></td>
    </tr>`;
}

function Processor({ processor, meters }) {
  const kind = LINK_KIND[processor.state] ?? 'pending';
  return html`
    <article class="processor" data-processor=${processor.id} aria-label=${`Atlas processor ${processor.id}`}>
      <header class="processor-head">
        <h3>${processor.id}</h3>
        <span class="mono muted">${processor.host}:${processor.port}</span>
        <span class=${`tag link-${kind}`} data-link=${processor.state}>${processor.state}</span>
        <span class="muted">${processor.connects} ${processor.connects === 1 ? 'connect' : 'connects'}</span>
        ${processor.lastDown && html`<span class="muted down" title=${processor.lastDown}>last down: ${processor.lastDown}</span>`}
      </header>
      ${processor.meters.length === 0
        ? html`<p class="muted">No meters subscribed.</p>`
        : html`
          <table class="meters">
            <thead><tr><th scope="col">Meter</th><th scope="col">Level</th><th scope="col" class="num">Updates</th><th scope="col" class="num">Consumers</th><th scope="col">Device</th></tr></thead>
            <tbody>${processor.meters.map((meter) => html`<${MeterRow} key=${meter.param} meter=${meter} value=${meters[`${processor.id}/${meter.param}`] ?? meter.value} />`)}</tbody>
          </table>`}
    </article>`;
}

function Atlas({ processors, meters }) {
  return html`
    <section class="card atlas" aria-labelledby="atlas-title">
      <h2 id="atlas-title">Atlas processors <span class="count">${processors.length}</span></h2>
      ${processors.length === 0
        ? html`<p class="muted">No Atlas processor configured.</p>`
        : html`<div class="processors">${processors.map((processor) => html`<${Processor} key=${processor.id} processor=${processor} meters=${meters} />`)}</div>`}
    </section>`;
}

function Controllers({ controllers }) {
  return html`
    <section class="card controllers" aria-labelledby="controllers-title">
      <h2 id="controllers-title">Controllers <span class="count">${controllers.length}</span></h2>
      ${controllers.length === 0
        ? html`<p class="muted">None subscribed.</p>`
        : html`<ul class="controller-list">
            ${controllers.map((controller) => html`
              <li key=${controller.address}>
                <span class="mono">${controller.address}</span>
                <span class=${`tag ${controller.standing ? 'link-up' : 'link-pending'}`}>${controller.standing ? 'standing' : 'renewing'}</span>
              </li>`)}
          </ul>`}
    </section>`;
}

// ---------------------------------------------------------------------------------------------------------------

function App() {
  const [snapshot, setSnapshot] = useState(null);
  const [levels, setLevels] = useState({ rms: {}, meters: {} });
  const [link, setLink] = useState('connecting');

  useEffect(
    () =>
      follow({
        onSnapshot: (next) => {
          setSnapshot(next);
          // The snapshot is as new as anything sent before it, and forgets leases that are gone.
          setLevels(levelsOf(next));
        },
        onLevels: (changed) => setLevels((now) => ({ rms: { ...now.rms, ...changed.rms }, meters: { ...now.meters, ...changed.meters } })),
        onLink: setLink,
      }),
    [],
  );

  useEffect(() => {
    if (snapshot) document.title = `${snapshot.name} · oscport`;
  }, [snapshot?.name]);

  if (!snapshot) {
    return html`<${Header} snapshot=${null} link=${link} /><main class="loading"><p>Waiting for the coordinator…</p></main>`;
  }
  return html`
    <${Header} snapshot=${snapshot} link=${link} />
    <main class="studio">
      <${Pool} pool=${snapshot.pool} counters=${snapshot.counters} leaseCount=${snapshot.leases.length} />
      <${StateChart} chart=${snapshot.chart} states=${snapshot.states} />
      <${Leases} leases=${snapshot.leases} rms=${levels.rms} />
      <${Atlas} processors=${snapshot.processors} meters=${levels.meters} />
      <${Controllers} controllers=${snapshot.controllers} />
    </main>`;
}

render(html`<${App} />`, document.getElementById('app'));
