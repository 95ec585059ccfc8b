/* lh-web cluster page: brokers, their services and workers, node counters, drill reports. */
'use strict';

(function () {
  const brokersDiv = $('brokers');
  const nodesDiv = $('nodes');
  const drillsUl = $('drills');
  const statusP = $('cluster-status');

  /* endpoint -> {t (ms), requests} from the previous poll, for the rate */
  let previous = new Map();

  function valueText(v) {
    if (v === null || v === undefined) return '';
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return typeof v === 'number' ? fmtNumber(v) : String(v);
    return JSON.stringify(v);
  }

  /* key/value table; nested objects flattened as a.b */
  function kvTable(obj, cls) {
    const table = el('table', { class: 'kv ' + (cls || '') });
    const tb = document.createElement('tbody');
    const add = (prefix, o, depth) => {
      for (const [k, v] of Object.entries(o)) {
        const key = prefix ? prefix + '.' + k : k;
        if (v && typeof v === 'object' && !Array.isArray(v) && depth < 3) {
          add(key, v, depth + 1);
          continue;
        }
        const tr = document.createElement('tr');
        tr.appendChild(el('th', { text: key }));
        tr.appendChild(el('td', { class: typeof v === 'number' ? 'num' : '', text: valueText(v) }));
        tb.appendChild(tr);
      }
    };
    if (obj && typeof obj === 'object') add('', obj, 0);
    table.appendChild(tb);
    return table;
  }

  /* a table of objects: the columns are the union of their keys, `first` ones first */
  function objectsTable(list, cls, first) {
    const rows = (Array.isArray(list) ? list : []).filter((x) => x && typeof x === 'object');
    if (!rows.length) return el('p', { class: 'muted', text: 'none' });
    const cols = [];
    for (const c of first) if (rows.some((r) => c in r)) cols.push(c);
    for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
    const table = el('table', { class: cls });
    const thead = document.createElement('thead');
    const htr = document.createElement('tr');
    for (const c of cols) {
      const numeric = rows.every((r) => r[c] === undefined || typeof r[c] === 'number');
      htr.appendChild(el('th', { class: numeric ? 'num' : '', text: c }));
    }
    thead.appendChild(htr);
    table.appendChild(thead);
    const tb = document.createElement('tbody');
    for (const r of rows) {
      const tr = document.createElement('tr');
      for (const c of cols) tr.appendChild(el('td', { class: typeof r[c] === 'number' ? 'num' : '', text: valueText(r[c]) }));
      tb.appendChild(tr);
    }
    table.appendChild(tb);
    return table;
  }

  function renderBroker(b, now, next) {
    const sec = el('section', { class: 'broker' });
    const endpoint = typeof b.endpoint === 'string' ? b.endpoint : '?';
    sec.setAttribute('data-endpoint', endpoint);
    const h = document.createElement('h2');
    h.appendChild(el('span', { class: 'broker-name', text: b.name !== undefined ? String(b.name) : endpoint }));
    h.appendChild(document.createTextNode(' '));
    h.appendChild(el('code', { class: 'muted endpoint', text: endpoint }));
    sec.appendChild(h);
    if (!b.ok) {
      sec.classList.add('broker-down');
      sec.appendChild(el('p', { class: 'error', text: 'down: ' + valueText(b.error ?? 'no answer') }));
      return sec;
    }
    const counters = b.counters && typeof b.counters === 'object' ? b.counters : {};
    const line = el('p', {});
    if (b.uptime_ms !== undefined) line.appendChild(el('span', { text: 'up ' + fmtDuration(b.uptime_ms) }));
    const reqs = Number(counters.requests);
    if (Number.isFinite(reqs)) {
      next.set(endpoint, { t: now, requests: reqs });
      const prev = previous.get(endpoint);
      let rateText = 'requests/s: …';
      if (prev && now > prev.t && reqs >= prev.requests) {
        rateText = ((reqs - prev.requests) / ((now - prev.t) / 1000)).toFixed(1) + ' requests/s';
      } else if (prev && reqs < prev.requests) {
        rateText = 'requests/s: counter reset';
      }
      line.appendChild(el('span', { class: 'rate', text: rateText }));
    }
    sec.appendChild(line);
    sec.appendChild(el('h3', { text: 'Services' }));
    sec.appendChild(objectsTable(b.services, 'services', ['name', 'workers', 'queue', 'requests']));
    sec.appendChild(el('h3', { text: 'Workers' }));
    sec.appendChild(objectsTable(b.workers, 'workers', ['service', 'agent', 'capacity', 'inflight']));
    sec.appendChild(el('h3', { text: 'Counters' }));
    sec.appendChild(kvTable(counters, 'counters'));
    const known = new Set(['endpoint', 'ok', 'name', 'uptime_ms', 'services', 'workers', 'counters', 'error']);
    const rest = {};
    for (const [k, v] of Object.entries(b)) if (!known.has(k)) rest[k] = v;
    if (Object.keys(rest).length) {
      sec.appendChild(el('h3', { text: 'Other' }));
      sec.appendChild(kvTable(rest, 'other'));
    }
    return sec;
  }

  async function refresh() {
    let r;
    try {
      r = await api('GET', '/api/cluster');
    } catch (e) {
      statusP.textContent = 'could not load: ' + showText(e.message);
      statusP.classList.add('error');
      return;
    }
    statusP.classList.remove('error');
    statusP.textContent = 'updated ' + fmtTime(Date.now());
    const now = Date.now();
    const next = new Map();
    clear(brokersDiv);
    const brokers = r && Array.isArray(r.brokers) ? r.brokers : [];
    for (const b of brokers) if (b && typeof b === 'object') brokersDiv.appendChild(renderBroker(b, now, next));
    if (!brokers.length) brokersDiv.appendChild(el('p', { class: 'muted', text: 'no brokers configured' }));
    previous = next;

    clear(nodesDiv);
    const nodes = r && r.nodes && typeof r.nodes === 'object' ? r.nodes : {};
    for (const [name, n] of Object.entries(nodes)) {
      const sec = el('section', { class: 'node' });
      sec.setAttribute('data-node', name);
      sec.appendChild(el('h3', { text: name }));
      sec.appendChild(kvTable(n, 'counters'));
      nodesDiv.appendChild(sec);
    }
    if (!Object.keys(nodes).length) nodesDiv.appendChild(el('p', { class: 'muted', text: 'no node counters' }));
  }

  async function loadDrills() {
    let r;
    try {
      r = await api('GET', '/api/drills');
    } catch (e) {
      clear(drillsUl);
      drillsUl.appendChild(el('li', { class: 'error', text: 'could not load: ' + e.message }));
      return;
    }
    clear(drillsUl);
    const list = (r && Array.isArray(r.drills) ? r.drills : []).filter(
      (d) => d && typeof d.name === 'string' && d.name !== '' && d.name !== '.' && d.name !== '..' && !/[\/\\]/.test(d.name)
    );
    for (const d of list) {
      const href = '/api/drills/' + encodeURIComponent(d.name);
      const li = el('li', { class: 'drill' });
      li.appendChild(el('a', { text: d.name, attrs: { href } }));
      const meta = [];
      if (d.size !== undefined) meta.push(fmtBytes(d.size));
      if (d.mtime !== undefined && Number.isFinite(Number(d.mtime))) meta.push(fmtDateTime(Number(d.mtime) * 1000));
      if (meta.length) li.appendChild(el('span', { class: 'muted', text: ' · ' + meta.join(' · ') }));
      if (/\.(svg|png)$/i.test(d.name)) {
        li.appendChild(el('img', { attrs: { src: href, alt: showText(d.name), loading: 'lazy' } }));
      }
      drillsUl.appendChild(li);
    }
    if (!list.length) drillsUl.appendChild(el('li', { class: 'muted none', text: 'no drill reports' }));
  }

  refresh();
  setInterval(refresh, 2000);
  loadDrills();
  setInterval(loadDrills, 30000);
})();
