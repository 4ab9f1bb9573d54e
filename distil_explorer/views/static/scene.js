// What the canvas draws, as plain values: a "scene" computed from (view state,
// Trace payload). Pure functions, no DOM: canvas.js draws the scenes on screen,
// views/scene.py computes the same scenes in Python for the static export, and
// tests/views/test_scene.py runs this file under node to check that both agree.
// `CONTRACT` (static/contract.json) is defined above this file in the module.

const LAYOUT = CONTRACT.layout;

// A context-mixing weighting: one map per layer, no heads (views/scene.py's mixing_of).
export const isMixing = (state) => Object.hasOwn(CONTRACT.mixing, state.weighting ?? "");

export function headColour(h) {
  return LAYOUT.palette[h % LAYOUT.palette.length];
}

// Math.round for the non-negative values here, written as Python writes it.
const roundHalfUp = (x) => Math.floor(x + 0.5);

// [0, 1, 2, 5] -> "0–2, 5" (view_state.heads_text writes the same).
export function runs(list) {
  const out = [];
  for (const v of list) {
    const last = out[out.length - 1];
    if (last && v === last[1] + 1) last[1] = v;
    else out.push([v, v]);
  }
  return out.map(([a, b]) => (a === b ? `${a}` : `${a}\u2013${b}`)).join(", ");
}

// anywidget hands bytes traits over as DataView; typed arrays need alignment.
export function typed(value, Type) {
  if (!value || value.byteLength === 0) return new Type(0);
  const buffer = value.buffer ?? value;
  const offset = value.byteOffset ?? 0;
  if (offset % Type.BYTES_PER_ELEMENT === 0) {
    return new Type(buffer, offset, value.byteLength / Type.BYTES_PER_ELEMENT);
  }
  return new Type(buffer.slice(offset, offset + value.byteLength));
}

// The payload (its traits, by name) with every map it holds decoded on first use
// (value = byte * scale / 255, float64) and every derived map cached. A mixing
// payload (info.mixing) holds one map per layer where others hold heads, and rollout.
export function payloadData(get) {
  const info = get("payload_info") ?? {};
  const [tokens, layers, heads] = [get("tokens") ?? [], get("layers") ?? [], get("heads") ?? []];
  const n = info.n ?? 0, size = n * n;
  const mapsLayers = info.maps_layers ?? [];
  const mixing = info.mixing ?? "", per = mixing ? 1 : heads.length;
  const at = (head) => (mixing ? 0 : heads.indexOf(head));
  const bytes = typed(get("maps"), Uint8Array), scale = typed(get("maps_scale"), Float32Array);
  const meanBytes = typed(get("layer_mean"), Uint8Array), meanScale = typed(get("layer_mean_scale"), Float32Array);
  const rollBytes = typed(get("rollout"), Uint8Array), rollScale = typed(get("rollout_scale"), Float32Array);
  const cache = new Map();
  const decode = (data, s, k) => {
    const out = new Float64Array(size), step = s[k];
    for (let i = 0; i < size; i++) out[i] = (data[k * size + i] * step) / 255;
    return out;
  };
  const cached = (key, make) => {
    if (!cache.has(key)) cache.set(key, make());
    return cache.get(key);
  };
  const ready = size > 0 && bytes.length === mapsLayers.length * per * size;
  return {
    tokens, layers, heads, n, mapsLayers, cached, mixing,
    weighting: info.weighting,
    t: info.small_side ?? 0,
    small: typed(get("small"), Uint8Array),
    ablated: info.ablated ?? [],
    ready,
    allLayers: mapsLayers.length === layers.length,
    has: (layer) => ready && mapsLayers.includes(layer),
    map: (layer, head) => cached(`map:${layer}:${head}`, () =>
      decode(bytes, scale, mapsLayers.indexOf(layer) * per + at(head))),
    layerMean: (head) => cached(`lmean:${head}`, () => decode(meanBytes, meanScale, at(head))),
    rollout: (layer) => cached(`roll:${layer}`, () => decode(rollBytes, rollScale, mapsLayers.indexOf(layer))),
  };
}

export function visibleOf(state, data) {
  return state.visible_heads?.length ? state.visible_heads : data.heads;
}

// The mean the aggregate names: of the visible heads of the layer, or of every
// layer (from every map, or from each head's mean over layers when only one
// layer was sent).
export function meanMap(state, data) {
  const visible = isMixing(state) ? [null] : visibleOf(state, data);
  const key = `mean:${state.aggregate}:${state.aggregate === "mean_heads" ? state.layer : ""}:${visible}`;
  return data.cached(key, () => {
    const total = new Float64Array(data.n * data.n);
    const add = (A) => { for (let i = 0; i < A.length; i++) total[i] += A[i]; };
    let count = 0;
    if (state.aggregate === "mean_layers" && !data.allLayers) {
      for (const h of visible) { add(data.layerMean(h)); count++; }
    } else {
      const layers = state.aggregate === "mean_layers" ? data.layers : [state.layer];
      for (const l of layers) for (const h of visible) { add(data.map(l, h)); count++; }
    }
    for (let i = 0; i < total.length; i++) total[i] /= count;
    return total;
  });
}

// The maps the head view draws, the focused head last (on top), or null while the
// layer's maps (or the weighting's) are on their way: [{ head, colour, A }] (head
// null: a mean, or a mixing map).
export function drawnMaps(state, data) {
  if (data.weighting !== (state.weighting ?? "weights")) return null;
  if (isMixing(state) && state.aggregate !== "mean_layers") {
    if (!data.has(state.layer)) return null;
    const A = state.aggregate === "rollout" ? data.rollout(state.layer) : data.map(state.layer, null);
    return [{ head: null, colour: null, A }];
  }
  if (state.aggregate !== "head") {
    if (state.aggregate === "mean_heads" && !data.has(state.layer)) return null;
    if (!data.ready) return null;
    return [{ head: null, colour: null, A: meanMap(state, data) }];
  }
  if (!data.has(state.layer)) return null;
  const heads = state.draw_style === "heatmap" ? [state.head]
    : [...visibleOf(state, data).filter((h) => h !== state.head), state.head];
  return heads.map((h) => ({ head: h, colour: headColour(h), A: data.map(state.layer, h) }));
}

// Rows (side "query": where the tokens look) or columns ("key": who looks at
// them) of `picked`, summed or averaged.
export function combined(A, n, picked, side, mean) {
  const out = new Float64Array(n);
  for (const p of picked) {
    for (let t = 0; t < n; t++) out[t] += side === "query" ? A[p * n + t] : A[t * n + p];
  }
  if (mean && picked.length) for (let t = 0; t < n; t++) out[t] /= picked.length;
  return out;
}

// Flat indices of the `count` largest values, ties to the lower index, ascending.
export function strongest(A, count) {
  if (A.length <= count) return Int32Array.from(A.keys());
  const sorted = Float64Array.from(A).sort();
  const edge = sorted[A.length - count];
  let above = 0;
  for (let k = 0; k < A.length; k++) if (A[k] > edge) above++;
  let ties = count - above;
  const out = new Int32Array(count);
  let m = 0;
  for (let k = 0; k < A.length; k++) {
    if (A[k] > edge || (A[k] === edge && ties-- > 0)) out[m++] = k;
  }
  return out;
}

// How many lines each of `maps` maps draws at most when no token is picked.
export const strongestCount = (maps) => Math.max(16, Math.floor(LAYOUT.strongest_lines / Math.max(1, maps)));

// The candidate lines of one map: [i, j] pairs as flat indices i * n + j.
function candidates(m, n, picked, side, data, state, count) {
  if (picked.length) {
    const out = new Int32Array(picked.length * n);
    let k = 0;
    for (const p of picked) for (let t = 0; t < n; t++) out[k++] = side === "query" ? p * n + t : t * n + p;
    return out;
  }
  if (n <= LAYOUT.many) return Int32Array.from(m.A.keys());
  const key = `strong:${m.head === null ? `${state.aggregate}:${state.layer}:${visibleOf(state, data)}` : `${state.layer}:${m.head}`}`;
  return data.cached(`${key}:${count}`, () => strongest(m.A, count));
}

// The head view: lines (query i on the left to key j on the right, opacity and
// width in `levels` steps of the largest weight drawn) or a heatmap.
export function headScene(state, data, hover = null) {
  const pins = pinsOf(state);
  const picked = pins.length ? pins : hover ? [hover.token] : [];
  const side = pins.length ? state.selected_side : hover ? hover.side : "query";
  const n = data.n;
  const mixing = isMixing(state) ? state.weighting : "";
  const base = { n, tokens: data.tokens, picked, side, title: titleOf(state, data), mixing };
  const maps = n > 0 ? drawnMaps(state, data) : null;
  if (!maps) return { ...base, kind: n > 0 ? "loading" : "empty" };
  const drawn = maps.map(({ head, colour }) => ({ head, colour }));
  if (state.draw_style === "heatmap") {
    const A = maps[0].A;
    const top = A.reduce((a, v) => Math.max(a, v), 0);
    const cells = Uint8Array.from(A, (v) => (top > 0 ? roundHalfUp((v / top) * 255) : 0));
    return { ...base, kind: "heatmap", maps: drawn, top, cells };
  }
  const count = strongestCount(maps.length);
  const chosen = maps.map((m) => candidates(m, n, picked, side, data, state, count));
  let top = 0;
  maps.forEach((m, k) => { for (const c of chosen[k]) top = Math.max(top, m.A[c]); });
  const lines = [];
  maps.forEach((m, k) => {
    for (const c of chosen[k]) {
      const level = top > 0 ? roundHalfUp((m.A[c] / top) * LAYOUT.levels) : 0;
      if (level > 0) lines.push(k, Math.floor(c / n), c % n, level);
    }
  });
  const scene = { ...base, kind: "lines", maps: drawn, top, lines: Int32Array.from(lines), sums: [], most: 0 };
  scene.every = !picked.length && n <= LAYOUT.many;
  if (picked.length) {
    scene.sums = maps.map((m) => combined(m.A, n, picked, side, state.combine === "mean"));
    scene.most = scene.sums.reduce((a, c) => c.reduce((b, v) => Math.max(b, v), a), top);
  }
  return scene;
}

export function pinsOf(state) {
  if (state.selected_tokens?.length) return state.selected_tokens;
  return state.selected_token >= 0 ? [state.selected_token] : [];
}

// The `p`-th percentile of sorted values, linear between neighbours.
export function percentile(sorted, p) {
  const pos = (p / 100) * (sorted.length - 1), lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

// uint8 thumbnails, each map scaled so its `p`-th percentile is 255 (above
// saturates; a map whose percentile is 0 is scaled to its maximum).
export function contrast(small, size, p) {
  const out = new Uint8Array(small.length);
  for (let start = 0; start < small.length; start += size) {
    const values = small.subarray(start, start + size);
    const sorted = Float64Array.from(values).sort();
    let top = percentile(sorted, p);
    if (!(top > 0)) top = sorted[size - 1];
    if (top > 0) for (let i = 0; i < size; i++) out[start + i] = Math.min(255, roundHalfUp((values[i] * 255) / top));
  }
  return out;
}

// Every layer x head as a thumbnail; a mixing weighting: one per layer, no heads.
export function modelScene(state, data) {
  const p = state.thumbnail_percentile ?? 95;
  const size = data.t * data.t;
  const mixing = isMixing(state) ? state.weighting : "";
  const title = titleOf(state, data);
  if (data.n && data.weighting !== (state.weighting ?? "weights")) return { kind: "loading", n: data.n, title };
  const thumbs = size ? data.cached(`thumbs:${p}`, () => contrast(data.small, size, p)) : new Uint8Array(0);
  return { kind: "model", layers: data.layers, heads: mixing ? [] : data.heads, t: data.t, thumbs,
    chosen: [state.layer, mixing ? -1 : state.head], ablated: mixing ? [] : data.ablated, n: data.n, title, mixing };
}

export function sceneOf(state, data, hover = null) {
  return state.mode === "model" ? modelScene(state, data) : headScene(state, data, hover);
}

// " · heads off: 0.1, 1.3" (layer.head) for a run with heads switched off.
export function headsOff(ablated) {
  return ablated?.length ? ` \u00b7 heads off: ${ablated.map(([l, h]) => `${l}.${h}`).join(", ")}` : "";
}

// What is drawn, in words: the caption above the canvas and the export's title.
export function titleOf(state, data) {
  const n = data.n;
  if (!n) return "Nothing to draw yet: press Run in the Run tab.";
  const count = `${n} tokens`;
  const norms = (state.weighting === "norms" ? " \u00b7 norm-weighted \u2016\u03b1f(x)\u2016" : "") +
    headsOff(data.ablated);
  const visible = visibleOf(state, data);
  const heads = runs(visible);
  if (isMixing(state)) return mixingTitle(state, data, count);
  if (state.mode === "model") {
    return `model view: ${data.layers.length} layers \u00d7 ${data.heads.length} heads \u00b7 ${count} \u00b7 ` +
      `layer ${state.layer}, head ${state.head} selected${norms}`;
  }
  const few = state.draw_style === "lines" && n > LAYOUT.many && !pinsOf(state).length
    ? ` \u00b7 the ${strongestCount(state.aggregate === "head" ? visible.length : 1)} strongest lines ` +
      "of each map (hover a token for all of its lines)" : "";
  if (state.aggregate === "mean_heads") return `mean over heads ${heads} of layer ${state.layer} \u00b7 ${count}${few}${norms}`;
  if (state.aggregate === "mean_layers") {
    return `mean over layers ${runs(data.layers)} \u00d7 heads ${heads} ` +
      `(${data.layers.length * visible.length} maps) \u00b7 ${count}${few}${norms}`;
  }
  if (state.draw_style === "lines" && visible.length > 1) {
    return `layer ${state.layer}, heads ${heads} overlaid (${visible.length} of ${data.heads.length}), ` +
      `each in its colour; head ${state.head} on top \u00b7 ${count}${few}${norms}`;
  }
  return `layer ${state.layer}, head ${state.head} \u00b7 ${count}${few}${norms}`;
}

// A mixing map's title (views/scene.py's _mixing_title writes the same).
function mixingTitle(state, data, count) {
  const label = CONTRACT.weightings[state.weighting], layer = state.layer;
  if (state.mode === "model") {
    return `model view: ${data.layers.length} layers \u00b7 ${label}, one map per layer (no heads) \u00b7 ` +
      `${count} \u00b7 layer ${layer} selected`;
  }
  const few = state.draw_style === "lines" && data.n > LAYOUT.many && !pinsOf(state).length
    ? ` \u00b7 the ${strongestCount(1)} strongest lines of the map (hover a token for all of its lines)` : "";
  const tail = ` \u00b7 ${count}${few}`;
  if (state.aggregate === "rollout") {
    return `rollout through layer ${layer} \u00b7 ${label}: how much each input token shapes each token ` +
      `after layer ${layer}${tail}`;
  }
  const what = CONTRACT.mixing[state.weighting];
  if (state.aggregate === "mean_layers") return `mean over layers ${runs(data.layers)} \u00b7 ${label}: ${what}${tail}`;
  return `layer ${layer} \u00b7 ${label}: ${what}${tail}`;
}

// A scene as plain JSON (typed arrays as lists), for the cross-language tests.
export function plainScene(scene) {
  const out = {};
  for (const [k, v] of Object.entries(scene)) {
    out[k] = ArrayBuffer.isView(v) ? Array.from(v) : k === "sums" ? v.map((c) => Array.from(c)) : v;
  }
  return out;
}
