// A stand-in for a Jupyter widget model, for the standalone HTML report.
// Python embeds the widget's payload as it starts (views/canvas_state.py) and
// every map of the sequence: uint16 (value * 65535), or for long inputs uint8
// times each map's maximum / 255 (then the bytes of the widget's head_maps,
// which the page slices out rather than having them embedded twice).
// When a choice changes, this model does in the page what the Python widget
// does in a kernel: it cuts head_map, head_maps and view_map out of those maps.
// A Trace with norms embeds its norm-weighted maps too (`state.norms`: their
// thumbnails and every map, uint16 in units of `all_unit`, the largest value);
// the "Norm-weighted" button switches every cut to them.

function bytes(base64) {
  const text = atob(base64 ?? "");
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

const dataView = (array) => new DataView(array.buffer, array.byteOffset, array.byteLength);
// The payload's bytes traits (canvas_state), base64 in the page.
const BYTES = ["maps", "head_map", "head_maps", "head_maps_scale", "view_map"];
// Choices that may make head_map, head_maps or view_map stale.
const CHOICES = new Set(["layer", "head", "visible_heads", "aggregate", "mode", "weighting"]);

export function createModel(state) {
  const values = { ...state };
  for (const key of BYTES) values[key] = new DataView(bytes(state[key]).buffer);
  // Every map of one weighting: uint16 (unit / 65535 a step) or uint8 with a
  // scale per map (scale[k] / 255 a step).
  const source = (s, thumbs) => ({
    scale: s.all_scale,
    unit: s.all_unit ?? 1,
    all: s.all_scale ? bytes(s.all_maps) : new Uint16Array(bytes(s.all_maps).buffer),
    thumbs,
  });
  const sources = { weights: source(state, values.maps) };
  if (state.norms) sources.norms = source(state.norms, new DataView(bytes(state.norms.maps).buffer));
  let shown = "weights";
  let { all, scale, unit } = sources.weights;
  const [, heads, n] = state.all_shape;
  const size = n * n;
  const listeners = new Map();
  let stale = false;

  // layer and head are model indices; the maps hold state.layers x state.heads.
  const at = (layer, head) => state.layers.indexOf(layer) * heads + state.heads.indexOf(head);
  const step = (k) => (scale ? scale[k] / 255 : unit / 65535);

  function headMap(layer, head) {
    const k = at(layer, head), start = k * size, s = step(k);
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = all[start + i] * s;
    return out;
  }

  // Every head of `layer` as the widget sends them: uint8, each map scaled to
  // its maximum, and those maxima (float32).
  function layerMaps(layer) {
    const first = at(layer, state.heads[0]);
    const top = new Float32Array(heads);
    if (scale) {
      top.set(scale.slice(first, first + heads));
      return [all.slice(first * size, (first + heads) * size), top];
    }
    const out = new Uint8Array(heads * size);
    for (let h = 0; h < heads; h++) {
      const start = (first + h) * size;
      let most = 0;
      for (let i = 0; i < size; i++) most = Math.max(most, all[start + i]);
      top[h] = (most / 65535) * unit;
      if (most > 0) for (let i = 0; i < size; i++) out[h * size + i] = Math.round((all[start + i] * 255) / most);
    }
    return [out, top];
  }

  // The mean of the visible heads of `layer`, or of every layer ("mean_layers").
  function meanMap(aggregate, layer, visible) {
    const layers = aggregate === "mean_layers" ? state.layers : [layer];
    const total = new Float64Array(size);
    for (const l of layers) {
      for (const h of visible) {
        const k = at(l, h), start = k * size, s = step(k);
        for (let i = 0; i < size; i++) total[i] += all[start + i] * s;
      }
    }
    const count = layers.length * visible.length;
    return Float32Array.from(total, (v) => v / count);
  }

  const viewKey = (aggregate, layer, visible) => (aggregate === "mean_heads"
    ? `mean_heads:${layer}:${visible.join(",")}`
    : aggregate === "mean_layers" ? `mean_layers:${visible.join(",")}` : "");

  function emit(name) {
    for (const callback of listeners.get(`change:${name}`) ?? []) callback();
  }
  function put(changes) {
    Object.assign(values, changes);
    for (const name of Object.keys(changes)) emit(name);
  }

  // Once per message (as the kernel answers one), what its choices made stale.
  function sync() {
    const weighting = sources[values.weighting] ? values.weighting : "weights";
    if (weighting !== shown) { // every cut comes from the other maps now
      shown = weighting;
      ({ all, scale, unit } = sources[weighting]);
      Object.assign(values, { head_map_of: [], head_maps_layer: -1, view_map_of: "" });
      put({ maps: sources[weighting].thumbs });
    }
    const { layer, head, mode, aggregate } = values;
    const visible = values.visible_heads?.length ? values.visible_heads : [head];
    const of = values.head_map_of ?? [];
    if (of[0] !== layer || of[1] !== head) {
      put({ head_map: dataView(headMap(layer, head)), head_map_of: [layer, head] });
    }
    if (mode !== "head") return;
    if (values.head_maps_layer !== layer || values.head_maps_heads.length !== heads) {
      const [maps, top] = layerMaps(layer);
      put({
        head_maps: dataView(maps),
        head_maps_scale: dataView(top),
        head_maps_heads: [...state.heads],
        head_maps_layer: layer,
      });
    }
    const key = viewKey(aggregate, layer, visible);
    if (key && key !== values.view_map_of) {
      put({ view_map: dataView(meanMap(aggregate, layer, visible)), view_map_of: key });
    }
  }

  sync(); // the head_maps a long input's report leaves to the page
  return {
    get: (name) => values[name],
    set(name, value) {
      if (values[name] === value) return;
      values[name] = value;
      stale ||= CHOICES.has(name);
      emit(name);
    },
    save_changes() {
      if (stale) sync();
      stale = false;
    },
    send() {},
    on(event, callback) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(callback);
    },
    off(event, callback) {
      listeners.get(event)?.delete(callback);
    },
  };
}
