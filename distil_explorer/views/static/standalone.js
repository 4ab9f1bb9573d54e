// A stand-in for a Jupyter widget model, for the standalone HTML report.
// The state lives in the page; when layer or head changes, head_map is cut
// out of every map of the sequence (embedded as uint16, value * 65535, or for
// long inputs as uint8 times each map's maximum / 255), as the Python widget
// does in a notebook.

function bytes(base64) {
  const text = atob(base64);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

export function createModel(state) {
  const values = { ...state };
  for (const key of ["maps", "head_map"]) values[key] = new DataView(bytes(state[key]).buffer);
  const scale = state.all_scale; // null: uint16
  const all = scale ? bytes(state.all_maps) : new Uint16Array(bytes(state.all_maps).buffer);
  const [, heads, n] = state.all_shape;
  const listeners = new Map();

  // layer and head are model indices; the maps hold state.layers x state.heads.
  function headMap(layer, head) {
    const at = state.layers.indexOf(layer) * heads + state.heads.indexOf(head);
    const start = at * n * n;
    const step = scale ? scale[at] / 255 : 1 / 65535;
    const out = new Float32Array(n * n);
    for (let i = 0; i < n * n; i++) out[i] = all[start + i] * step;
    return new DataView(out.buffer);
  }

  function emit(name) {
    for (const callback of listeners.get(`change:${name}`) ?? []) callback();
  }

  return {
    get: (name) => values[name],
    set(name, value) {
      if (values[name] === value) return;
      values[name] = value;
      if (name === "layer" || name === "head") {
        values.head_map = headMap(values.layer, values.head);
        emit("head_map");
      }
      emit(name);
    },
    save_changes() {},
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
