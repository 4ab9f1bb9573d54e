// The attention canvas: draws the scenes of scene.js on a <canvas> inside `el`, for
// the notebook widget and the HTML report alike. The Trace's data comes once (the
// payload traits); every view a click asks for is derived here, and the traits a
// person changes (view, layer, heads, pins, ...) are set on the model.

const [FONT_PX, SMALL_PX] = [LAYOUT.font_px, LAYOUT.small_font_px];
const FONT = `${FONT_PX}px sans-serif`;
const SMALL = `${SMALL_PX}px sans-serif`;
const { row: ROW, thumb: THUMB, gap: GAP, label: LABEL, levels: LEVELS } = LAYOUT;
// viridis at 0, 1/8, ..., 1: the heatmap, the thumbnails and their colour scales.
const VIRIDIS = LAYOUT.viridis;
const LUT = new Uint8Array(256 * 3);
for (let v = 0; v < 256; v++) {
  const t = (v / 255) * 8, k = Math.min(7, Math.floor(t)), f = t - k;
  for (let c = 0; c < 3; c++) LUT[3 * v + c] = Math.round(VIRIDIS[k][c] * (1 - f) + VIRIDIS[k + 1][c] * f);
}
const SCALE = `linear-gradient(to right, ${VIRIDIS.map((c) => `rgb(${c})`).join(", ")})`;
const AGGREGATES = [["head", "each head"], ["mean_heads", "mean over heads"], ["mean_layers", "mean over layers"],
  ["rollout", "rollout"]];
const PAYLOAD = ["tokens", "layers", "heads", "payload_info", ...Object.keys(CONTRACT.payload.bytes)];
const DEFAULTS = { mode: "head", draw_style: "lines", layer: 0, head: 0, visible_heads: [], aggregate: "head",
  selected_token: -1, selected_tokens: [], selected_side: "query", combine: "sum", weighting: "weights",
  thumbnail_percentile: 95, index: 0 };

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

// The lines view: queries left, keys right, as wide as the box allows.
function drawLines(canvas, s, room0) {
  const { tokens, n, lines, maps, picked, side, ink, gutter: G } = s;
  const w = labelWidth(canvas.getContext("2d"), tokens);
  const room = room0 - 2 * (G + w) - 24;
  // Long inputs: narrower, as every px of line costs raster time without a GPU.
  const widest = n > LAYOUT.many ? LAYOUT.link_max_long : LAYOUT.link_max;
  const link = Math.max(LAYOUT.link_min, Math.min(widest, room));
  const ctx = sized(canvas, 2 * (G + w) + link, n * ROW + 4);
  const y = (i) => 2 + i * ROW + ROW / 2;
  const [left, right] = [G + w, G + w + link]; // where the lines start and end
  // One path per head and level: a few strokes, not n * n.
  const paths = maps.map(() => []);
  for (let q = 0; q < lines.length; q += 4) {
    const [k, i, j, level] = [lines[q], lines[q + 1], lines[q + 2], lines[q + 3]];
    const path = (paths[k][level] ??= new Path2D());
    path.moveTo(left + 2, y(i));
    path.lineTo(right - 2, y(j));
  }
  maps.forEach((m, k) => {
    ctx.strokeStyle = m.colour ?? ink;
    paths[k].forEach((path, level) => {
      ctx.globalAlpha = level / LEVELS;
      ctx.lineWidth = 0.5 + (2.5 * level) / LEVELS;
      ctx.stroke(path);
    });
  });
  // Beside the other column: each map's (summed or mean) weight of the picked
  // tokens, one cell per head as opaque as the weight, or for one map a bar.
  if (picked.length && s.most > 0) {
    const x = side === "query" ? right + w + 2 : 0;
    const cell = (G - 2) / maps.length;
    s.sums.forEach((c, k) => {
      ctx.fillStyle = maps[k].colour ?? ink;
      for (let t = 0; t < n; t++) {
        const v = c[t] / s.most;
        ctx.globalAlpha = maps.length === 1 ? 0.85 : v;
        const length = maps.length === 1 ? v * (G - 2) : cell - 1;
        const from = maps.length === 1 && side === "key" ? x + G - 2 - length : x + k * cell;
        ctx.fillRect(from, y(t) - ROW / 2 + 2, length, ROW - 4);
      }
    });
  }
  ctx.globalAlpha = 1;
  ctx.fillStyle = ctx.strokeStyle = ink;
  ctx.lineWidth = s.pinned ? 2 : 1;
  const own = side === "query" ? G : right;
  for (const p of picked) ctx.strokeRect(own + 1, y(p) - ROW / 2 + 1, w - 2, ROW - 2);
  for (let i = 0; i < n; i++) {
    ctx.font = picked.includes(i) ? `bold ${FONT}` : FONT;
    ctx.textAlign = "right";
    ctx.fillText(tokens[i], left - 4, y(i));
    ctx.textAlign = "left";
    ctx.fillText(tokens[i], right + 4, y(i));
  }
  // Pointer x/y -> token and column: left, where it looks; right, who looks at it.
  return (px, py) => {
    const i = Math.floor((py - 2) / ROW);
    if (i < 0 || i >= n || (px >= left && px <= right)) return null;
    return { token: i, side: px < left ? "query" : "key" };
  };
}

function drawHeatmap(canvas, s, view) {
  const { tokens, n, picked, side, hover, ink } = s;
  const { w, cell, sx, sy, width, height } = view;
  const ctx = sized(canvas, width, height);
  canvas.dataset.grid = JSON.stringify({ x: w, y: w, cell, sx, sy, n });
  const clip = (x, yy, cw, ch) => { ctx.save(); ctx.beginPath(); ctx.rect(x, yy, cw, ch); ctx.clip(); };
  const at = (i) => w + i * cell; // grid px of row or column i, unscrolled
  clip(w, w, width - w, height - w);
  ctx.imageSmoothingEnabled = false;
  if (n > 0 && s.heat) ctx.drawImage(s.heat, 0, 0, n, n, w - sx, w - sy, n * cell, n * cell);
  const outline = (token, which, lineWidth) => {
    ctx.strokeStyle = ink;
    ctx.lineWidth = lineWidth;
    if (which === "query") ctx.strokeRect(w - sx, at(token) - sy, n * cell, cell);
    else ctx.strokeRect(at(token) - sx, w - sy, cell, n * cell);
  };
  for (const p of s.pins) outline(p, side, 2);
  if (hover) outline(hover.token, hover.side, 1);
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
  ctx.font = SMALL;
  ctx.textAlign = "right";
  ctx.fillText(s.mixing ? "source \u2192" : "key \u2192", w - 3, Math.max(8, w - 24));
  ctx.fillText(s.mixing ? "output \u2193" : "query \u2193", w - 3, Math.max(22, w - 9));
  return (px, py) => {
    const i = Math.floor((py - w + sy) / cell);
    const j = Math.floor((px - w + sx) / cell);
    const inRow = py >= w && i >= 0 && i < n;
    const inCol = px >= w && j >= 0 && j < n;
    if (inRow && inCol) return { token: i, side: "query", key: j };
    if (inRow && px < w) return { token: i, side: "query" };
    if (inCol && py < w) return { token: j, side: "key" };
    return null;
  };
}

// A head switched off (capture(..., ablate=...)): its thumbnail dimmed and crossed.
function crossOut(ctx, x, y, size, ink) {
  ctx.fillStyle = "rgba(255, 255, 255, 0.6)";
  ctx.fillRect(x, y, size, size);
  ctx.strokeStyle = ink;
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(x + 3, y + 3);
  ctx.lineTo(x + size - 3, y + size - 3);
  ctx.moveTo(x + size - 3, y + 3);
  ctx.lineTo(x + 3, y + size - 3);
  ctx.stroke();
  ctx.fillStyle = ink;
}

function drawModel(canvas, s, sheet, cellHover, ink) {
  // Row l, column h: model layer layers[l], head heads[h] (a capture may keep some).
  // A mixing map has no heads: one row of larger maps, a column per layer.
  const { layers, t, chosen, mixing } = s;
  const heads = mixing ? [null] : s.heads;
  const off = new Set((s.ablated ?? []).map(([l, h]) => `${l}.${h}`));
  const [L, H] = [layers.length, heads.length];
  const size = mixing ? 2 * THUMB : THUMB, step = size + GAP;
  const [rows, cols] = mixing ? [1, L] : [L, H];
  const place = (l, h) => (mixing ? [LABEL + l * step, LABEL] : [LABEL + h * step, LABEL + l * step]);
  const ctx = sized(canvas, LABEL + cols * step, LABEL + rows * step);
  ctx.textAlign = "center";
  ctx.fillStyle = ink;
  ctx.font = SMALL;
  for (let h = 0; h < H && !mixing; h++) ctx.fillText(`H${heads[h]}`, LABEL + h * step + size / 2, LABEL / 2);
  ctx.imageSmoothingEnabled = t >= size;
  for (let l = 0; l < L; l++) {
    if (mixing) ctx.fillText(`L${layers[l]}`, LABEL + l * step + size / 2, LABEL / 2);
    else ctx.fillText(`L${layers[l]}`, LABEL / 2, LABEL + l * step + size / 2);
    for (let h = 0; h < H; h++) {
      const [x, yy] = place(l, h);
      if (sheet && t) ctx.drawImage(sheet, 0, (l * H + h) * t, t, t, x, yy, size, size);
      if (off.has(`${layers[l]}.${heads[h]}`)) crossOut(ctx, x, yy, size, ink);
      const on = layers[l] === chosen[0] && (mixing || heads[h] === chosen[1]);
      const over = cellHover && cellHover.layer === layers[l] && (mixing || cellHover.head === heads[h]);
      ctx.lineWidth = on ? 3 : over ? 2 : 0.5;
      ctx.strokeStyle = on || over ? ink : "rgba(128, 128, 128, 0.5)";
      const pad = on ? 1.5 : 0;
      ctx.strokeRect(x - pad, yy - pad, size + 2 * pad, size + 2 * pad);
    }
  }
  return (px, py) => {
    const [c, r] = [Math.floor((px - LABEL) / step), Math.floor((py - LABEL) / step)];
    const inside = (px - LABEL) % step < size && (py - LABEL) % step < size;
    const [l, h] = mixing ? [c, r] : [r, c];
    return inside && l >= 0 && l < L && h >= 0 && h < H ? { layer: layers[l], head: heads[h] } : null;
  };
}

const BAR = `<div class="da-bar">
  <span class="da-group" role="group" aria-label="view" data-group="view">
    <button data-mode="head">Head view</button><button data-mode="model">Model view (all heads)</button></span>
  <span class="da-group" role="group" aria-label="weighting" data-group="weighting"
    title="what the maps show: softmax weights, how far each key moves the output (Kobayashi et al. 2020), or how much each token shapes each token's output, one map per layer (value zeroing: Mohebbi et al. 2023; ALTI: Ferrando et al. 2022)">
    <button data-weighting="weights">Attention weights</button><button data-weighting="norms">Norm-weighted</button><button data-weighting="value_zeroing">Value zeroing</button><button data-weighting="alti">ALTI</button></span>
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

function legendHtml(state, scene, ink, scrolls) {
  const ramp = (css, to, what) => `<span class="da-scale">0<span class="da-ramp" ` +
    `style="background:${css}"></span>${to}</span> ${what}`;
  const number = (v) => (v >= 0.01 ? v.toFixed(3) : v > 0 ? v.toPrecision(2) : "0");
  const line = (...parts) => `<div>${parts.filter(Boolean).join(" \u00b7 ")}</div>`;
  if (scene.kind === "model") {
    const p = state.thumbnail_percentile;
    const how = p >= 100 ? "its own maximum" : `its own ${p}th percentile (its top ${+(100 - p).toFixed(1)}% saturate)`;
    return line(ramp(SCALE, p >= 100 ? "max" : `p${p}`, `each map scaled to ${how}`),
      scene.mixing ? "row: a token's output, column: the tokens that shape it" : "",
      scene.mixing ? "click a map to open that layer" : "click a map to open that head alone",
      scene.ablated?.length && "\u2715 crossed out: a head switched off in this run (the Causal tab)");
  }
  if (scene.kind !== "lines" && scene.kind !== "heatmap") return "";
  const many = scene.picked.length > 1;
  const group = many ? `${state.combine} of ${scene.picked.length} tokens' ` +
    `${scene.side === "query" ? "rows" : "columns"}` : "";
  const how = "click a token: pin it (again: unpin)";
  const weight = scene.mixing ? "share" : state.weighting === "norms" ? "\u2016\u03b1f(x)\u2016" : "weight";
  const [rows, cols] = scene.mixing ? ["rows: a token's output", "columns: the tokens that shape it"]
    : ["rows: query (attends from)", "columns: key (attends to)"];
  if (scene.kind === "heatmap") {
    return line(ramp(SCALE, number(scene.top), `${weight}, colour scaled to this map's largest`),
      rows, cols, scrolls && "scroll the box for the rest") +
      line(`${how}; a label pins its row or column`, "shift-click: select several", group);
  }
  const beside = scene.picked.length && scene.most > 0 &&
    `${scene.maps.length > 1 ? "cells" : "bars"} by the ${scene.side === "query" ? "right" : "left"} column: ` +
    `${scene.maps.length > 1 ? "each head's " : ""}${group || weight} \u00f7 ${number(scene.most)}`;
  return line(ramp(`linear-gradient(to right, transparent, ${ink})`, number(scene.top),
    `line opacity and width \u221d ${weight} \u00f7 the largest drawn`), beside,
    scene.mixing && "a horizontal line: what a token keeps of itself (the residual stream)") +
    line(scene.mixing ? "left column: a token's output (its row)" : "left column: where a token looks (its row)",
      scene.mixing ? "right column: the tokens that shape it (its column)" : "right column: who looks at it (its column)",
      how, "shift-click: select several", group);
}

// The bar's buttons and pickers show the state.
function showBar(el, picker, state, data, pinned) {
  for (const b of el.querySelectorAll(".da-bar button")) {
    const { mode, style, aggregate, combine, weighting } = b.dataset;
    b.classList.toggle("da-on", mode ? state.mode === mode : style ? state.draw_style === style
      : aggregate ? state.aggregate === aggregate : weighting ? state.weighting === weighting
      : state.combine === combine);
  }
  const norms = el.querySelector("[data-weighting=norms]");
  norms.disabled = !state.has_norms;
  norms.title = norms.disabled ? "this Trace has no norms: capture(..., norms=True)"
    : "\u2016\u03b1 f(x)\u2016 per key, each map scaled to its own maximum";
  for (const [method, what] of Object.entries(CONTRACT.mixing)) {
    const b = el.querySelector(`[data-weighting=${method}]`);
    b.disabled = !(state.mixing_methods ?? []).includes(method);
    b.title = b.disabled ? `off: ${state.mixing_note}` : `${CONTRACT.weightings[method]}: ${what}; one map per layer, no heads`;
  }
  const inHead = state.mode === "head", mixing = isMixing(state);
  for (const g of ["draw", "aggregate", "combine"]) el.querySelector(`[data-group=${g}]`).hidden = !inHead;
  picker.hidden = !inHead || mixing;
  el.querySelector("[data-pick=head]").parentElement.hidden = mixing;
  el.querySelector("[data-aggregate=mean_heads]").hidden = mixing;
  el.querySelector("[data-aggregate=rollout]").hidden = !mixing;
  el.querySelector("[data-aggregate=head]").textContent = mixing ? "the layer's map" : "each head";
  el.querySelector("[data-mode=model]").textContent = mixing ? "Model view (all layers)" : "Model view (all heads)";
  for (const b of el.querySelectorAll("[data-combine]")) b.disabled = pinned < 2;
  for (const [name, values, value] of [["layer", data.layers, state.layer], ["head", data.heads, state.head]]) {
    const select = el.querySelector(`[data-pick=${name}]`);
    if (select.dataset.options !== values.join()) {
      select.innerHTML = values.map((v) => `<option value="${v}">${v}</option>`).join("");
      select.dataset.options = values.join();
    }
    select.value = `${value}`;
    select.disabled = name === "layer" && inHead && state.aggregate === "mean_layers";
  }
  if (picker.dataset.heads !== data.heads.join()) {
    picker.innerHTML = `<span class="da-label">heads</span>${data.heads.map((h) =>
      `<button class="da-swatch" data-head="${h}" style="--c:${headColour(h)}" ` +
      `title="head ${h}: click to show or hide, double-click for only this head">${h}</button>`).join("")}` +
      `<button data-heads="all" title="show every head">all</button>`;
    picker.dataset.heads = data.heads.join();
  }
  const visible = visibleOf(state, data);
  for (const b of picker.querySelectorAll(".da-swatch")) {
    const h = Number(b.dataset.head);
    b.classList.toggle("da-on", visible.includes(h));
    b.classList.toggle("da-focus", h === state.head);
    b.setAttribute("aria-pressed", `${visible.includes(h)}`);
  }
}

// The heatmap's scroll box: the canvas covers what is visible of the grid.
function heatView(box, sizer, n, w, room0) {
  const room = room0 - w - 24;
  const cell = Math.max(LAYOUT.cell_min, Math.min(LAYOUT.cell_max, Math.floor(Math.max(room, LAYOUT.span) / Math.max(n, 1))));
  const full = Math.ceil(w + n * cell + 2);
  sizer.style.width = sizer.style.height = `${full}px`;
  const width = Math.min(full, box.clientWidth || LAYOUT.box_w);
  const height = Math.min(full, box.clientHeight || LAYOUT.box_h);
  const sx = Math.min(box.scrollLeft, full - width), sy = Math.min(box.scrollTop, full - height);
  return { w, cell, sx, sy, width, height };
}

// A readout of the token under the pointer, from the map on top.
function readout(state, data, at) {
  if (!at) return "";
  const tokens = data.tokens;
  const maps = drawnMaps(state, data);
  const A = maps?.[maps.length - 1]?.A;
  if (!A) return `${at.token}: ${tokens[at.token]}`;
  if (at.key !== undefined) return `${tokens[at.token]} \u2192 ${tokens[at.key]}: ${A[at.token * data.n + at.key].toFixed(4)}`;
  const c = combined(A, data.n, [at.token], at.side, false);
  const best = [...c.keys()].sort((a, b) => c[b] - c[a]).slice(0, 3);
  const list = best.map((t) => `${tokens[t]} ${c[t].toFixed(3)}`).join(" \u00b7 ");
  if (isMixing(state)) {
    return at.side === "query" ? `what shapes ${tokens[at.token]} (token ${at.token}): ${list}`
      : `what ${tokens[at.token]} (token ${at.token}) shapes: ${list}`;
  }
  const what = state.aggregate === "head" ? `head ${state.head}` : "mean";
  return at.side === "query" ? `${tokens[at.token]} (query ${at.token}) looks at, ${what}: ${list}`
    : `who looks at ${tokens[at.token]} (key ${at.token}), ${what}: ${list}`;
}

function pinNote(state, data) {
  const pins = pinsOf(state);
  if (!pins.length) return "";
  const words = pins.map((p) => data.tokens[p]).join(", ");
  const what = isMixing(state) ? (state.selected_side === "query" ? "what shapes it" : "what it shapes")
    : state.selected_side === "query" ? "where it looks" : "who looks at it";
  const maps = drawnMaps(state, data);
  const A = maps?.[maps.length - 1]?.A;
  let top = "";
  if (A) {
    const c = combined(A, data.n, pins, state.selected_side, state.combine === "mean");
    const best = [...c.keys()].sort((a, b) => c[b] - c[a]).slice(0, 3);
    const how = pins.length > 1 ? `${state.combine}, ` : "";
    const of = isMixing(state) ? CONTRACT.weightings[state.weighting]
      : state.aggregate === "head" ? `head ${state.head}` : "mean map";
    top = ` \u00b7 ${how}${of}: ${best.map((t) => `${data.tokens[t]} ${c[t].toFixed(3)}`).join(", ")}`;
  }
  return `pinned ${words} (${state.selected_side}: ${what})${top} \u00b7 click it again to unpin \u00b7 shift-click to add or remove tokens`;
}

// What a click asks for: the traits to set, or a sentence to show.
function clickChanges(state, data, at, event) {
  if (state.mode === "model" && isMixing(state)) return { layer: at.layer, mode: "head", aggregate: "head" };
  if (state.mode === "model") {
    return { layer: at.layer, head: at.head, mode: "head", visible_heads: [at.head], aggregate: "head" };
  }
  const chosen = pinsOf(state);
  const many = event.shiftKey || event.ctrlKey || event.metaKey;
  let next;
  if (many) next = chosen.includes(at.token) ? chosen.filter((t) => t !== at.token) : [...chosen, at.token];
  else next = chosen.length === 1 && chosen[0] === at.token && state.selected_side === at.side ? [] : [at.token];
  next.sort((a, b) => a - b);
  const last = next.includes(at.token) ? at.token : next.length ? next[next.length - 1] : -1;
  return { selected_tokens: next, selected_token: last, selected_side: at.side };
}

function barChanges(state, data, b) {
  const { mode, style, aggregate, combine, head, heads, weighting } = b.dataset;
  if (mode) return { mode };
  if (weighting) return { weighting };
  if (style) return { mode: "head", draw_style: style };
  if (aggregate) return { mode: "head", aggregate };
  if (combine) return { combine };
  if (heads === "all") return { visible_heads: [...data.heads] };
  if (head === undefined) return null;
  const h = Number(head), visible = visibleOf(state, data);
  if (!visible.includes(h)) return { visible_heads: [...visible, h].sort((a, c) => a - c) };
  if (visible.length === 1) return `head ${h} is the only one shown: double-click another head for only that one`;
  const next = visible.filter((v) => v !== h);
  const nearest = next.reduce((a, v) => (Math.abs(v - state.head) < Math.abs(a - state.head) ? v : a), next[0]);
  return state.head === h ? { visible_heads: next, head: nearest } : { visible_heads: next };
}

// Draws `scene` on the canvas; returns pointer x/y -> what is under it.
function paint({ el, canvas, box, sizer }, state, d, scene, { hover, cellHover, ink }) {
  canvas.dataset.grid = "";
  canvas.dataset.kind = scene.kind;
  const width = el.clientWidth || LAYOUT.box_w;
  if (scene.kind === "model") {
    sizer.style.width = sizer.style.height = "";
    const sheet = d.cached(`sheet:${state.thumbnail_percentile}`, () => lutImage(scene.thumbs, scene.t));
    return drawModel(canvas, scene, sheet, cellHover, ink);
  }
  if (scene.kind === "heatmap") {
    const heat = d.cached(`heat:${state.aggregate}:${state.layer}:${state.head}:${visibleOf(state, d)}`,
      () => lutImage(scene.cells, scene.n));
    const view = heatView(box, sizer, scene.n, labelWidth(canvas.getContext("2d"), scene.tokens), width);
    return drawHeatmap(canvas, { ...scene, heat, hover, ink, pins: pinsOf(state) }, view);
  }
  sizer.style.width = sizer.style.height = "";
  const gutter = Math.max(LAYOUT.gutter_min, Math.min(LAYOUT.gutter_max, 4 * d.heads.length + 2));
  const s = scene.kind === "lines" ? scene : { ...scene, n: 0, tokens: [], lines: [], maps: [], picked: [] };
  return drawLines(canvas, { ...s, ink, gutter, pinned: pinsOf(state).length > 0 }, width);
}

function render({ model, el }) {
  el.classList.add("distil-attention");
  el.innerHTML = BAR;
  const [canvas, box, sizer, status, legend, picker, titleEl] = ["canvas", ".da-box", ".da-sizer",
    ".da-status", ".da-legend", ".da-heads", ".da-title"].map((q) => el.querySelector(q));
  const get = (name) => model.get(name) ?? DEFAULTS[name];
  const extra = ["has_norms", "mixing_methods", "mixing_note"];
  const stateNow = () => Object.fromEntries([...Object.keys(DEFAULTS), ...extra].map((k) => [k, get(k)]));
  let [data, hit, hover, cellHover, frame, note, last] = [null, () => null, null, null, 0, "", null];
  const dataNow = () => (data ??= payloadData((name) => model.get(name)));
  const say = (text) => (status.textContent = text || note || "\u00a0");
  const send = (changes) => {
    if (!changes) return;
    if (typeof changes === "string") return say(changes);
    for (const [name, value] of Object.entries(changes)) model.set(name, value);
    model.save_changes();
  };

  function draw() {
    frame = 0;
    const start = performance.now();
    const [state, d, ink] = [stateNow(), dataNow(), textColor(el)];
    const scene = sceneOf(state, d, state.mode === "head" ? hover : null);
    titleEl.textContent = scene.title;
    showBar(el, picker, state, d, pinsOf(state).length);
    const keep = scene.kind === "loading" && last; // the old picture until the maps come
    if (!keep) hit = paint({ el, canvas, box, sizer }, state, d, scene, { hover, cellHover, ink });
    if (!keep) last = scene;
    const scrolls = box.scrollHeight > box.clientHeight + 1 || box.scrollWidth > box.clientWidth + 1;
    const html = legendHtml(state, scene, ink, scrolls);
    if (legend.dataset.html !== html) legend.innerHTML = legend.dataset.html = html;
    const coming = d.weighting !== state.weighting ? `computing ${CONTRACT.weightings[state.weighting]}\u2026`
      : "loading this layer's maps\u2026";
    note = get("notice") || (scene.kind === "loading" ? coming : pinNote(state, d));
    if (!hover && !cellHover) say("");
    model.set("render_ms", performance.now() - start);
    model.save_changes();
  }
  const schedule = () => (frame = frame || requestAnimationFrame(draw));
  const onData = () => { data = null; schedule(); };

  function point(event) {
    const rect = canvas.getBoundingClientRect();
    return hit(event.clientX - rect.left, event.clientY - rect.top);
  }
  function onMove(event) {
    const at = point(event);
    if (get("mode") === "model") {
      if (at?.layer !== cellHover?.layer || at?.head !== cellHover?.head) schedule();
      cellHover = at;
      return say(at && (at.head === null ? `layer ${at.layer}: click to open it`
        : `layer ${at.layer}, head ${at.head}: click to open it alone`));
    }
    const next = at ? { token: at.token, side: at.side } : null;
    if (next?.token !== hover?.token || next?.side !== hover?.side) schedule();
    hover = next;
    say(readout(stateNow(), dataNow(), at));
    const token = at ? at.token : -1;
    if (token !== get("hovered")) send({ hovered: token });
  }
  function onLeave() {
    [cellHover, hover] = [null, null];
    say("");
    if ((model.get("hovered") ?? -1) !== -1) send({ hovered: -1 });
    schedule();
  }
  function onClick(event) {
    const at = point(event);
    if (!at) return;
    cellHover = null;
    send(clickChanges(stateNow(), dataNow(), at, event));
  }
  function onBar(event) {
    const b = event.target.closest("button");
    if (b && !b.disabled) send(barChanges(stateNow(), dataNow(), b));
  }
  function onDouble(event) {
    const b = event.target.closest(".da-swatch");
    if (b) send({ visible_heads: [Number(b.dataset.head)], head: Number(b.dataset.head) });
  }
  function onPick(event) {
    const value = Number(event.target.value);
    if (event.target.dataset.pick === "layer") return send({ layer: value });
    const visible = visibleOf(stateNow(), dataNow());
    send({ head: value, visible_heads: visible.includes(value) ? visible : [...visible, value].sort((a, b) => a - b) });
  }

  const names = [...Object.keys(DEFAULTS), ...extra, "notice"];
  for (const name of names) model.on(`change:${name}`, schedule);
  for (const name of PAYLOAD) model.on(`change:${name}`, onData);
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
  // Laid out late (a hidden tab) or resized: the canvas follows the width it is given.
  const resize = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(() => get("mode") === "head" && schedule());
  resize?.observe(el);
  draw();
  return () => {
    for (const name of names) model.off(`change:${name}`, schedule);
    for (const name of PAYLOAD) model.off(`change:${name}`, onData);
    resize?.disconnect();
    controller.abort();
    cancelAnimationFrame(frame);
  };
}

// A stand-in for a widget model, for the HTML report: the state's values, and
// every weighting's payload (`payloads`), swapped in when the weighting changes.
export function localModel(values, payloads) {
  const listeners = new Map();
  const emit = (name) => { for (const callback of listeners.get(`change:${name}`) ?? []) callback(); };
  const put = (changes) => { Object.assign(values, changes); for (const name of Object.keys(changes)) emit(name); };
  put(payloads[values.weighting] ?? payloads.weights);
  return {
    get: (name) => values[name],
    set(name, value) {
      if (values[name] === value) return;
      values[name] = value;
      emit(name);
      if (name === "weighting" && payloads[value]) put(payloads[value]);
    },
    save_changes() {},
    send() {},
    on(event, callback) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(callback);
    },
    off(event, callback) { listeners.get(event)?.delete(callback); },
  };
}

export default { render };
