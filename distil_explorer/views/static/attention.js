// AttentionWidget front end. Python owns the state; this file draws it on a <canvas>
// inside `el` and sets only the traits a person changes with the bar, the head
// picker and the pointer. Its bar is the one set of attention-view controls.

const FONT_PX = 12;
const FONT = `${FONT_PX}px sans-serif`;
const ROW = 18; // px per token in the lines view
const LINK = 160; // px between the query and key columns
const [THUMB, GAP, LABEL] = [48, 6, 28]; // model view: px per thumbnail, between, labels
const LEVELS = 32; // opacity and width steps of the lines
const MANY = 64; // above this many tokens, lines only for a hovered or pinned token
const [CELL_MIN, CELL_MAX, SPAN] = [FONT_PX + 2, 20, 480]; // heatmap cells: px
const [BOX_W, BOX_H] = [960, 640]; // the scroll box's size while it is not laid out
// One colour per head: mid lightness, so each reads on white and on dark themes.
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#e6550d", "#17becf",
  "#e377c2", "#a0522d", "#8c8c00", "#5c6bc0", "#d81b60", "#00897b"];
const headColour = (h) => PALETTE[h] ?? `hsl(${(h * 137.508) % 360}, 65%, 45%)`;
// viridis at 0, 1/8, ..., 1: the heatmap, the thumbnails and their colour scales.
const VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 73, 137], [49, 104, 142], [38, 130, 142],
  [31, 158, 137], [53, 183, 121], [110, 206, 88], [253, 231, 37]];
const LUT = new Uint8Array(256 * 3);
for (let v = 0; v < 256; v++) {
  const t = (v / 255) * 8, k = Math.min(7, Math.floor(t)), f = t - k;
  for (let c = 0; c < 3; c++) LUT[3 * v + c] = Math.round(VIRIDIS[k][c] * (1 - f) + VIRIDIS[k + 1][c] * f);
}
const SCALE = `linear-gradient(to right, ${VIRIDIS.map((c) => `rgb(${c})`).join(", ")})`;
const AGGREGATES = [["head", "each head"], ["mean_heads", "mean over heads"],
  ["mean_layers", "mean over layers"]];

// anywidget hands bytes traits over as DataView; typed arrays need alignment.
function typed(value, Type) {
  if (!value || value.byteLength === 0) return new Type(0);
  const buffer = value.buffer ?? value;
  const offset = value.byteOffset ?? 0;
  if (offset % Type.BYTES_PER_ELEMENT === 0) {
    return new Type(buffer, offset, value.byteLength / Type.BYTES_PER_ELEMENT);
  }
  return new Type(buffer.slice(offset, offset + value.byteLength));
}

function sized(canvas, width, height) {
  const dpr = window.devicePixelRatio || 1;
  const [w, h] = [Math.max(1, Math.ceil(width * dpr)), Math.max(1, Math.ceil(height * dpr))];
  const ctx = canvas.getContext("2d");
  if (canvas.width !== w || canvas.height !== h) {
    [canvas.width, canvas.height] = [w, h]; // a new, cleared backing store
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
  } else {
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, w, h); // the same size: reuse it (megapixels at T=512)
  }
  ctx.globalAlpha = 1;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.font = FONT;
  ctx.textBaseline = "middle";
  return ctx;
}

// Follow the host's theme (JupyterLab, VS Code) where it says its text colour.
function textColor(el) {
  const css = getComputedStyle(el);
  const names = ["--jp-ui-font-color1", "--vscode-editor-foreground"];
  return names.map((n) => css.getPropertyValue(n).trim()).find(Boolean) || "#222";
}

function labelWidth(ctx, tokens) {
  ctx.font = FONT;
  return 8 + tokens.reduce((w, t) => Math.max(w, ctx.measureText(t).width), 24);
}

// [0, 1, 2, 5] -> "0–2, 5" (attention_widget._heads_text writes the same).
function runs(list) {
  const out = [];
  for (const v of list) {
    const last = out[out.length - 1];
    if (last && v === last[1] + 1) last[1] = v;
    else out.push([v, v]);
  }
  return out.map(([a, b]) => (a === b ? `${a}` : `${a}\u2013${b}`)).join(", ");
}

// Bytes 0..255, `width` per row, as a viridis image (rows stacked top to bottom).
function lutImage(values, width) {
  const image = new ImageData(Math.max(1, width), Math.max(1, Math.ceil(values.length / Math.max(1, width))));
  for (let k = 0; k < values.length; k++) {
    image.data.set(LUT.subarray(3 * values[k], 3 * values[k] + 3), 4 * k);
    image.data[4 * k + 3] = 255;
  }
  const sheet = document.createElement("canvas");
  [sheet.width, sheet.height] = [image.width, image.height];
  sheet.getContext("2d").putImageData(image, 0, 0);
  return sheet;
}

// The tokens a pin or a hover picks, and the weights of each drawn map they show:
// side "query": rows (where they look), "key": columns (who looks at them).
function combined(A, n, picked, side, mean) {
  const out = new Float32Array(n);
  for (const p of picked) {
    for (let t = 0; t < n; t++) out[t] += side === "query" ? A[p * n + t] : A[t * n + p];
  }
  if (mean && picked.length) for (let t = 0; t < n; t++) out[t] /= picked.length;
  return out;
}

function drawLines(canvas, s) {
  const { tokens, n, shown, picked, side, pinned, mean, ink, gutter: G } = s;
  const w = labelWidth(canvas.getContext("2d"), tokens);
  const ctx = sized(canvas, 2 * (G + w) + LINK, n * ROW + 4);
  const y = (i) => 2 + i * ROW + ROW / 2;
  const [left, right] = [G + w, G + w + LINK]; // where the lines start and end
  const every = picked.length === 0 && n <= MANY;
  const each = (A, fn) => { // (query i, key j, weight) of every line drawn
    if (every) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) fn(i, j, A[i * n + j]);
    else if (side === "query") for (const i of picked) for (let j = 0; j < n; j++) fn(i, j, A[i * n + j]);
    else for (const j of picked) for (let i = 0; i < n; i++) fn(i, j, A[i * n + j]);
  };
  let top = 0;
  for (const m of shown) each(m.A, (i, j, v) => (top = Math.max(top, v)));
  for (const m of shown) { // one path per weight level and head: a few strokes, not n * n
    const paths = [];
    each(m.A, (i, j, v) => {
      const level = Math.round((v / top) * LEVELS);
      if (level === 0) return; // under 1 / LEVELS of the largest: invisible anyway
      const path = (paths[level] ??= new Path2D());
      path.moveTo(left + 2, y(i));
      path.lineTo(right - 2, y(j));
    });
    ctx.strokeStyle = m.colour;
    paths.forEach((path, level) => {
      ctx.globalAlpha = level / LEVELS;
      ctx.lineWidth = 0.5 + (2.5 * level) / LEVELS;
      ctx.stroke(path);
    });
  }
  // Beside the other column: the (summed or mean) weight of each map, one cell per
  // head as opaque as the weight, or for one map a bar as long as it.
  let most = 0;
  if (picked.length && shown.length) {
    const sums = shown.map((m) => combined(m.A, n, picked, side, mean));
    // On the lines' scale, unless a sum goes above it: a mean then reads like one weight.
    most = sums.reduce((a, c) => c.reduce((b, v) => Math.max(b, v), a), top);
    const x = side === "query" ? right + w + 2 : 0;
    const cell = (G - 2) / shown.length;
    sums.forEach((c, k) => {
      ctx.fillStyle = shown[k].colour;
      for (let t = 0; t < n && most > 0; t++) {
        const v = c[t] / most;
        ctx.globalAlpha = shown.length === 1 ? 0.85 : v;
        const length = shown.length === 1 ? v * (G - 2) : cell - 1;
        const from = shown.length === 1 && side === "key" ? x + G - 2 - length : x + k * cell;
        ctx.fillRect(from, y(t) - ROW / 2 + 2, length, ROW - 4);
      }
    });
  }
  ctx.globalAlpha = 1;
  ctx.fillStyle = ink;
  ctx.strokeStyle = ink;
  ctx.lineWidth = pinned ? 2 : 1;
  const own = side === "query" ? G : right;
  for (const p of picked) ctx.strokeRect(own + 1, y(p) - ROW / 2 + 1, w - 2, ROW - 2);
  for (let i = 0; i < n; i++) {
    ctx.font = picked.includes(i) ? `bold ${FONT}` : FONT;
    ctx.textAlign = "right";
    ctx.fillText(tokens[i], left - 4, y(i));
    ctx.textAlign = "left";
    ctx.fillText(tokens[i], right + 4, y(i));
  }
  s.scale = { top, most };
  // Pointer x/y -> token and column: left, where it looks; right, who looks at it.
  return (px, py) => {
    const i = Math.floor((py - 2) / ROW);
    if (i < 0 || i >= n || (px >= left && px <= right)) return null;
    return { token: i, side: px < left ? "query" : "key" };
  };
}

function drawHeatmap(canvas, s, view) {
  const { tokens, n, A, heat, picked, side, hover, ink } = s;
  const { w, cell, sx, sy, width, height } = view;
  const ctx = sized(canvas, width, height);
  canvas.dataset.grid = JSON.stringify({ x: w, y: w, cell, sx, sy, n });
  const clip = (x, yy, cw, ch) => { ctx.save(); ctx.beginPath(); ctx.rect(x, yy, cw, ch); ctx.clip(); };
  const at = (i) => w + i * cell; // grid px of row or column i, unscrolled
  clip(w, w, width - w, height - w);
  ctx.imageSmoothingEnabled = false;
  if (n > 0 && heat) ctx.drawImage(heat, 0, 0, n, n, w - sx, w - sy, n * cell, n * cell);
  const outline = (token, which, colour, lineWidth) => {
    ctx.strokeStyle = colour;
    ctx.lineWidth = lineWidth;
    if (which === "query") ctx.strokeRect(w - sx, at(token) - sy, n * cell, cell);
    else ctx.strokeRect(at(token) - sx, w - sy, cell, n * cell);
  };
  for (const p of picked) outline(p, side, ink, 2);
  if (hover) outline(hover.token, hover.side, ink, 1);
  ctx.restore();
  // Labels stay put while the grid scrolls under them; only visible ones drawn.
  const first = (offset) => Math.max(0, Math.floor(offset / cell));
  const last = (offset, size) => Math.min(n, Math.ceil((offset + size - w) / cell));
  ctx.fillStyle = ink;
  clip(0, w, w, height - w);
  ctx.textAlign = "right";
  for (let i = first(sy); i < last(sy, height); i++) {
    ctx.font = picked.includes(i) && side === "query" ? `bold ${FONT}` : FONT;
    ctx.fillText(tokens[i], w - 4, at(i) - sy + cell / 2);
  }
  ctx.restore();
  clip(w, 0, width - w, w);
  ctx.textAlign = "left";
  for (let j = first(sx); j < last(sx, width); j++) {
    ctx.font = picked.includes(j) && side === "key" ? `bold ${FONT}` : FONT;
    ctx.save();
    ctx.translate(at(j) - sx + cell / 2, w - 4);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(tokens[j], 0, 0);
    ctx.restore();
  }
  ctx.restore();
  // Axis names in the corner: columns are keys, rows are queries.
  ctx.font = "10px sans-serif";
  ctx.textAlign = "right";
  ctx.globalAlpha = 0.7;
  ctx.fillText("key \u2192", w - 3, Math.max(8, w - 22));
  ctx.fillText("query \u2193", w - 3, Math.max(20, w - 9));
  ctx.globalAlpha = 1;
  return (px, py) => {
    const i = Math.floor((py - w + sy) / cell);
    const j = Math.floor((px - w + sx) / cell);
    const inRow = py >= w && i >= 0 && i < n;
    const inCol = px >= w && j >= 0 && j < n;
    if (inRow && inCol) return { token: i, side: "query", key: j, weight: A[i * n + j] };
    if (inRow && px < w) return { token: i, side: "query" };
    if (inCol && py < w) return { token: j, side: "key" };
    return null;
  };
}

function drawModel(canvas, s) {
  // Row l, column h: model layer layers[l], head heads[h] (a capture may keep some).
  const { sheet, shape, layers, heads, layer, head, cellHover, ink } = s;
  const [L, H, t] = shape;
  const step = THUMB + GAP;
  const ctx = sized(canvas, LABEL + H * step, LABEL + L * step);
  ctx.textAlign = "center";
  ctx.fillStyle = ink;
  for (let h = 0; h < H; h++) {
    ctx.fillText(`H${heads[h]}`, LABEL + h * step + THUMB / 2, LABEL / 2);
  }
  ctx.imageSmoothingEnabled = t < THUMB ? false : true;
  for (let l = 0; l < L; l++) {
    ctx.fillText(`L${layers[l]}`, LABEL / 2, LABEL + l * step + THUMB / 2);
    for (let h = 0; h < H; h++) {
      const [x, yy] = [LABEL + h * step, LABEL + l * step];
      if (sheet) ctx.drawImage(sheet, 0, (l * H + h) * t, t, t, x, yy, THUMB, THUMB);
      const chosen = layers[l] === layer && heads[h] === head;
      const over = cellHover && cellHover.layer === layers[l] && cellHover.head === heads[h];
      ctx.lineWidth = chosen ? 3 : over ? 2 : 0.5;
      ctx.strokeStyle = chosen || over ? ink : "rgba(128, 128, 128, 0.5)";
      ctx.strokeRect(x - (chosen ? 1.5 : 0), yy - (chosen ? 1.5 : 0),
        THUMB + (chosen ? 3 : 0), THUMB + (chosen ? 3 : 0));
    }
  }
  return (px, py) => {
    const h = Math.floor((px - LABEL) / step);
    const l = Math.floor((py - LABEL) / step);
    const inside = (px - LABEL) % step < THUMB && (py - LABEL) % step < THUMB;
    return inside && l >= 0 && l < L && h >= 0 && h < H ? { layer: layers[l], head: heads[h] } : null;
  };
}

const BAR = `<div class="da-bar">
  <span class="da-group" role="group" aria-label="view" data-group="view">
    <button data-mode="head">Head view</button><button data-mode="model">Model view (all heads)</button></span>
  <span class="da-group" role="group" aria-label="weighting" data-group="weighting"
    title="what the maps show: softmax weights, or how far each key moves the output (Kobayashi et al. 2020)">
    <button data-weighting="weights">Attention weights</button><button data-weighting="norms">Norm-weighted</button></span>
  <span class="da-group" role="group" aria-label="drawing" data-group="draw">
    <button data-style="lines">Lines</button><button data-style="heatmap">Heatmap</button></span>
  <label class="da-pick">layer <select data-pick="layer" aria-label="layer"></select></label>
  <label class="da-pick">head <select data-pick="head" aria-label="head"></select></label>
  <span class="da-group" role="group" aria-label="aggregate" data-group="aggregate">${AGGREGATES.map(
    ([v, t]) => `<button data-aggregate="${v}">${t}</button>`).join("")}</span>
  <span class="da-group" role="group" aria-label="combine" data-group="combine"
    title="how the selected tokens' rows or columns are combined">
    <button data-combine="sum">sum</button><button data-combine="mean">mean</button></span>
</div>
<div class="da-heads" role="group" aria-label="heads"></div>
<div class="da-title"></div>
<div class="da-box"><div class="da-sizer"><canvas></canvas></div></div>
<div class="da-legend"></div><div class="da-status">&nbsp;</div>`;

function render({ model, el }) {
  el.classList.add("distil-attention");
  el.innerHTML = BAR;
  const [canvas, box, sizer, status, legend, picker] = ["canvas", ".da-box", ".da-sizer",
    ".da-status", ".da-legend", ".da-heads"].map((q) => el.querySelector(q));
  const get = (name, fallback) => model.get(name) ?? fallback;
  let note = ""; // the status line while the pointer is not over a token
  const say = (text) => (status.textContent = text || note || "\u00a0");
  const send = (changes) => {
    for (const [name, value] of Object.entries(changes)) model.set(name, value);
    model.save_changes();
  };
  let hit = () => null; // pointer position -> what is under it, from the last draw
  let [cellHover, hover, frame, shownState] = [null, null, 0, null];
  const cache = {}; // decoded bytes, keyed by the DataView they came from
  const floats = (name) => {
    const raw = model.get(name);
    if (cache[name]?.raw !== raw) cache[name] = { raw, A: typed(raw, Float32Array) };
    return cache[name].A;
  };

  const visibleHeads = () => {
    const v = get("visible_heads", []);
    return v.length ? v : [get("head", 0)];
  };
  // Every head of `layer` (Float32Array each), or null until Python sends them.
  function layerMaps(layer, n) {
    const raw = model.get("head_maps");
    if (raw === undefined) { // a page without them (the HTML report): the focused head
      const A = floats("head_map");
      return A.length === n * n ? new Map([[get("head", 0), A]]) : null;
    }
    if (get("head_maps_layer", -1) !== layer) return null;
    if (cache.raw !== raw) { // decoded a head at a time, when first drawn
      const heads = get("head_maps_heads", get("heads", []));
      const bytes = typed(raw, Uint8Array);
      const scale = typed(model.get("head_maps_scale"), Float32Array);
      if (bytes.length !== heads.length * n * n) return null;
      const done = new Map();
      cache.maps = {
        has: (h) => heads.includes(h),
        get(h) {
          if (!done.has(h)) {
            const k = heads.indexOf(h), A = new Float32Array(n * n), step = scale[k] / 255;
            for (let i = 0; i < n * n; i++) A[i] = bytes[k * n * n + i] * step;
            done.set(h, A);
          }
          return done.get(h);
        },
      };
      cache.raw = raw;
    }
    return cache.maps;
  }
  const viewKey = (aggregate, layer, visible) => (aggregate === "mean_heads"
    ? `mean_heads:${layer}:${visible.join(",")}` : `mean_layers:${visible.join(",")}`);
  // The maps the head view draws: [{ head, colour, A }], or null while they load.
  function shownMaps(st) {
    if (st.aggregate !== "head") {
      if (get("view_map_of", "") !== viewKey(st.aggregate, st.layer, st.visible)) return null;
      const A = floats("view_map");
      return A.length === st.n * st.n ? [{ head: null, colour: st.ink, A }] : null;
    }
    const maps = layerMaps(st.layer, st.n);
    if (!maps) return null;
    const heads = st.style === "heatmap" ? [st.head] : st.visible;
    const shown = heads.filter((h) => maps.has(h)).map((h) => ({ head: h, colour: headColour(h), A: maps.get(h) }));
    // The focused head on top.
    return shown.sort((a, b) => (a.head === st.head) - (b.head === st.head));
  }
  // Exact float32 weights of the focused head where head_map is current.
  function exact(st) {
    const of = model.get("head_map_of");
    if (st.aggregate !== "head" || (of && (of[0] !== st.layer || of[1] !== st.head))) return null;
    const A = floats("head_map");
    return A.length === st.n * st.n ? A : null;
  }

  function title(st) {
    return titleText(st) + (st.norms ? " \u00b7 norm-weighted \u2016\u03b1f(x)\u2016" : "");
  }
  function titleText(st) {
    const count = `${st.n} tokens`;
    if (st.mode === "model") {
      return `layer ${st.layer}, head ${st.head} \u00b7 ${count} \u00b7 model view: ` +
        `${get("layers", []).length} layers \u00d7 ${get("heads", []).length} heads`;
    }
    const hint = st.style === "lines" && st.n > MANY && !st.pinned
      ? " \u00b7 hover a token to draw its lines" : "";
    const heads = runs(st.visible);
    if (st.aggregate === "mean_heads") return `mean over heads ${heads} of layer ${st.layer} \u00b7 ${count}${hint}`;
    if (st.aggregate === "mean_layers") {
      const layers = get("layers", []);
      return `mean over layers ${runs(layers)} \u00d7 heads ${heads} ` +
        `(${layers.length * st.visible.length} maps) \u00b7 ${count}${hint}`;
    }
    return `layer ${st.layer}, head ${st.head} \u00b7 ${count}${hint}`;
  }

  function legendHtml(st, scale) {
    const ramp = (css, to, what) => `<span class="da-scale">0<span class="da-ramp" ` +
      `style="background:${css}"></span>${to}</span> ${what}`;
    const number = (v) => (v >= 0.01 ? v.toFixed(3) : v.toPrecision(2));
    const line = (...parts) => `<div>${parts.filter(Boolean).join(" \u00b7 ")}</div>`;
    if (st.mode === "model") {
      const p = get("thumbnail_percentile", 100);
      const how = p >= 100 ? "its own maximum" : `its own ${p}th percentile (its top ${+(100 - p).toFixed(1)}% saturate)`;
      return line(ramp(SCALE, p >= 100 ? "max" : `p${p}`, `each map scaled to ${how}`),
        "click a map to open its layer");
    }
    const many = st.picked.length > 1;
    const group = many ? `${st.mean ? "mean" : "sum"} of ${st.picked.length} tokens' ` +
      `${st.side === "query" ? "rows" : "columns"}` : "";
    const how = "click a token: pin it (again: unpin)";
    const weight = st.norms ? "\u2016\u03b1f(x)\u2016" : "weight";
    if (st.style === "heatmap") {
      return line(ramp(SCALE, number(scale.top), `${weight}, colour scaled to this map's largest`),
        "rows: query (attends from)", "columns: key (attends to)", st.virtual && "scroll the box for the rest") +
        line(`${how}; a label pins its row or column`, "shift-click: select several", group);
    }
    const beside = st.picked.length && scale.most > 0 &&
      `${st.shown > 1 ? "cells" : "bars"} by the ${st.side === "query" ? "right" : "left"} column: ` +
      `${st.shown > 1 ? "each head's " : ""}${group || weight} \u00f7 ${number(scale.most)}`;
    return line(ramp(`linear-gradient(to right, transparent, ${st.ink})`, number(scale.top),
      `line opacity and width \u221d ${weight} \u00f7 the largest drawn`), beside) +
      line("left column: where a token looks (its row)", "right column: who looks at it (its column)",
        how, "shift-click: select several", group);
  }

  function bar(st) {
    for (const b of el.querySelectorAll(".da-bar button")) {
      const { mode, style, aggregate, combine, weighting } = b.dataset;
      b.classList.toggle("da-on", mode ? st.mode === mode : style ? st.style === style
        : aggregate ? st.aggregate === aggregate : weighting ? st.weighting === weighting
        : st.mean === (combine === "mean"));
    }
    const norms = el.querySelector("[data-weighting=norms]");
    norms.disabled = !get("has_norms", false);
    norms.title = norms.disabled ? "this Trace has no norms: capture(..., norms=True)"
      : "\u2016\u03b1 f(x)\u2016 per key, each map scaled to its own maximum";
    const inHead = st.mode === "head";
    for (const g of ["draw", "aggregate", "combine"]) el.querySelector(`[data-group=${g}]`).hidden = !inHead;
    picker.hidden = !inHead;
    for (const b of el.querySelectorAll("[data-combine]")) b.disabled = st.picked.length < 2;
    for (const [name, values, value] of [["layer", get("layers", []), st.layer], ["head", get("heads", []), st.head]]) {
      const select = el.querySelector(`[data-pick=${name}]`);
      if (select.dataset.options !== values.join()) {
        select.innerHTML = values.map((v) => `<option value="${v}">${v}</option>`).join("");
        select.dataset.options = values.join();
      }
      select.value = `${value}`;
      select.disabled = name === "layer" && inHead && st.aggregate === "mean_layers";
    }
    const heads = get("heads", []);
    if (picker.dataset.heads !== heads.join()) {
      picker.innerHTML = `<span class="da-label">heads</span>${heads.map((h) =>
        `<button class="da-swatch" data-head="${h}" style="--c:${headColour(h)}" ` +
        `title="head ${h}: click to show or hide, double-click for only this head">${h}</button>`).join("")}` +
        `<button data-heads="all" title="show every head">all</button>`;
      picker.dataset.heads = heads.join();
    }
    for (const b of picker.querySelectorAll(".da-swatch")) {
      const h = Number(b.dataset.head);
      b.classList.toggle("da-on", st.visible.includes(h));
      b.classList.toggle("da-focus", h === st.head);
      b.setAttribute("aria-pressed", `${st.visible.includes(h)}`);
    }
  }

  // The heatmap's scroll box: the canvas covers what is visible of the grid.
  function heatView(n, w) {
    const cell = Math.max(CELL_MIN, Math.min(CELL_MAX, Math.floor(SPAN / Math.max(n, 1))));
    const full = Math.ceil(w + n * cell + 2);
    sizer.style.width = sizer.style.height = `${full}px`;
    const width = Math.min(full, box.clientWidth || BOX_W);
    const height = Math.min(full, box.clientHeight || BOX_H);
    const sx = Math.min(box.scrollLeft, full - width), sy = Math.min(box.scrollTop, full - height);
    return { w, cell, sx, sy, width, height, virtual: width < full || height < full };
  }

  function draw() {
    frame = 0;
    const start = performance.now();
    const tokens = get("tokens", []);
    const pins = get("selected_tokens", []);
    const one = get("selected_token", -1);
    const st = {
      tokens, n: tokens.length, mode: get("mode", "head"), style: get("draw_style", "lines"),
      layer: get("layer", 0), head: get("head", 0), visible: visibleHeads(), aggregate: get("aggregate", "head"),
      weighting: get("weighting", "weights"), norms: get("weighting", "weights") === "norms",
      mean: get("combine", "sum") === "mean", ink: textColor(el),
      pinned: pins.length > 0 || one >= 0,
    };
    st.picked = st.pinned ? (pins.length ? pins : [one]) : hover ? [hover.token] : [];
    st.side = st.pinned ? get("selected_side", "query") : hover ? hover.side : "query";
    st.hover = hover;
    el.querySelector(".da-title").textContent = title(st);
    bar(st);
    let scale = { top: 0, most: 0 };
    canvas.dataset.grid = "";
    if (st.mode === "model") {
      sizer.style.width = sizer.style.height = "";
      const [maps, shape] = [model.get("maps"), get("maps_shape", [0, 0, 0, 0])];
      if (maps !== cache.sheetFor) cache.sheet = lutImage(typed(maps, Uint8Array), shape[2]);
      cache.sheetFor = maps;
      const [layers, heads] = [get("layers", []), get("heads", [])];
      hit = drawModel(canvas, { sheet: cache.sheet, shape, layers, heads, layer: st.layer, head: st.head, cellHover, ink: st.ink });
      cache.kind = "model";
    } else {
      const shown = shownMaps(st) ?? [];
      st.loading = shown.length === 0 && st.n > 0;
      // While a layer's maps are on their way: the canvas stays as it is when it
      // shows these tokens the same way, else it is emptied (no megapixel labels
      // drawn at T=512 for a frame that is replaced ~50 ms later).
      const kind = `${st.style}:${st.n}`;
      const keep = st.loading && cache.kind === kind;
      const ds = st.loading ? { ...st, tokens: [], n: 0, picked: [] } : st;
      if (keep) scale = cache.scale;
      else if (st.style === "heatmap") {
        const A = shown[0]?.A ?? new Float32Array(0); // the focused head or the mean
        if (A !== cache.heatFor) {
          const top = A.reduce((m, v) => Math.max(m, v), 0);
          cache.heat = A.length ? lutImage(Uint8Array.from(A, (v) => Math.round((255 * v) / (top || 1))), st.n) : null;
          [cache.heatFor, cache.heatTop] = [A, top];
        }
        scale.top = cache.heatTop;
        const view = heatView(ds.n, labelWidth(canvas.getContext("2d"), ds.tokens));
        st.virtual = view.virtual;
        hit = drawHeatmap(canvas, { ...ds, A, heat: A.length ? cache.heat : null }, view);
      } else {
        sizer.style.width = sizer.style.height = "";
        const s = { ...ds, shown, gutter: Math.max(30, Math.min(50, 4 * get("heads", []).length + 2)) };
        hit = drawLines(canvas, s);
        [scale, st.shown] = [s.scale, shown.length];
      }
      if (!keep) [cache.kind, cache.scale] = [st.loading ? "empty" : kind, scale];
    }
    const html = legendHtml(st, scale);
    if (cache.legend !== html) legend.innerHTML = cache.legend = html;
    shownState = st;
    note = get("notice", "") || (st.loading ? "loading this layer's maps\u2026" : pinNote(st));
    if (!hover && !cellHover) say("");
    send({ render_ms: performance.now() - start });
  }
  const schedule = () => (frame = frame || requestAnimationFrame(draw));

  // The pins, and the strongest weights of their (summed or mean) rows or columns.
  function pinNote(st) {
    if (!st.pinned) return "";
    const words = st.picked.map((p) => st.tokens[p]).join(", ");
    const what = st.side === "query" ? "where it looks" : "who looks at it";
    let top = "";
    const A = exact(st) ?? (shownMaps(st) ?? []).find((m) => m.head === st.head || m.head === null)?.A;
    if (A && A.length === st.n * st.n) {
      const c = combined(A, st.n, st.picked, st.side, st.mean);
      const best = [...c.keys()].sort((a, b) => c[b] - c[a]).slice(0, 3);
      const how = st.picked.length > 1 ? `${st.mean ? "mean" : "sum"}, ` : "";
      const of = st.aggregate === "head" ? `head ${st.head}` : "mean map";
      top = ` \u00b7 ${how}${of}: ${best.map((t) => `${st.tokens[t]} ${c[t].toFixed(3)}`).join(", ")}`;
    }
    return `pinned ${words} (${st.side}: ${what})${top} \u00b7 click it again to unpin \u00b7 shift-click to add or remove tokens`;
  }

  // A readout of the token under the pointer, from the focused head (or the mean).
  function readout(at) {
    const st = shownState;
    if (!st || !at) return "";
    const tokens = st.tokens;
    const source = exact(st) ?? (shownMaps(st) ?? []).find((m) => m.head === st.head || m.head === null)?.A;
    if (at.key !== undefined) { // a heatmap cell: exact where head_map is current
      const weight = exact(st)?.[at.token * st.n + at.key] ?? at.weight;
      return `${tokens[at.token]} \u2192 ${tokens[at.key]}: ${weight.toFixed(4)}`;
    }
    if (!source) return `${at.token}: ${tokens[at.token]}`;
    const c = combined(source, st.n, [at.token], at.side, false);
    const best = [...c.keys()].sort((a, b) => c[b] - c[a]).slice(0, 3);
    const what = st.aggregate === "head" ? `head ${st.head}` : "mean";
    const list = best.map((t) => `${tokens[t]} ${c[t].toFixed(3)}`).join(" \u00b7 ");
    return at.side === "query"
      ? `${tokens[at.token]} (query ${at.token}) looks at, ${what}: ${list}`
      : `who looks at ${tokens[at.token]} (key ${at.token}), ${what}: ${list}`;
  }

  function point(event) {
    const rect = canvas.getBoundingClientRect();
    return hit(event.clientX - rect.left, event.clientY - rect.top);
  }
  function onMove(event) {
    const at = point(event);
    if (get("mode", "head") === "model") {
      if (at?.layer !== cellHover?.layer || at?.head !== cellHover?.head) schedule();
      cellHover = at;
      return say(at && `layer ${at.layer}, head ${at.head}: click to open`);
    }
    const next = at ? { token: at.token, side: at.side } : null;
    if (next?.token !== hover?.token || next?.side !== hover?.side) schedule();
    hover = next;
    say(readout(at));
    const token = at ? at.token : -1;
    if (token !== get("hovered", -1)) send({ hovered: token });
  }
  function onLeave() {
    [cellHover, hover] = [null, null];
    say("");
    if (get("hovered", -1) !== -1) send({ hovered: -1 });
    schedule();
  }
  function onClick(event) {
    const at = point(event);
    if (!at) return;
    if (get("mode", "head") === "model") {
      cellHover = null;
      return send({ layer: at.layer, head: at.head, mode: "head", visible_heads: [at.head], aggregate: "head" });
    }
    const pins = get("selected_tokens", []);
    const chosen = pins.length ? pins : get("selected_token", -1) >= 0 ? [get("selected_token", -1)] : [];
    const many = event.shiftKey || event.ctrlKey || event.metaKey;
    let next;
    if (many) next = chosen.includes(at.token) ? chosen.filter((t) => t !== at.token) : [...chosen, at.token];
    else next = chosen.length === 1 && chosen[0] === at.token && get("selected_side", "query") === at.side ? [] : [at.token];
    next.sort((a, b) => a - b);
    const last = next.includes(at.token) ? at.token : next.length ? next[next.length - 1] : -1;
    send({ selected_tokens: next, selected_token: last, selected_side: at.side });
  }
  function onBar(event) {
    const b = event.target.closest("button");
    if (!b || b.disabled) return;
    const { mode, style, aggregate, combine, head, heads, weighting } = b.dataset;
    if (mode) send({ mode });
    else if (weighting) send({ weighting });
    else if (style) send({ mode: "head", draw_style: style }); // shown in the head view only
    else if (aggregate) send({ mode: "head", aggregate });
    else if (combine) send({ combine });
    else if (heads === "all") send({ visible_heads: [...get("heads", [])] });
    else if (head !== undefined) toggleHead(Number(head));
  }
  function toggleHead(h) {
    const visible = visibleHeads();
    if (!visible.includes(h)) return send({ visible_heads: [...visible, h].sort((a, b) => a - b) });
    if (visible.length === 1) return say(`head ${h} is the only one shown: double-click another head for only that one`);
    const next = visible.filter((v) => v !== h);
    const focus = get("head", 0);
    const nearest = next.reduce((a, v) => (Math.abs(v - focus) < Math.abs(a - focus) ? v : a), next[0]);
    send(focus === h ? { visible_heads: next, head: nearest } : { visible_heads: next });
  }
  function onDouble(event) {
    const b = event.target.closest(".da-swatch");
    if (b) send({ visible_heads: [Number(b.dataset.head)], head: Number(b.dataset.head) });
  }
  function onPick(event) {
    const value = Number(event.target.value);
    if (event.target.dataset.pick === "layer") return send({ layer: value });
    const visible = visibleHeads();
    send({ head: value, visible_heads: visible.includes(value) ? visible : [...visible, value].sort((a, b) => a - b) });
  }

  const names = ["tokens", "maps", "maps_shape", "head_map", "head_map_of", "head_maps", "head_maps_layer", "head_maps_heads",
    "view_map", "view_map_of", "layers", "heads", "layer", "head", "mode", "draw_style", "visible_heads",
    "aggregate", "selected_token", "selected_tokens", "selected_side", "combine", "notice", "weighting", "has_norms"];
  for (const name of names) model.on(`change:${name}`, schedule);
  const controller = new AbortController();
  const signal = controller.signal;
  canvas.addEventListener("mousemove", onMove, { signal });
  canvas.addEventListener("mouseleave", onLeave, { signal });
  canvas.addEventListener("click", onClick, { signal });
  box.addEventListener("scroll", () => get("draw_style") === "heatmap" && schedule(), { signal, passive: true });
  el.querySelector(".da-bar").addEventListener("click", onBar, { signal });
  el.querySelector(".da-bar").addEventListener("change", onPick, { signal });
  picker.addEventListener("click", onBar, { signal });
  picker.addEventListener("dblclick", onDouble, { signal });
  // Laid out late (a hidden tab) or resized: the heatmap's visible part changes.
  const resize = typeof ResizeObserver === "undefined" ? null
    : new ResizeObserver(() => get("mode") === "head" && get("draw_style") === "heatmap" && schedule());
  resize?.observe(box);
  draw();
  return () => {
    for (const name of names) model.off(`change:${name}`, schedule);
    resize?.disconnect();
    controller.abort();
    cancelAnimationFrame(frame);
  };
}

export default { render };
