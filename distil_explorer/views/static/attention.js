// AttentionWidget front end. Python owns the state; this file draws it on a <canvas>
// inside `el` and sets only the traits a person changes (hover, click, buttons).

const FONT = "12px sans-serif";
const ROW = 18; // px per token in the lines view
const LINK = 160; // px between the query and key columns
const [THUMB, GAP, LABEL] = [48, 6, 28]; // model view: px per thumbnail, between, labels
const QUERY = "31, 119, 180"; // rgb, blue: what a token attends to
const KEY = "255, 127, 14"; // rgb, orange: what attends to a token
const LEVELS = 64; // opacity steps for the lines view
const MANY = 64; // above this many tokens, lines only for the hovered token

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
  canvas.width = Math.max(1, Math.ceil(width * dpr));
  canvas.height = Math.max(1, Math.ceil(height * dpr));
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
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

// One path per opacity level: a few strokes instead of n * n.
function strokeLinks(ctx, links, rgb) {
  links.forEach((path, level) => {
    if (level === 0) return; // below 1 / LEVELS: invisible anyway
    ctx.strokeStyle = `rgba(${rgb}, ${level / LEVELS})`;
    ctx.stroke(path);
  });
}

function drawLines(canvas, s) {
  const { tokens, A, n, hovered, selected, ink } = s;
  const w = labelWidth(canvas.getContext("2d"), tokens);
  const ctx = sized(canvas, 2 * w + LINK, n * ROW + 4);
  const y = (i) => 2 + i * ROW + ROW / 2;
  const queries = Array.from({ length: LEVELS + 1 }, () => new Path2D());
  const keys = Array.from({ length: LEVELS + 1 }, () => new Path2D());
  const link = (links, i, j) => {
    const path = links[Math.round(Math.min(1, A[i * n + j]) * LEVELS)];
    path.moveTo(w + 2, y(i));
    path.lineTo(w + LINK - 2, y(j));
  };
  // n * n lines at T=512 take seconds to rasterise without a GPU.
  for (let i = 0; i < n && (n <= MANY || hovered >= 0); i++) {
    for (let j = 0; j < n; j++) {
      if (hovered < 0 || i === hovered) link(queries, i, j);
      else if (j === hovered) link(keys, i, j);
    }
  }
  ctx.lineWidth = 2;
  strokeLinks(ctx, queries, QUERY);
  strokeLinks(ctx, keys, KEY);
  for (let i = 0; i < n; i++) {
    if (hovered >= 0) {
      // Right: what the hovered token attends to; left: what attends to it.
      ctx.fillStyle = `rgba(${QUERY}, ${A[hovered * n + i]})`;
      ctx.fillRect(w + LINK, y(i) - ROW / 2 + 1, w, ROW - 2);
      ctx.fillStyle = `rgba(${KEY}, ${A[i * n + hovered]})`;
      ctx.fillRect(0, y(i) - ROW / 2 + 1, w, ROW - 2);
    }
    ctx.fillStyle = ink;
    ctx.font = i === hovered || i === selected ? `bold ${FONT}` : FONT;
    ctx.textAlign = "right";
    ctx.fillText(tokens[i], w - 4, y(i));
    ctx.textAlign = "left";
    ctx.fillText(tokens[i], w + LINK + 4, y(i));
  }
  // Pointer x/y -> token index; either column picks the same token.
  return (px, py) => {
    const i = Math.floor((py - 2) / ROW);
    const inColumn = px < w || px > w + LINK;
    return inColumn && i >= 0 && i < n ? { token: i } : null;
  };
}

function drawHeatmap(canvas, s) {
  const { tokens, A, n, hovered, selected, ink, heat } = s;
  const w = labelWidth(canvas.getContext("2d"), tokens);
  const cell = Math.max(4, Math.min(20, Math.floor(480 / Math.max(n, 1))));
  const ctx = sized(canvas, w + n * cell + 2, w + n * cell + 2);
  // The cells come as one image made once per map: a hover redraws only lines.
  ctx.imageSmoothingEnabled = false;
  if (n > 0) ctx.drawImage(heat, 0, 0, n, n, w, w, n * cell, n * cell);
  const showLabels = cell >= 10;
  ctx.fillStyle = ink;
  for (let i = 0; i < n && showLabels; i++) {
    ctx.font = i === hovered || i === selected ? `bold ${FONT}` : FONT;
    ctx.textAlign = "right";
    ctx.fillText(tokens[i], w - 4, w + i * cell + cell / 2);
    ctx.save();
    ctx.translate(w + i * cell + cell / 2, w - 4);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "left";
    ctx.fillText(tokens[i], 0, 0);
    ctx.restore();
  }
  if (hovered >= 0) {
    // Its row (what it attends to) and its column (what attends to it).
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = `rgb(${QUERY})`;
    ctx.strokeRect(w, w + hovered * cell, n * cell, cell);
    ctx.strokeStyle = `rgb(${KEY})`;
    ctx.strokeRect(w + hovered * cell, w, cell, n * cell);
  }
  return (px, py) => {
    const i = Math.floor((py - w) / cell);
    const j = Math.floor((px - w) / cell);
    const inRow = i >= 0 && i < n;
    const inCol = j >= 0 && j < n;
    if (inRow && inCol) return { token: i, key: j, weight: A[i * n + j] };
    if (inRow && px < w) return { token: i };
    if (inCol && py < w) return { token: j };
    return null;
  };
}

// Values 0..255 as the opacity of the query colour, `width` values per row.
// The (L, heads, t, t) thumbnails, flat, are already a t-wide image of
// L * heads maps stacked top to bottom: no index arithmetic.
function alphaImage(alpha, width) {
  const image = new ImageData(Math.max(1, width), Math.max(1, alpha.length / Math.max(1, width)));
  const rgb = QUERY.split(",").map(Number);
  for (let k = 0; k < alpha.length; k++) {
    image.data.set(rgb, 4 * k);
    image.data[4 * k + 3] = alpha[k];
  }
  const sheet = document.createElement("canvas");
  [sheet.width, sheet.height] = [image.width, image.height];
  sheet.getContext("2d").putImageData(image, 0, 0);
  return sheet;
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
  for (let l = 0; l < L; l++) {
    ctx.fillText(`L${layers[l]}`, LABEL / 2, LABEL + l * step + THUMB / 2);
    for (let h = 0; h < H; h++) {
      const [x, yy] = [LABEL + h * step, LABEL + l * step];
      ctx.drawImage(sheet, 0, (l * H + h) * t, t, t, x, yy, THUMB, THUMB);
      const chosen = layers[l] === layer && heads[h] === head;
      const over = cellHover && cellHover.layer === layers[l] && cellHover.head === heads[h];
      ctx.lineWidth = chosen || over ? 2 : 0.5;
      ctx.strokeStyle = chosen ? `rgb(${KEY})` : over ? ink : "rgba(128, 128, 128, 0.5)";
      ctx.strokeRect(x, yy, THUMB, THUMB);
    }
  }
  return (px, py) => {
    const h = Math.floor((px - LABEL) / step);
    const l = Math.floor((py - LABEL) / step);
    const inside = (px - LABEL) % step < THUMB && (py - LABEL) % step < THUMB;
    return inside && l >= 0 && l < L && h >= 0 && h < H ? { layer: layers[l], head: heads[h] } : null;
  };
}

function render({ model, el }) {
  el.classList.add("distil-attention");
  el.innerHTML = `<div class="da-bar">
    <button data-mode="model">All heads</button>
    <button data-style="lines">Lines</button>
    <button data-style="heatmap">Heatmap</button>
    <span class="da-title"></span></div>
    <div class="da-box"><canvas></canvas></div><div class="da-status">&nbsp;</div>`;
  const canvas = el.querySelector("canvas");
  const status = el.querySelector(".da-status");
  const say = (text) => (status.textContent = text || "\u00a0");
  const send = (changes) => {
    for (const [name, value] of Object.entries(changes)) model.set(name, value);
    model.save_changes();
  };
  let hit = () => null; // pointer position -> what is under it, from the last draw
  let cellHover = null;
  let frame = 0;
  let [sheet, sheetFor, heat, heatFor] = [null, null, null, null];
  let pending = 0; // a clicked head whose map has not arrived: draw nothing yet

  function draw() {
    frame = 0;
    const start = performance.now();
    const [tokens, mode, style] = ["tokens", "mode", "draw_style"].map((k) => model.get(k));
    const [layer, head] = [model.get("layer"), model.get("head")];
    const ink = textColor(el);
    const hint = mode === "head" && style === "lines" && tokens.length > MANY
      ? " · hover a token to draw its lines" : "";
    el.querySelector(".da-title").textContent =
      `layer ${layer}, head ${head} · ${tokens.length} tokens${hint}`;
    for (const b of el.querySelectorAll("button")) {
      b.classList.toggle("da-on", b.dataset.mode ? mode === "model"
        : mode === "head" && b.dataset.style === style);
    }
    if (mode === "model") {
      const [maps, shape] = [model.get("maps"), model.get("maps_shape")];
      if (maps !== sheetFor) sheet = alphaImage(typed(maps, Uint8Array), shape[2]);
      sheetFor = maps;
      const [layers, heads] = ["layers", "heads"].map((k) => model.get(k));
      hit = drawModel(canvas, { sheet, shape, layers, heads, layer, head, cellHover, ink });
    } else {
      const raw = model.get("head_map");
      const A = typed(raw, Float32Array);
      // Draw nothing until the head_map of this head and these tokens arrives.
      const n = !pending && A.length === tokens.length ** 2 ? tokens.length : 0;
      const [hovered, selected] = [model.get("hovered"), model.get("selected_token")];
      if (style === "heatmap" && (raw !== heatFor || heat.width !== Math.max(1, n))) {
        const top = A.reduce((m, v) => Math.max(m, v), 1e-9);
        heat = alphaImage(A.slice(0, n * n).map((v) => Math.round((255 * v) / top)), n);
        heatFor = raw;
      }
      const view = style === "heatmap" ? drawHeatmap : drawLines;
      hit = view(canvas, { tokens, A, n, hovered, selected, ink, heat });
    }
    send({ render_ms: performance.now() - start });
  }
  const schedule = () => (frame = frame || requestAnimationFrame(draw));

  function point(event) {
    const box = canvas.getBoundingClientRect();
    return hit(event.clientX - box.left, event.clientY - box.top);
  }
  function onMove(event) {
    const at = point(event);
    if (model.get("mode") === "model") {
      if (at?.layer !== cellHover?.layer || at?.head !== cellHover?.head) schedule();
      cellHover = at;
      return say(at && `layer ${at.layer}, head ${at.head}: click to open`);
    }
    const tokens = model.get("tokens");
    const token = at ? at.token : -1;
    if (at?.key === undefined) say(at && `${token}: ${tokens[token]}`);
    else say(`${tokens[at.token]} → ${tokens[at.key]}: ${at.weight.toFixed(4)}`);
    if (token !== model.get("hovered")) send({ hovered: token });
  }
  function onLeave() {
    cellHover = null;
    say("");
    if (model.get("hovered") !== -1) send({ hovered: -1 });
    schedule();
  }
  function onClick(event) {
    const at = point(event);
    if (!at) return;
    if (model.get("mode") === "model") {
      cellHover = null;
      if (at.layer !== model.get("layer") || at.head !== model.get("head")) {
        // Until the kernel answers; a timeout in case it never does.
        pending = setTimeout(arrived, 2000);
      }
      send({ layer: at.layer, head: at.head, mode: "head" });
    } else {
      send({ selected_token: model.get("selected_token") === at.token ? -1 : at.token });
    }
  }
  function onButton(event) {
    const b = event.target.closest("button");
    if (!b) return;
    send(b.dataset.mode ? { mode: "model" } : { mode: "head", draw_style: b.dataset.style });
  }

  const names = ["tokens", "maps", "maps_shape", "head_map", "layers", "heads", "layer", "head", "mode",
    "draw_style", "hovered", "selected_token"];
  function arrived() {
    clearTimeout(pending);
    pending = 0;
    schedule();
  }
  model.on("change:head_map", arrived);
  for (const name of names) model.on(`change:${name}`, schedule);
  const controller = new AbortController();
  const signal = controller.signal;
  canvas.addEventListener("mousemove", onMove, { signal });
  canvas.addEventListener("mouseleave", onLeave, { signal });
  canvas.addEventListener("click", onClick, { signal });
  el.querySelector(".da-bar").addEventListener("click", onButton, { signal });
  draw();
  return () => {
    for (const name of names) model.off(`change:${name}`, schedule);
    model.off("change:head_map", arrived);
    clearTimeout(pending);
    controller.abort();
    cancelAnimationFrame(frame);
  };
}

export default { render };
