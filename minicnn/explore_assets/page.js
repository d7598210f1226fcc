"use strict";
// ---------------------------------------------------------------------------------------
// 1. The data: JSON written by minicnn.explore; arrays are zlib + base64 ({b64, dtype,
//    shape}) and are inflated here into typed arrays.
// ---------------------------------------------------------------------------------------
const DATA = JSON.parse(document.getElementById("explore-data").textContent);
const TYPED = { float32: Float32Array, uint8: Uint8Array };
const NO_BACKWARD = "This image was added in the page, which computes only its forward pass: " +
  "for its gradients, run minicnn explore IMAGE.";

function base64Bytes(text) {
  // A plain loop: Uint8Array.from(atob(text), callback) took 20 times as long at 150 px.
  const binary = atob(text), bytes = new Uint8Array(binary.length);
  for (let n = 0; n < binary.length; n++) bytes[n] = binary.charCodeAt(n);
  return bytes;
}

async function inflate(packed) {
  const bytes = base64Bytes(packed.b64);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  const array = new TYPED[packed.dtype](await new Response(stream).arrayBuffer());
  array.shape = packed.shape;
  return array;
}

async function unpackAll(node) {
  // Replace, in place, every packed array inside node by its typed array.
  for (const key of Object.keys(node)) {
    const value = node[key];
    if (value && typeof value === "object" && !ArrayBuffer.isView(value)) {
      if (typeof value.b64 === "string") node[key] = await inflate(value);
      else await unpackAll(value);
    }
  }
}

// The selection: a map and a pixel of a layer (for a 1-D layer, col is the entry or unit).
// inChannel: the input channel of the formula view (back to 0 whenever the layer changes);
// range: colour each map over its own range ("map") or over the whole layer's ("layer").
const state = { image: 0, mode: "forward", cls: null, layer: 0, map: 0, row: 0, col: 0,
                inChannel: 0, range: "map" };

// ---------------------------------------------------------------------------------------
// 2. Grids: a layer's output (or gradient) as {h, w, c, get(k, r, col), exact}.
//    8-bit maps decode as value = lo + q / levels * (hi - lo), each map with its own lo, hi.
// ---------------------------------------------------------------------------------------
function quantisedGrid(m, factor) {
  const [c, h, w] = m.q.shape;
  const get = (k, r, col) =>
    factor * (m.lo[k] + (m.q[(k * h + r) * w + col] / m.levels) * (m.hi[k] - m.lo[k]));
  return { c, h, w, get, exact: false };
}

function exactGrid(a) {        // float32 (H, W, C), channels last as in minicnn
  const [h, w, c] = a.shape;
  return { c, h, w, get: (k, r, col) => a[(r * w + col) * c + k], exact: true };
}

function vectorGrid(v, factor) {
  return { c: 1, h: 1, w: v.length, get: (k, r, col) => factor * v[col], exact: true, vector: v };
}

function imageGrid(img) {
  const [h, w] = img.image.shape;
  return { c: 1, h, w, get: (k, r, col) => img.image[r * w + col], exact: true, gray: true };
}

function forwardGrid(img, i) {
  // Output of layer i (-1: the input X-ray) for one image.
  if (i < 0) return imageGrid(img);
  if (img.exact[i + 1] !== undefined) return exactGrid(img.exact[i + 1]);
  const m = img.maps[i];
  if (m.full) return exactGrid(m.full);            // an image added in the page
  return m.vector ? vectorGrid(m.vector, 1) : quantisedGrid(m, 1);
}

function backwardEntry(img, cls) {
  // {entry, factor}: the class's own gradients, or class 0's scaled (two classes).
  const entry = img.backward[cls];
  return entry.sameAs === undefined ? { entry, factor: 1 }
    : { entry: img.backward[entry.sameAs], factor: entry.factor };
}

function backwardGrid(img, i, cls) {
  const { entry, factor } = backwardEntry(img, cls);
  const m = i < 0 ? entry.input : entry.maps[i];
  return m.vector ? vectorGrid(m.vector, factor) : quantisedGrid(m, factor);
}

function showing() {
  // The pass the views show: the backward one needs gradients, which an image added in the
  // page does not have (its views stay on the forward pass and say so).
  return state.mode === "backward" && DATA.images[state.image].backward ? "backward"
    : "forward";
}

function currentClass(img) {
  if (state.cls !== null) return state.cls;
  return img.label === null ? img.predicted : img.label;
}

function gridFor(i) {
  const img = DATA.images[state.image];
  return showing() === "forward" ? forwardGrid(img, i) : backwardGrid(img, i, currentClass(img));
}

// ---------------------------------------------------------------------------------------
// 3. The numbers the views show (also the console API, window.minicnnExplore).
// ---------------------------------------------------------------------------------------
function checkIndex(name, value, n) {
  // value itself when it is an integer from 0 to n - 1, else a RangeError naming it.
  if (!Number.isInteger(value) || value < 0 || value >= n) {
    throw new RangeError(name + " must be an integer from 0 to " + (n - 1) + ", got " +
      String(value));
  }
  return value;
}

function layerIndex(layer) {
  // A layer's index from its name or index; RangeError for anything else.
  const n = DATA.layers.length;
  if (typeof layer === "number") return checkIndex("layer", layer, n);
  const i = DATA.layers.findIndex((l) => l.name === layer);
  if (i < 0) {
    throw new RangeError("layer must be a layer name (" + DATA.layers.map((l) => l.name)
      .join(", ") + ") or an index from 0 to " + (n - 1) + ", got " + String(layer));
  }
  return i;
}

function convIndex(layer) {
  const i = layerIndex(layer);
  if (DATA.layers[i].type !== "Conv2D") {
    const convs = DATA.layers.filter((l) => l.type === "Conv2D").map((l) => l.name);
    throw new RangeError("layer must be a Conv2D (" + convs.join(", ") + "), got " +
      DATA.layers[i].name);
  }
  return i;
}

function activate(name, z) {   // thesis eq. (2): y = phi(z)
  if (name === "relu") return Math.max(0, z);
  if (name === "sigmoid") return 1 / (1 + Math.exp(-z));
  return name === null ? z : NaN;
}

function convInput(img, i) {   // the exact float32 input of the Conv2D layer i
  return i === 0 ? imageGrid(img) : exactGrid(img.exact[i]);
}

function formula(image, layer, row, col, channel) {
  // Thesis eq. (1) for output pixel (row, col) of map `channel` of a Conv2D, from the exact
  // float32 input of that layer and its kernel: {window, kernel, partial, bias, z, y},
  // window and kernel as [kh][kw][C_in], partial[j] = sum over the window of channel j.
  const img = DATA.images[checkIndex("image", image, DATA.images.length)];
  const i = convIndex(layer), L = DATA.layers[i], [oh, ow, oc] = L.outputShape;
  checkIndex("row", row, oh);
  checkIndex("col", col, ow);
  checkIndex("channel", channel, oc);
  const x = convInput(img, i), K = L.kernel;
  const [kh, kw, cin, cout] = K.shape;
  const top = row * L.window.strides[0] - L.window.padBefore[0];
  const left = col * L.window.strides[1] - L.window.padBefore[1];
  const window = [], kernel = [], partial = new Array(cin).fill(0);
  for (let a = 0; a < kh; a++) {
    window.push([]); kernel.push([]);
    for (let b = 0; b < kw; b++) {
      const r = top + a, c = left + b, inside = r >= 0 && r < x.h && c >= 0 && c < x.w;
      const xs = [], ws = [];
      for (let j = 0; j < cin; j++) {
        const xv = inside ? x.get(j, r, c) : 0, wv = K[((a * kw + b) * cin + j) * cout + channel];
        xs.push(xv); ws.push(wv); partial[j] += xv * wv;
      }
      window[a].push(xs); kernel[a].push(ws);
    }
  }
  const bias = L.bias[channel];
  const z = partial.reduce((s, v) => s + v, 0) + bias;
  return { window, kernel, partial, bias, z, y: activate(L.activation, z), top, left };
}

function valueAt(img, i, k, r, c) {
  // Output of layer i at (r, c, k): exact when minicnn stored it or when layer i is a
  // Conv2D (recomputed by formula), else the 8-bit display copy. {value, exact}.
  const L = DATA.layers[i];
  if (i >= 0 && L.type === "Conv2D" && L.activation !== "softmax") {
    return { value: formula(DATA.images.indexOf(img), i, r, c, k).y, exact: true };
  }
  const g = forwardGrid(img, i);
  return { value: g.get(k, r, c), exact: g.exact };
}

function gradient(image, layer, cls) {
  // The backward view's summary of dL/d(output of layer) ("input": dL/dx):
  // {shape, min, max, meanAbs}, computed by minicnn for the class taken as the label.
  const img = DATA.images[checkIndex("image", image, DATA.images.length)];
  if (!img.backward) throw new RangeError(NO_BACKWARD);
  const k = cls === undefined ? currentClass(img) : checkIndex("cls", cls, img.backward.length);
  const i = layer === "input" ? -1 : layerIndex(layer);
  return i < 0 ? img.backward[k].inputSummary : img.backward[k].summary[i];
}

function flattenIndex(shape, row, col, channel) {
  // Where (row, col, channel) of an (H, W, C) map lands in the flattened vector.
  return (row * shape[1] + col) * shape[2] + channel;
}

// ---------------------------------------------------------------------------------------
// 4. Drawing: colour maps, legends, thumbnails, the big map; marks on the selection.
// ---------------------------------------------------------------------------------------
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const DIVERGING = [[49, 54, 149], [116, 173, 209], [245, 245, 245], [244, 109, 67],
                   [165, 0, 38]];
const GRAY = [[0, 0, 0], [255, 255, 255]];
const MARK = "#ff00ff";

function colour(stops, t) {    // t in [0, 1] -> [r, g, b], linear between the stops
  const x = Math.min(Math.max(t, 0), 1) * (stops.length - 1);
  const i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
  return stops[i].map((v, n) => v + f * (stops[i + 1][n] - v));
}

function lookupTable(stops) {  // 256 colours, so that drawing a map needs no arithmetic
  return Array.from({ length: 256 }, (_, n) => colour(stops, n / 255).map(Math.round));
}

const TABLES = { forward: lookupTable(VIRIDIS), backward: lookupTable(DIVERGING),
                 gray: lookupTable(GRAY) };

function tableFor(g) {         // X-rays in gray, activations in viridis, gradients diverging
  return g.gray && showing() === "forward" ? TABLES.gray : TABLES[showing()];
}

function gridRange(g, k, signed = showing() === "backward") {
  // Over map k (all maps when k is undefined): [min, max]; signed (gradients) [-m, m] with
  // m = max |value|, so that white is 0. An X-ray: [0, 1].
  if (g.gray) return [0, 1];
  let lo = Infinity, hi = -Infinity;
  const first = k === undefined ? 0 : k, last = k === undefined ? g.c : k + 1;
  for (let m = first; m < last; m++) {
    for (let r = 0; r < g.h; r++) {
      for (let c = 0; c < g.w; c++) {
        const v = g.get(m, r, c);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  }
  if (!signed) return [lo, hi];
  const m = Math.max(Math.abs(lo), Math.abs(hi));
  return [-m, m];
}

function rangeFor(g, k, layerRange) {
  // The colour range of map k under the range switch (layerRange: the layer's, if known).
  if (state.range === "map") return gridRange(g, k);
  return layerRange || gridRange(g);
}

function mapCanvas(g, k, range, table = tableFor(g)) {
  // Map k at its own size on an off-screen canvas, coloured over range with table.
  const canvas = document.createElement("canvas");
  canvas.width = g.w;
  canvas.height = g.h;
  const ctx = canvas.getContext("2d"), image = ctx.createImageData(g.w, g.h);
  const span = range[1] - range[0] || 1;
  for (let r = 0; r < g.h; r++) {
    for (let c = 0; c < g.w; c++) {
      const t = Math.min(Math.max((g.get(k, r, c) - range[0]) / span, 0), 1);
      const rgb = table[Math.round(t * 255)];
      image.data.set([rgb[0], rgb[1], rgb[2], 255], 4 * (r * g.w + c));
    }
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

function grayCanvas(img) {     // the X-ray itself, 0 black, 1 white
  return mapCanvas(imageGrid(img), 0, [0, 1], TABLES.gray);
}

function activationCanvas(g, k) {   // map k of a forward grid, whatever the view shows
  return mapCanvas(g, k, gridRange(g, k, false), g.gray ? TABLES.gray : TABLES.forward);
}

function legend(g, range, text) {
  // A colour bar from range[0] to range[1] with its numbers (id'd for the tests).
  const div = document.createElement("div"), bar = document.createElement("canvas");
  div.className = "legend";
  bar.width = 128;
  bar.height = 1;
  const ctx = bar.getContext("2d"), table = tableFor(g);
  for (let n = 0; n < 128; n++) {
    ctx.fillStyle = "rgb(" + table[Math.round(n / 127 * 255)].join(",") + ")";
    ctx.fillRect(n, 0, 1, 1);
  }
  bar.setAttribute("aria-hidden", "true");
  div.innerHTML = '<span class="lo">' + (range ? fmt(range[0]) : "min") + "</span>";
  div.appendChild(bar);
  div.insertAdjacentHTML("beforeend", '<span class="hi">' + (range ? fmt(range[1]) : "max") +
    "</span> " +
    '<span class="sub">' + text + "</span>");
  return div;
}

function pointer(canvas, e) {  // the event's position in the canvas's own pixels
  const rect = canvas.getBoundingClientRect();
  return { x: e.offsetX * canvas.width / rect.width, y: e.offsetY * canvas.height / rect.height };
}

function pickable(canvas, g, i, locate) {
  // Click: select what locate(event) finds ({k, r, c} or null); hover: say its value.
  canvas.onclick = (e) => {
    const at = locate(pointer(canvas, e));
    if (!at) return;
    select(i, at.k, at.r, at.c);
    // On a phone the detail panel sits above the overview: bring it into view.
    if (canvas.classList.contains("maps") && matchMedia("(max-width: 600px)").matches) {
      $("detail").scrollIntoView();
    }
  };
  canvas.onmousemove = (e) => {
    const at = locate(pointer(canvas, e));
    canvas.title = at ? placeText(g, at) + ": " + fmt(g.get(at.k, at.r, at.c), 5) : "";
  };
}

function placeText(g, at) {
  if (g.h === 1) return "entry " + at.c;
  return (g.c > 1 ? "map " + at.k + ", " : "") + "row " + at.r + ", column " + at.c;
}

function redrawMarks(canvas) {
  // The canvas's picture again, with the selection marked when its layer is selected.
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);      // the gaps between maps too
  ctx.drawImage(canvas.base, 0, 0);
  if (Number(canvas.dataset.layer) !== state.layer || !canvas.mark) return;
  ctx.strokeStyle = MARK;
  ctx.lineWidth = 2;
  canvas.mark(ctx);
}

function drawMarks() {
  document.querySelectorAll("canvas.maps").forEach(redrawMarks);
}

function withBase(canvas, draw) {
  // Draw once on an off-screen copy (canvas.base); marks are drawn over it.
  const base = document.createElement("canvas");
  base.width = canvas.width;
  base.height = canvas.height;
  const ctx = base.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  draw(ctx);
  canvas.base = base;
  redrawMarks(canvas);
}

function thumbLayout(g) {
  if (g.c === 1) return { size: 150, cols: 1, rows: 1, step: 150 };   // one map: the X-ray
  const size = g.h >= 60 ? 52 : g.h >= 20 ? 40 : 30;
  const cols = Math.min(g.c, 16);
  return { size, cols, rows: Math.ceil(g.c / cols), step: size + 2 };
}

function drawThumbnails(canvas, g, i) {
  // All maps of a layer in a grid; a click selects the map and the pixel under the pointer.
  const t = thumbLayout(g), range = state.range === "layer" ? gridRange(g) : null;
  canvas.width = t.cols * t.step;
  canvas.height = t.rows * t.step;
  withBase(canvas, (ctx) => {
    for (let k = 0; k < g.c; k++) {
      const x = (k % t.cols) * t.step, y = Math.floor(k / t.cols) * t.step;
      ctx.drawImage(mapCanvas(g, k, range || gridRange(g, k)), x, y, t.size, t.size);
    }
  });
  const s = t.size / g.w;      // one map: mark the pixel; several: the selected map
  canvas.mark = g.c === 1
    ? (ctx) => ctx.strokeRect(state.col * s - 2, state.row * s - 2, s + 4, s + 4)
    : (ctx) => ctx.strokeRect((state.map % t.cols) * t.step, Math.floor(state.map / t.cols) *
      t.step, t.size, t.size);
  canvas.layout = t;
  pickable(canvas, g, i, (p) => {
    const col = Math.floor(p.x / t.step), row = Math.floor(p.y / t.step);
    const k = row * t.cols + col;
    if (col >= t.cols || k >= g.c) return null;
    const cell = (v, n) => Math.min(Math.floor(Math.min(v / t.size, 0.999) * n), n - 1);
    return { k, r: cell(p.y - row * t.step, g.h), c: cell(p.x - col * t.step, g.w) };
  });
}

function vectorLayout(g) {
  // A 1-D layer as rows of cells: 12-px cells up to 64 entries, then 6, then 3 px.
  const cell = g.w <= 64 ? 12 : g.w <= 1000 ? 6 : 3;
  const per = Math.min(g.w, Math.floor(720 / cell));
  return { cell, per, rows: Math.ceil(g.w / per) };
}

function drawVector(canvas, g, i) {
  // A 1-D layer as a strip of cells; a click selects an entry.
  const t = vectorLayout(g), range = gridRange(g), span = range[1] - range[0] || 1;
  canvas.width = t.per * t.cell;
  canvas.height = t.rows * t.cell;
  const table = tableFor(g);
  withBase(canvas, (ctx) => {
    for (let n = 0; n < g.w; n++) {
      const v = Math.min(Math.max((g.get(0, 0, n) - range[0]) / span, 0), 1);
      ctx.fillStyle = "rgb(" + table[Math.round(v * 255)].join(",") + ")";
      ctx.fillRect((n % t.per) * t.cell, Math.floor(n / t.per) * t.cell, t.cell, t.cell);
    }
  });
  canvas.mark = (ctx) => ctx.strokeRect((state.col % t.per) * t.cell - 1,
    Math.floor(state.col / t.per) * t.cell - 1, t.cell + 2, t.cell + 2);
  canvas.layout = t;
  pickable(canvas, g, i, (p) => {
    const n = Math.floor(p.y / t.cell) * t.per + Math.floor(p.x / t.cell);
    return n < g.w ? { k: 0, r: 0, c: n } : null;
  });
}

// ---------------------------------------------------------------------------------------
// 5. The page: image cards, overview rows, detail panel. Small HTML helpers first.
// ---------------------------------------------------------------------------------------
const $ = (id) => document.getElementById(id);
const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" };
const esc = (s) => String(s).replace(/[&<>"]/g, (ch) => ESCAPES[ch]);
const TIMES = "\u00d7";
const className = (k) => DATA.classNames[k] === undefined ? "class " + k : DATA.classNames[k];
const positive = () => esc(className(1).toLowerCase());

function fmt(v, digits = 4) {
  if (v === null || v === undefined || Number.isNaN(v)) return "n/a";
  const tiny = Math.abs(v) < 1e-3 && v !== 0;
  return Math.abs(v) >= 1e4 || tiny ? v.toExponential(digits - 1) : v.toFixed(digits);
}

function tableRow(cells, tag = "td") {
  return "<tr>" + cells.map((c) => "<" + tag + ">" + c + "</" + tag + ">").join("") + "</tr>";
}

function shapeText(s) { return s.join(" " + TIMES + " "); }

function verdict(img) {
  if (img.correct === null) return "";
  return img.correct ? '<span class="right">right</span>' : '<span class="wrong">wrong</span>';
}

function onActivate(el, action) {   // a click, Enter or Space runs action
  el.onclick = action;
  el.onkeydown = (e) => {
    if (e.key !== "Enter" && e.key !== " ") return;
    e.preventDefault();
    action();
  };
}

function keepingFocus(draw) {
  // Redraw, then give the focus back to the element with the same id (views are rebuilt).
  const id = document.activeElement ? document.activeElement.id : "";
  draw();
  const el = id ? $(id) : null;
  if (el && document.activeElement !== el) el.focus({ preventScroll: true });
}

function renderImages() {
  const box = $("images");
  box.innerHTML = "";
  DATA.images.forEach((img, n) => {
    const card = document.createElement("div");
    card.className = "image-card" + (n === state.image ? " selected" : "");
    card.id = "image-" + n;
    card.tabIndex = 0;
    card.setAttribute("role", "button");
    card.setAttribute("aria-pressed", String(n === state.image));
    const truth = img.added ? "unknown (added in the page)"
      : img.label === null ? "unknown" : esc(className(img.label));
    card.innerHTML = "<div><b>" + esc(img.name) + "</b></div><div>true: " + truth +
      "</div><div>P(" + positive() + ") = <b>" + img.probability.toFixed(3) + "</b> " +
      verdict(img) + "</div>";
    const thumb = grayCanvas(img);
    thumb.setAttribute("aria-hidden", "true");
    card.prepend(thumb);
    onActivate(card, () => { state.image = n; render(); });
    box.appendChild(card);
  });
}

const INPUT_LAYER = { name: "input", type: "X-ray", activation: null,
                      note: "The gray X-ray, values in [0, 1] (black 0, white 1)." };

function layerInfo(i) {
  return i < 0 ? { ...INPUT_LAYER, outputShape: DATA.inputShape } : DATA.layers[i];
}

function layerRow(i) {
  // One row of the overview: the layer's name, shape, note, its maps and their legend.
  const L = layerInfo(i), div = document.createElement("div");
  div.className = "layer" + (i === state.layer ? " selected" : "");
  div.id = "layer-" + i;
  const act = L.activation ? " (" + esc(L.activation) + ")" : "";
  let head = "<h2>" + esc(L.name) + ' <span class="sub">' + esc(L.type) + act + ", output " +
    shapeText(L.outputShape) + "</span></h2>";
  if (state.mode === "backward") head += gradientText(i);
  div.innerHTML = head + '<p class="note">' + esc(L.note || "") + "</p>";
  const g = gridFor(i);
  div.appendChild(mapsCanvas(i, g));
  div.appendChild(rowLegend(g));
  if (i === DATA.layers.length - 1) div.appendChild(probabilityBars());
  return div;
}

function rowLegend(g) {
  if (g.c > 1 && state.range === "map") {
    return legend(g, null, "each map over its own range (the selected map's numbers are " +
      "in the detail panel)");
  }
  return legend(g, gridRange(g), g.c > 1 ? "one range for the whole layer" : "");
}

function mapsCanvas(i, g) {
  // The layer's maps (or entries) on one canvas: click, hover, Tab and the arrow keys.
  const canvas = document.createElement("canvas"), L = layerInfo(i);
  canvas.className = "maps";
  canvas.id = "maps-" + i;
  canvas.dataset.layer = i;
  canvas.tabIndex = 0;
  if (g.h === 1) drawVector(canvas, g, i); else drawThumbnails(canvas, g, i);
  canvas.setAttribute("role", "img");
  const what = g.h === 1 ? g.w + " entries" : g.c + " map" + (g.c > 1 ? "s" : "") + " of " +
    g.h + " " + TIMES + " " + g.w;
  canvas.setAttribute("aria-label", L.name + ": " + what + (showing() === "backward"
    ? " (gradients)" : "") + ". Enter selects; arrow keys move the selection.");
  canvas.onkeydown = (e) => overviewKey(e, canvas, g, i);
  return canvas;
}

const ARROWS = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };

function overviewKey(e, canvas, g, i) {
  // Enter/Space select the layer; arrows move the selected map, entry or (one map) pixel.
  const move = ARROWS[e.key];
  if (!move && e.key !== "Enter" && e.key !== " ") return;
  e.preventDefault();
  if (state.layer !== i || !move) {
    if (state.layer !== i) select(i, 0);
    return;
  }
  const t = canvas.layout, clamp = (v, n) => Math.min(Math.max(v, 0), n - 1);
  if (g.h === 1) select(i, 0, 0, clamp(state.col + move[1] + move[0] * t.per, g.w));
  else if (g.c === 1) select(i, 0, state.row + move[0], state.col + move[1]);
  else select(i, clamp(state.map + move[1] + move[0] * t.cols, g.c), state.row, state.col);
}

function gradientText(i) {
  const img = DATA.images[state.image];
  if (!img.backward) return '<div class="grad" id="no-backward">' + NO_BACKWARD + "</div>";
  const s = gradient(state.image, i < 0 ? "input" : i);
  const what = i === DATA.layers.length - 1 ? "dL/d(logits)" : "dL/d(output)";
  return '<div class="grad">' + what + ": shape " + shapeText(s.shape) + ", min " + fmt(s.min) +
    ", max " + fmt(s.max) + ", mean |g| " + fmt(s.meanAbs) + " (" +
    labelText(img, currentClass(img)) + ")</div>";
}

function probabilityBars() {
  const img = DATA.images[state.image], div = document.createElement("div");
  const bars = img.probs.map((p, k) => "<div>" + esc(className(img.probs.length > 1 ? k : 1)) +
    ': <span class="bar-box"><span class="bar" style="width:' + (100 * p).toFixed(1) +
    '%"></span></span> ' + p.toFixed(4) + "</div>");
  div.innerHTML = bars.join("") + "<div>P(" + positive() + ") = <b>" +
    img.probability.toFixed(4) + "</b>; the threshold is " + DATA.threshold.toFixed(3) +
    ", so the prediction is <b>" + esc(className(img.predicted)) + "</b></div>";
  return div;
}

function renderOverview() {
  const box = $("overview");
  box.innerHTML = "";
  if (state.mode === "backward") box.appendChild(gradCamRow());
  for (let i = -1; i < DATA.layers.length; i++) box.appendChild(layerRow(i));
}

function gradCamNote(cam) {
  // What Grad-CAM shows, and how coarse it is: the last convolution's grid, stretched.
  if (!cam) return " (this model has no convolution).";
  const conv = DATA.layers.filter((l) => l.type === "Conv2D").pop();
  const [h, w] = conv.outputShape, [H, W] = DATA.inputShape;
  let text = ". It is computed on the " + h + " " + TIMES + " " + w + " maps of " +
    esc(conv.name) + " and stretched (bilinear) to the " + H + " " + TIMES + " " + W +
    " X-ray: one cell covers about " + Math.round(H / h) + " " + TIMES + " " +
    Math.round(W / w) + " pixels, so it shows where, not what, and no finer than that.";
  if (Math.max(...cam) === 0) {
    text += " Here it is zero everywhere: no positive evidence for this class.";
  }
  return text;
}

function gradCamRow() {
  // Grad-CAM (computed by minicnn.explain.grad_cam) over the X-ray, for the chosen class.
  const img = DATA.images[state.image], div = document.createElement("div");
  div.className = "layer";
  div.id = "gradcam";
  if (!img.backward) {
    div.innerHTML = "<h2>Grad-CAM</h2><p>" + NO_BACKWARD + "</p>";
    return div;
  }
  const cls = currentClass(img), cam = img.backward[cls].gradcam;
  div.innerHTML = "<h2>Grad-CAM for " + esc(className(cls)) + '</h2><p class="note">' +
    "Red where the last convolution's maps, each weighted by the mean gradient of the " +
    "class score over it, add up to a positive value" + gradCamNote(cam) + "</p>";
  const canvas = grayCanvas(img);
  if (cam) overlay(canvas, cam);
  canvas.className = "gradcam";
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "Grad-CAM for " + className(cls) + " over the X-ray");
  div.appendChild(canvas);
  return div;
}

function overlay(canvas, cam) {   // blend the 8-bit heat map over the gray X-ray
  const ctx = canvas.getContext("2d");
  const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
  for (let p = 0; p < cam.length; p++) {
    const a = cam[p] / 255 * 0.7, rgb = colour(DIVERGING, 0.5 + cam[p] / 510);
    for (let n = 0; n < 3; n++) image.data[4 * p + n] += a * (rgb[n] - image.data[4 * p + n]);
  }
  ctx.putImageData(image, 0, 0);
}

function select(layer, map, r, c) {
  // Select map `map` of layer `layer` and its pixel (r, c) (default: the centre; clamped).
  // A new layer starts the formula view again on input channel 0.
  if (layer !== state.layer) state.inChannel = 0;
  state.layer = layer;
  state.map = map;
  const g = gridFor(layer);
  const clamp = (v, n) => Math.min(Math.max(v, 0), n - 1);
  state.row = r === undefined ? Math.floor(g.h / 2) : clamp(r, g.h);
  state.col = c === undefined ? Math.floor(g.w / 2) : clamp(c, g.w);
  document.querySelectorAll(".layer").forEach(
    (d) => d.classList.toggle("selected", d.id === "layer-" + layer));
  drawMarks();
  renderDetail();
}

function checkedSelect(layer, map = 0, r = undefined, c = undefined) {
  // The console's select: RangeError for a layer, map, row or column out of range.
  const i = layer === -1 || layer === "input" ? -1 : layerIndex(layer), g = gridFor(i);
  checkIndex("map", map, g.c);
  if (r !== undefined) checkIndex("row", r, g.h);
  if (c !== undefined) checkIndex("col", c, g.w);
  select(i, map, r, c);
}

function bigMap(i, g) {
  // The selected map, enlarged, with its legend; click or arrow keys select a pixel (outlined).
  const scale = Math.max(1, Math.floor(240 / Math.max(g.h, g.w)));
  const canvas = document.createElement("canvas"), range = rangeFor(g, state.map);
  canvas.className = "big";
  canvas.id = "big-map";
  canvas.dataset.scale = scale;
  canvas.width = g.w * scale;
  canvas.height = g.h * scale;
  canvas.tabIndex = 0;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "map " + state.map + " of " + layerInfo(i).name +
    ", enlarged; selected pixel row " + state.row + ", column " + state.col +
    ". Arrow keys move the pixel.");
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(mapCanvas(g, state.map, range), 0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = MARK;
  ctx.lineWidth = 2;
  ctx.strokeRect(state.col * scale, state.row * scale, scale, scale);
  const cell = (v, n) => Math.min(Math.max(Math.floor(v / scale), 0), n - 1);
  pickable(canvas, g, i, (p) => ({ k: state.map, r: cell(p.y, g.h), c: cell(p.x, g.w) }));
  canvas.onkeydown = (e) => {
    const move = ARROWS[e.key];
    if (!move) return;
    e.preventDefault();
    select(i, state.map, state.row + move[0], state.col + move[1]);
  };
  const box = document.createElement("div");
  box.append(canvas, legend(g, range, state.range === "map" ? "this map's range"
    : "the layer's range"));
  return box;
}

function pixelValue(i, g) {
  // The selected pixel's value: exact where possible, else the 8-bit copy (marked).
  const v = showing() === "forward"
    ? valueAt(DATA.images[state.image], i, state.map, state.row, state.col)
    : { value: g.get(state.map, state.row, state.col), exact: false };
  return "<p>" + (showing() === "forward" ? "value" : "gradient") + " here: " +
    (v.exact ? "" : "\u2248 ") + '<span id="map-value">' + fmt(v.value, 5) + "</span>" +
    (v.exact ? "" : " (8-bit display copy of minicnn's number)") + "</p>";
}

function entryValue(i, g) {    // a 1-D layer's entry: stored as float32, exact
  const what = showing() === "forward" ? "value" : "gradient";
  return "<p>" + what + " of entry " + state.col + ': <span id="map-value">' +
    fmt(g.get(0, 0, state.col), 6) + "</span></p>";
}

function detailHeading(i, L, g) {
  // The selection and its value: the panel's live region, read out after each change.
  const where = g.h > 1 ? ", map " + state.map + ", pixel (row " + state.row + ", column " +
    state.col + ")" : ", entry " + state.col;
  const missing = state.mode === "backward" && showing() === "forward";
  return '<div id="detail-summary" aria-live="polite"><h2>' + (L ? esc(L.name) + " (" +
    esc(L.type) + ")" : "input X-ray") + where + "</h2>" + (missing ? "<p>" + NO_BACKWARD +
    "</p>" : "") + (g.h > 1 ? pixelValue(i, g) : entryValue(i, g)) + "</div>";
}

function renderDetail() {
  keepingFocus(() => {
    const box = $("detail"), i = state.layer, L = i < 0 ? null : DATA.layers[i];
    const g = gridFor(i);
    box.innerHTML = detailHeading(i, L, g) + (L ? detailFor(L, i) : "");
    if (g.h > 1) {
      const slot = $("map-slot"), block = bigMap(i, g);
      if (slot) slot.prepend(block); else $("detail-summary").after(block);
    }
    wireDetail();
    renderNetwork();
  });
}

function detailFor(L, i) {
  if (L.type === "Conv2D") return showing() === "forward" ? convFormula(i) : convBackward(i);
  if (L.type.endsWith("Pooling2D") && L.window) return poolView(i);
  if (L.type === "Flatten") return flattenView(i);
  if (L.type === "Dense") return denseView(i);
  return "";
}

// ---------------------------------------------------------------------------------------
// 6. The formula view: z = sum_j sum_window w * x + b (eq. 1), y = phi(z) (eq. 2).
//    It opens on one input channel's window x kernel table, then adds up the channels.
// ---------------------------------------------------------------------------------------
function numberTable(rows, highlight, id) {
  const cell = (v, a, b) => "<td" + (highlight && highlight(a, b) ? ' class="win"' : "") +
    ">" + fmt(v) + "</td>";
  return '<div class="scroll"><table class="nums"' + (id ? ' id="' + id + '"' : "") + ">" +
    rows.map((r, a) => "<tr>" + r.map((v, b) => cell(v, a, b)).join("") + "</tr>").join("") +
    "</table></div>";
}

function labelled(label, table) {
  return '<div><div class="sub">' + label + "</div>" + table + "</div>";
}

const STEP_BUTTONS = '<button id="step-left">\u25c0 step left</button> ' +
  '<button id="step-right">step right \u25b6</button>';

function convFormula(i) {
  const f = formula(state.image, i, state.row, state.col, state.map), L = DATA.layers[i];
  const cin = f.partial.length, j = Math.min(state.inChannel, cin - 1);
  const size = L.window.size.join(TIMES);
  let html = "<h3>Formula view, step 1: one input channel</h3><p>For this output pixel, " +
    "filter " + state.map + "'s " + size + TIMES + cin + " kernel sits on the input window " +
    "whose top-left cell is (" + f.top + ", " + f.left + "). On input channel " + j +
    ", each cell of the window is multiplied by the kernel's weight at the same place, and " +
    "the products add up to s_" + j + ".</p>" + channelSelect(cin) + " " + STEP_BUTTONS +
    channelTables(f, j) + '<div class="row" id="map-slot">' + windowMapBlock(i, j) + "</div>";
  html += "<h3>Step 2: add up the channels and the bias</h3>" + (cin > 1
    ? "<p>The same for each of the " + cin + " input channels gives " + cin + " partial " +
      "sums s_0 ... s_" + (cin - 1) + " (s_" + j + " highlighted):</p>" +
      numberTable(chunk(f.partial, 8), (a, b) => a * 8 + b === j, "partial-sums")
    : "<p>This layer reads one input channel, so z is s_0 plus the bias.</p>");
  const sum = f.partial.reduce((s, v) => s + v, 0);
  html += '<div class="eq">eq. (1): z = \u03a3_j s_j + b = ' + fmt(sum, 6) + " + (" +
    fmt(f.bias, 6) + ') = <b id="formula-z" data-value="' + f.z + '">' + fmt(f.z, 6) +
    "</b>\neq. (2): y = " + (L.activation || "identity") + '(z) = <b id="formula-y">' +
    fmt(f.y, 6) + "</b></div>";
  return html + inputWindowNote(i, j);
}

function windowMapBlock(i, j) {
  const prev = i === 0 ? "the X-ray" : DATA.layers[i - 1].name + ", channel " + j;
  return '<div><canvas id="window-map" class="big" role="img" aria-label="the input ' +
    esc(prev) + ' with the window outlined"></canvas><div class="sub">input: ' + esc(prev) +
    ", window outlined</div></div>";
}

function drawWindowMap() {
  // The formula view's input channel (or the X-ray) with the window outlined.
  const canvas = $("window-map"), i = state.layer, L = DATA.layers[i];
  const img = DATA.images[state.image], g = i === 0 ? imageGrid(img) : forwardGrid(img, i - 1);
  const j = Math.min(state.inChannel, g.c - 1);
  const scale = Math.max(1, Math.floor(240 / Math.max(g.h, g.w)));
  const [kh, kw] = L.window.size, f = formula(state.image, i, state.row, state.col, state.map);
  canvas.width = g.w * scale;
  canvas.height = g.h * scale;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(mapCanvas(g, j, rangeFor(g, j)), 0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = MARK;
  ctx.lineWidth = 2;
  ctx.strokeRect(f.left * scale, f.top * scale, kw * scale, kh * scale);
}

function channelTables(f, j) {
  // Input channel j of the window, the kernel slice, their products and s_j.
  const win = f.window.map((r) => r.map((v) => v[j]));
  const ker = f.kernel.map((r) => r.map((v) => v[j]));
  const products = win.map((r, a) => r.map((v, b) => v * ker[a][b]));
  return '<div class="row">' + labelled("input x, channel " + j, numberTable(win, null,
    "window-x")) + labelled("kernel w[:, :, " + j + ", " + state.map + "]",
    numberTable(ker, null, "window-w")) + labelled("w " + TIMES + " x", numberTable(products,
    null, "window-products")) + "</div>" + '<div class="eq">s_' + j + " = \u03a3 w " + TIMES +
    " x = " + fmt(f.partial[j], 6) + "</div>";
}

function chunk(values, n) {
  const rows = [];
  for (let k = 0; k < values.length; k += n) rows.push(values.slice(k, k + n));
  return rows;
}

function channelSelect(cin) {
  if (cin === 1) return "";
  let options = "";
  for (let j = 0; j < cin; j++) {
    const chosen = j === state.inChannel ? " selected" : "";
    options += '<option value="' + j + '"' + chosen + ">input channel " + j + "</option>";
  }
  return '<label>show: <select id="in-channel">' + options + "</select></label>";
}

function inputWindowNote(i, j) {
  const prev = i === 0 ? "the X-ray" : DATA.layers[i - 1].name;
  return '<p class="note">The window (outlined above, on input channel ' + j +
    ") is read from " + esc(prev) + " (the exact float32 numbers of minicnn's forward " +
    "pass); the page adds them up here, and minicnn's own convolution gave the map.</p>";
}

function wireDetail() {
  const sel = $("in-channel");
  if (sel) sel.onchange = () => { state.inChannel = Number(sel.value); renderDetail(); };
  const step = (d) => () => select(state.layer, state.map, state.row, state.col + d);
  if ($("step-left")) $("step-left").onclick = step(-1);
  if ($("step-right")) $("step-right").onclick = step(1);
  if ($("window-map")) drawWindowMap();
  document.querySelectorAll("[data-unit]").forEach((el) => {
    el.onclick = () => select(state.layer, 0, 0, Number(el.dataset.unit));
  });
  const pick = $("flat-pick");
  if (pick) pick.onchange = () => pickFlatEntry(pick);
}

// ---------------------------------------------------------------------------------------
// 7. Backward view of a convolution: dK of the selected filter and one Adam step.
// ---------------------------------------------------------------------------------------
function kernelSlice(K, j, k, factor) {   // factor * K[:, :, j, k] as rows
  const [kh, kw, cin, cout] = K.shape, rows = [];
  for (let a = 0; a < kh; a++) {
    rows.push([]);
    for (let b = 0; b < kw; b++) rows[a].push(factor * K[((a * kw + b) * cin + j) * cout + k]);
  }
  return rows;
}

function labelText(img, cls) {
  // The label the backward view takes, named after where it comes from.
  const name = esc(className(cls));
  if (state.cls !== null) return "the chosen label " + name;
  return img.label === null ? "the predicted label " + name + ", the true one being unknown"
    : "the true label " + name;
}

function filterState(img, i, k, dK) {
  // "dead" when ReLU gave 0 at every pixel of map k; "still" when dL/dw is 0 all the same.
  const L = DATA.layers[i], g = forwardGrid(img, i);
  let alive = false;
  for (let r = 0; r < g.h && !alive; r++) {
    for (let c = 0; c < g.w && !alive; c++) alive = g.get(k, r, c) !== 0;
  }
  if (!alive && L.activation === "relu") return "dead";
  const [kh, kw, cin, cout] = dK.shape;
  for (let n = k; n < kh * kw * cin * cout; n += cout) if (dK[n] !== 0) return "moving";
  return "still";
}

const FILTER_TEXT = {
  dead: "is <b>dead</b> on this image: z is at most 0 at every pixel, so ReLU outputs 0 " +
    "everywhere and passes no gradient back. dL/dw and dL/db are 0, and Adam's step leaves " +
    "the filter as it is.",
  still: "gets no gradient on this image (dL/dw is 0 for every weight), so Adam's step " +
    "leaves it as it is.",
  moving: "",
};

function adamText(change) {
  const moved = change.flat().filter((v) => v !== 0).length, n = change.flat().length;
  return "Adam's first step moves a weight by about the learning rate, 0.001, against the " +
    "sign of its gradient when |dL/dw| is well above 3e-6 (less for smaller ones, not at " +
    "all when it is 0): here " + moved + " of these " + n + " weights move.";
}

function convBackward(i) {
  const img = DATA.images[state.image], L = DATA.layers[i], cls = currentClass(img);
  const { entry, factor } = backwardEntry(img, cls);
  const j = Math.min(state.inChannel, L.kernel.shape[2] - 1), k = state.map;
  const dK = kernelSlice(entry.dK[i], j, k, factor), K = kernelSlice(L.kernel, j, k, 1);
  const change = kernelSlice(img.adam.dKernel[i], j, k, 1);
  const after = K.map((r, a) => r.map((v, b) => v + change[a][b]));
  const db = entry.dB[i] ? "dL/db = " + fmt(factor * entry.dB[i][k], 6) : "no bias";
  const status = filterState(img, i, k, entry.dK[i]);
  const said = FILTER_TEXT[status] ? '<p class="dead" id="filter-state">Filter ' + k + " " +
    FILTER_TEXT[status] + "</p>" : "";
  return "<h3>Gradient of the kernel</h3>" + said + "<p>dL/dw[:, :, " + j + ", " + k +
    "] for " + labelText(img, cls) + " (the loss is " + fmt(img.backward[cls].loss) + "); " +
    db + ".</p>" + channelSelect(L.kernel.shape[2]) +
    '<div class="row">' + labelled("dL/dw", numberTable(dK)) + "</div>" +
    "<h3>One Adam step on this image</h3><p>minicnn trained a copy of the model for one " +
    "step on this image with " + adamLabel(img) + " (learning rate 0.001). " +
    adamText(change) + '</p><div class="row">' + labelled("before", numberTable(K)) +
    labelled("change", numberTable(change)) + labelled("after", numberTable(after)) + "</div>";
}

function adamLabel(img) {
  const name = esc(className(img.adam.label));
  return img.label === null ? "its predicted label " + name + " (the true one is unknown)"
    : "its true label " + name;
}

// ---------------------------------------------------------------------------------------
// 8. Pooling, flatten, dense and softmax.
// ---------------------------------------------------------------------------------------
function poolWindow(i) {
  // The pooling window's cells in layer i - 1 (exact where possible) and the winner.
  const img = DATA.images[state.image], L = DATA.layers[i], [ph, pw] = L.window.size;
  const top = state.row * L.window.strides[0] - L.window.padBefore[0];
  const left = state.col * L.window.strides[1] - L.window.padBefore[1];
  const prev = forwardGrid(img, i - 1), cells = [];
  let best = [0, 0], exact = true;
  for (let a = 0; a < ph; a++) {
    cells.push([]);
    for (let b = 0; b < pw; b++) {
      const r = top + a, c = left + b, inside = r >= 0 && r < prev.h && c >= 0 && c < prev.w;
      const v = inside ? valueAt(img, i - 1, state.map, r, c) : { value: -Infinity, exact: true };
      exact = exact && v.exact;
      cells[a].push(v.value);
      if (v.value > cells[best[0]][best[1]]) best = [a, b];
    }
  }
  return { cells, best, exact };
}

function poolView(i) {
  const L = DATA.layers[i], w = poolWindow(i), isMax = L.type === "MaxPooling2D";
  const prev = i > 0 ? DATA.layers[i - 1].name : "the input";
  const win = (a, b) => isMax && a === w.best[0] && b === w.best[1];
  let html = "<h3>The " + L.window.size.join(TIMES) + " window in " + esc(prev) + "</h3>" +
    numberTable(w.cells, win);
  if (isMax) {
    html += "<p>The winner (highlighted), " + fmt(w.cells[w.best[0]][w.best[1]], 6) +
      ", is the pooled value.</p>";
  }
  if (!w.exact) html += '<p class="note">\u2248: from the 8-bit display copy.</p>';
  if (showing() === "backward" && isMax) html += poolRoute(i, w);
  return html + flattenNote(i);
}

function poolRoute(i, w) {
  // The gradient in the window of the layer before: only the winner receives any.
  const img = DATA.images[state.image], below = backwardGrid(img, i - 1, currentClass(img));
  const L = DATA.layers[i], [ph, pw] = L.window.size, cells = [];
  const top = state.row * L.window.strides[0] - L.window.padBefore[0];
  const left = state.col * L.window.strides[1] - L.window.padBefore[1];
  for (let a = 0; a < ph; a++) {
    cells.push([]);
    for (let b = 0; b < pw; b++) {
      const r = top + a, c = left + b;
      const inside = r >= 0 && r < below.h && c >= 0 && c < below.w;
      cells[a].push(inside ? below.get(state.map, r, c) : 0);
    }
  }
  return "<h3>The gradient's route</h3><p>Backward, the gradient of this pooled value goes " +
    "to the winner only; the other cells of the window get 0. dL/d(output) of the layer " +
    "before, same window (\u2248, 8-bit copy):</p>" +
    numberTable(cells, (a, b) => a === w.best[0] && b === w.best[1]);
}

function flattenNote(i) {
  const next = DATA.layers[i + 1];
  if (!next || next.type !== "Flatten") return "";
  const [, w, c] = DATA.layers[i].outputShape;
  const index = flattenIndex(DATA.layers[i].outputShape, state.row, state.col, state.map);
  return "<p>Flatten puts this value at index (" + state.row + " " + TIMES + " " + w + " + " +
    state.col + ") " + TIMES + " " + c + " + " + state.map + ' = <b id="flatten-index">' +
    index + "</b>.</p>";
}

function flattenView(i) {
  const L = DATA.layers[i], shape = L.inputShape, n = state.col;
  if (shape.length !== 3) return "";
  const [h, w, c] = shape;
  const ch = n % c, col = Math.floor(n / c) % w, r = Math.floor(n / (c * w));
  const field = (name, value, max) => '<label>' + name + ' <input type="number" min="0" max="' +
    max + '" value="' + value + '" data-part="' + name + '"></label>';
  return "<p>Entry " + n + " of the " + L.outputShape[0] + "-long vector is (row " + r +
    ", column " + col + ", channel " + ch + ") of " + esc(DATA.layers[i - 1].name) +
    ": index = (row " + TIMES + " " + w + " + column) " + TIMES + " " + c + " + channel = (" +
    r + " " + TIMES + " " + w + " + " + col + ") " + TIMES + " " + c + " + " + ch + " = " +
    flattenIndex(shape, r, col, ch) + ".</p><p>Click the strip, use the arrow keys on it, " +
    'or pick an entry by its place:</p><div id="flat-pick" class="row">' +
    field("row", r, h - 1) + field("column", col, w - 1) + field("channel", ch, c - 1) +
    "</div>";
}

function pickFlatEntry(box) {
  // The flatten entry of the row, column and channel typed in (clamped to the map).
  const L = DATA.layers[state.layer], [h, w, c] = L.inputShape, part = {};
  const limits = { row: h, column: w, channel: c };
  box.querySelectorAll("input").forEach((el) => {
    const n = limits[el.dataset.part];
    part[el.dataset.part] = Math.min(Math.max(Math.floor(Number(el.value)) || 0, 0), n - 1);
  });
  select(state.layer, 0, 0, flattenIndex(L.inputShape, part.row, part.column, part.channel));
}

function inputName(i, n) {
  // An input index of a Dense layer, with its (row, column, channel) when it came from Flatten.
  const prev = DATA.layers[i - 1];
  if (!prev || prev.type !== "Flatten" || prev.inputShape.length !== 3) return String(n);
  const [, w, c] = prev.inputShape;
  return n + " = (" + Math.floor(n / (w * c)) + ", " + (Math.floor(n / c) % w) + ", " +
    (n % c) + ")";
}

function unitButtons(d, u) {
  if (d.y.length > 64) return "";
  return "<p>units (click one): " + d.y.map((v, k) => '<button data-unit="' + k + '"' +
    (k === u ? ' class="on"' : "") + ">" + k + "</button>").join(" ") + "</p>";
}

function denseView(i) {
  const img = DATA.images[state.image], L = DATA.layers[i], d = img.dense[i];
  const u = Math.min(state.col, L.outputShape[0] - 1), z = d.z ? d.z[u] : NaN;
  const rows = d.top[u].map(([n, x, w]) => tableRow([inputName(i, n), fmt(x), fmt(w), fmt(x * w)]));
  const others = L.inputShape[0] - d.top[u].length;
  let html = unitButtons(d, u) + "<h3>Unit " + u + ": the largest contributions x_i " + TIMES +
    " w_i</h3>" + '<div class="scroll"><table class="nums">' +
    tableRow(["input i", "x_i", "w_i", "x_i " + TIMES + " w_i"], "th") + rows.join("") +
    tableRow(["the other " + others, "", "", fmt(d.rest[u])]) +
    tableRow(["bias b", "", "", fmt(L.bias[u])]) + "</table></div>" +
    '<div class="eq">eq. (1): z = ' + fmt(z, 6) + "\neq. (2): y = " +
    (L.activation || "identity") + "(z) = " + fmt(d.y[u], 6) + "</div>";
  if (showing() === "backward") return html + denseBackward(i, u);
  if (L.activation === "softmax") html += softmaxView(d);
  return html;
}

function unitGradient(i, u) {
  // {dy, dz, how}: dL/d(output) and dL/dz of unit u of Dense layer i (the last layer's
  // stored gradient is already dL/dz, p - y).
  const img = DATA.images[state.image], L = DATA.layers[i], d = img.dense[i];
  const g = backwardGrid(img, i, currentClass(img)), dy = g.get(0, 0, u);
  if (i === DATA.layers.length - 1) return { dz: dy, how: "" };
  if (L.activation === "relu") {
    return { dy, dz: d.z[u] > 0 ? dy : 0, how: d.z[u] > 0 ? "z > 0, so ReLU passes it on"
      : "z \u2264 0, so ReLU passes nothing back" };
  }
  if (L.activation === "sigmoid") {
    return { dy, dz: dy * d.y[u] * (1 - d.y[u]), how: "times y (1 - y), the sigmoid's slope" };
  }
  return { dy, dz: dy, how: "no activation" };
}

function denseBackward(i, u) {
  // The unit's gradients: dL/dz, then dL/dw_i = x_i dL/dz for its largest inputs, dL/db.
  const img = DATA.images[state.image], L = DATA.layers[i], d = img.dense[i];
  const last = i === DATA.layers.length - 1, gr = unitGradient(i, u);
  let html = last ? lossGradientView(img, d) : "<h3>Backward through unit " + u + "</h3>" +
    '<div class="eq">dL/dy = ' + fmt(gr.dy, 6) + "\ndL/dz = " + fmt(gr.dz, 6) + " (" +
    gr.how + ")</div>";
  const rows = d.top[u].map(([n, x]) => tableRow([inputName(i, n), fmt(x), fmt(x * gr.dz)]));
  html += "<p>Each weight's gradient is its input times dL/dz (for the inputs above):</p>" +
    '<div class="scroll"><table class="nums" id="dense-gradients">' +
    tableRow(["input i", "x_i", "dL/dw_i = x_i " + TIMES + " dL/dz"], "th") + rows.join("") +
    tableRow(["bias b", "", fmt(gr.dz)]) + "</table></div>";
  return html + (L.activation === "relu" && gr.dz === 0 && gr.dy !== 0
    ? "<p>This unit is off for this image (z \u2264 0): none of its weights gets a gradient." +
      "</p>" : "");
}

function lossGradientView(img, d) {
  // Where the backward pass starts: dL/dz = p - y at the logits, with y the one-hot label.
  const cls = currentClass(img), g = backwardGrid(img, DATA.layers.length - 1, cls);
  const probs = d.y.length > 1 ? d.y : [d.y[0]];
  const rows = probs.map((p, k) => {
    const y = (probs.length > 1 ? k : 1) === cls ? 1 : 0;
    return tableRow([esc(className(probs.length > 1 ? k : 1)), fmt(p, 6), String(y),
                fmt(p - y, 6), fmt(g.get(0, 0, k), 6)]);
  });
  return '<h3>The backward pass starts here: dL/dz = p \u2212 y</h3><p>With ' +
    labelText(img, cls) + ", y is 1 for that class and 0 for the others; the cross-" +
    "entropy L = \u2212log p_label is " + fmt(img.backward[cls].loss) + ", and its gradient " +
    "at the logits z is p \u2212 y:</p>" + '<div class="scroll"><table class="nums" ' +
    'id="softmax-gradient">' +
    tableRow(["class", "p", "y", "p \u2212 y", "dL/dz (minicnn)"], "th") +
    rows.join("") + "</table></div>";
}

function softmaxView(d) {
  const top = Math.max(...d.z), ez = d.z.map((v) => Math.exp(v - top));
  const total = ez.reduce((s, v) => s + v, 0);
  const rows = d.z.map((v, k) => tableRow([esc(className(k)), fmt(v), fmt(ez[k]), fmt(d.y[k])]));
  return "<h3>Softmax: logits to probabilities</h3><p>p_k = e^(z_k) / \u03a3_j e^(z_j), " +
    "each z shifted by the largest one first (which changes nothing).</p>" +
    '<div class="scroll"><table class="nums">' + tableRow(["class", "z_k", "e^(z_k - max)", "p_k"],
    "th") + rows.join("") + "</table></div><p>\u03a3 e = " + fmt(total) + "</p>";
}

// ---------------------------------------------------------------------------------------
// 10. The page's own forward pass, for an X-ray added in the page (a file, or addImage):
//     the same layers as minicnn, in float64, from the embedded float32 weights.
//     A tensor is {shape, data}: (H, W, C) channels last, or (N,) for a vector.
// ---------------------------------------------------------------------------------------
function activateAll(name, data) {  // thesis eq. (2) over every value (softmax: over all)
  if (name === "softmax") {
    const top = Math.max(...data), e = data.map((v) => Math.exp(v - top));
    const total = e.reduce((s, v) => s + v, 0);
    return e.map((v) => v / total);
  }
  return name ? data.map((v) => activate(name, v)) : data;
}

function convForward(L, x) {
  // Thesis eq. (1) at every output pixel of every filter; cells in the padding are 0.
  const [h, w, c] = L.outputShape, [xh, xw, cin] = x.shape, K = L.kernel;
  const [kh, kw] = L.window.size, [sh, sw] = L.window.strides, [ph, pw] = L.window.padBefore;
  const out = new Float64Array(h * w * c);
  for (let r = 0; r < h; r++) {
    for (let q = 0; q < w; q++) {
      const acc = out.subarray((r * w + q) * c, (r * w + q + 1) * c);
      for (let a = 0; a < kh; a++) {
        const xr = r * sh - ph + a;
        if (xr < 0 || xr >= xh) continue;
        for (let b = 0; b < kw; b++) {
          const xc = q * sw - pw + b;
          if (xc < 0 || xc >= xw) continue;
          for (let j = 0; j < cin; j++) {
            const xv = x.data[(xr * xw + xc) * cin + j], base = ((a * kw + b) * cin + j) * c;
            for (let k = 0; k < c; k++) acc[k] += xv * K[base + k];
          }
        }
      }
      for (let k = 0; k < c; k++) acc[k] += L.bias[k];
    }
  }
  return { shape: [h, w, c], data: activateAll(L.activation, out) };
}

function poolForward(L, x) {
  // The largest value (MaxPooling2D) or the mean (AveragePooling2D) of each window's cells
  // inside the map: the padding is never averaged in, as in minicnn and Keras.
  const [h, w, c] = L.outputShape, [xh, xw] = x.shape, isMax = L.type === "MaxPooling2D";
  const [kh, kw] = L.window.size, [sh, sw] = L.window.strides, [ph, pw] = L.window.padBefore;
  const out = new Float64Array(h * w * c);
  for (let r = 0; r < h; r++) {
    for (let q = 0; q < w; q++) {
      for (let k = 0; k < c; k++) {
        let best = -Infinity, sum = 0, n = 0;
        for (let a = 0; a < kh; a++) {
          for (let b = 0; b < kw; b++) {
            const xr = r * sh - ph + a, xc = q * sw - pw + b;
            if (xr < 0 || xr >= xh || xc < 0 || xc >= xw) continue;
            const v = x.data[(xr * xw + xc) * c + k];
            best = Math.max(best, v);
            sum += v;
            n += 1;
          }
        }
        out[(r * w + q) * c + k] = isMax ? best : sum / n;
      }
    }
  }
  return { shape: [h, w, c], data: out };
}

function globalPoolForward(L, x) {
  const [h, w, c] = x.shape, out = new Float64Array(c);
  for (let p = 0; p < h * w; p++) for (let k = 0; k < c; k++) out[k] += x.data[p * c + k];
  return { shape: [c], data: out.map((v) => v / (h * w)) };
}

function normForward(L, x) {
  // y = gamma (x - moving mean) / sqrt(moving variance + epsilon) + beta, per channel.
  const n = L.norm, c = x.shape[x.shape.length - 1];
  const data = x.data.map((v, p) => {
    const k = p % c, g = n.gamma ? n.gamma[k] : 1, b = n.beta ? n.beta[k] : 0;
    return g * (v - n.mean[k]) / Math.sqrt(n.variance[k] + n.epsilon) + b;
  });
  return { shape: x.shape, data };
}

function denseForward(L, x) {
  const units = L.outputShape[0], z = Float64Array.from(L.bias);
  for (let i = 0; i < x.data.length; i++) {
    const xv = x.data[i];
    if (xv === 0) continue;
    for (let u = 0; u < units; u++) z[u] += xv * L.kernel[i * units + u];
  }
  return { shape: [units], data: activateAll(L.activation, z), z };
}

const FORWARD = {
  Conv2D: convForward, MaxPooling2D: poolForward, AveragePooling2D: poolForward,
  GlobalAveragePooling2D: globalPoolForward, BatchNormalization: normForward,
  Dense: denseForward,
  Flatten: (L, x) => ({ shape: [x.data.length], data: x.data }),
  Dropout: (L, x) => x,
  ReLU: (L, x) => ({ shape: x.shape, data: activateAll("relu", x.data) }),
  Sigmoid: (L, x) => ({ shape: x.shape, data: activateAll("sigmoid", x.data) }),
  Softmax: (L, x) => ({ shape: x.shape, data: activateAll("softmax", x.data) }),
};

function denseTop(L, x, z, y) {
  // What minicnn.explore.dense_contributions stores: per unit the largest |x_i w_i|.
  const units = L.outputShape[0], n = Math.min(6, x.length), top = [], rest = [];
  for (let u = 0; u < units; u++) {
    const order = Array.from(x, (v, i) => i).sort((a, b) =>
      Math.abs(x[b] * L.kernel[b * units + u]) - Math.abs(x[a] * L.kernel[a * units + u]) ||
      a - b).slice(0, n);
    let total = 0;
    for (let i = 0; i < x.length; i++) total += x[i] * L.kernel[i * units + u];
    top.push(order.map((i) => [i, x[i], L.kernel[i * units + u]]));
    rest.push(total - order.reduce((s, i) => s + x[i] * L.kernel[i * units + u], 0));
  }
  return { top, rest, z: Array.from(z), y: Array.from(y) };
}

function typed(t) {            // a tensor as the Float32Array the views read
  const a = Float32Array.from(t.data);
  a.shape = t.shape;
  return a;
}

function pageForward(pixels, name) {
  // The image entry of an added X-ray (pixels: (H * W) gray values), like minicnn's.
  const [h, w] = DATA.inputShape, image = Float32Array.from(pixels);
  image.shape = [h, w];
  const entry = { name, label: null, correct: null, added: true, image, exact: {}, maps: [],
                  dense: {}, backward: null, adam: null };
  let x = { shape: [h, w, 1], data: Float64Array.from(image) };
  DATA.layers.forEach((L, i) => {
    const y = FORWARD[L.type](L, x);
    if (L.type === "Dense") entry.dense[i] = denseTop(L, x.data, y.z, y.data);
    if (L.type === "Conv2D" && i > 0) entry.exact[i] = typed(x);
    entry.maps.push(y.shape.length === 1 ? { vector: typed(y) } : { full: typed(y) });
    if (i === DATA.layers.length - 1) entry.logits = Array.from(y.z || y.data);
    x = y;
  });
  entry.probs = Array.from(x.data);
  entry.probability = entry.probs.length > 1 ? entry.probs[1] : entry.probs[0];
  entry.predicted = entry.probs.length <= 2 ? Number(entry.probability >= DATA.threshold)
    : entry.probs.indexOf(Math.max(...entry.probs));
  return entry;
}

function addImage(pixels, height, width, name = "added image") {
  // Add an X-ray given as H * W gray values in [0, 1], row-major, at the model's input
  // size; its forward pass runs here. Returns its index in images().
  const [h, w] = DATA.inputShape;
  if (height !== h) throw new RangeError("height must be " + h + ", got " + String(height));
  if (width !== w) throw new RangeError("width must be " + w + ", got " + String(width));
  if (!pixels || pixels.length !== h * w) {
    throw new RangeError("pixels must hold height * width = " + h * w + " values, got " +
      String(pixels && pixels.length));
  }
  const bad = Array.prototype.findIndex.call(pixels, (v) => !(v >= 0 && v <= 1));
  if (bad >= 0) {
    throw new RangeError("pixels must be gray values in [0, 1], got " + String(pixels[bad]) +
      " at index " + bad);
  }
  DATA.images.push(pageForward(pixels, name));
  return DATA.images.length - 1;
}

async function fileToPixels(file) {
  // A PNG or JPEG file as the model's input: drawn (smoothed) onto an H x W canvas, then
  // gray = 0.2125 R + 0.7154 G + 0.0721 B (skimage's rgb2gray weights), in [0, 1].
  const [h, w] = DATA.inputShape, bitmap = await createImageBitmap(file);
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(bitmap, 0, 0, w, h);
  const rgba = ctx.getImageData(0, 0, w, h).data, pixels = new Float64Array(h * w);
  for (let p = 0; p < h * w; p++) {
    pixels[p] = (0.2125 * rgba[4 * p] + 0.7154 * rgba[4 * p + 1] +
      0.0721 * rgba[4 * p + 2]) / 255;
  }
  return pixels;
}

async function addFile(file) {
  try {
    const n = addImage(await fileToPixels(file), ...DATA.inputShape.slice(0, 2), file.name);
    setImage(n);
    $("add-status").textContent = "Added " + file.name + " as image " + n + ".";
  } catch (err) {
    $("add-status").textContent = "Could not read " + file.name + ": " + err.message;
  }
}

function wireAddImage() {
  // The "your own X-ray" box: choose a file or drop one on the box.
  const input = $("add-file"), box = $("add-box");
  input.onchange = () => { if (input.files[0]) addFile(input.files[0]); };
  box.ondragover = (e) => { e.preventDefault(); box.classList.add("over"); };
  box.ondragleave = () => box.classList.remove("over");
  box.ondrop = (e) => {
    e.preventDefault();
    box.classList.remove("over");
    if (e.dataTransfer.files[0]) addFile(e.dataTransfer.files[0]);
  };
}

// ---------------------------------------------------------------------------------------
// 11. The network at a glance (desktop): the layers left to right, and for a convolution or
//     a pooling the selected output pixel joined by lines to the input window it reads; the
//     window slides to its new place when stepping (not with prefers-reduced-motion).
// ---------------------------------------------------------------------------------------
const NET_SIDE = 180, NET_GAP = 120;
let netFrom = null;        // the window's last drawn place, where a slide starts

function renderNetwork() {
  const box = $("network");
  box.innerHTML = "";
  const strip = document.createElement("div");
  strip.className = "net-strip";
  for (let i = -1; i < DATA.layers.length; i++) {
    const L = layerInfo(i), chip = document.createElement("button");
    chip.className = "chip" + (i === state.layer ? " on" : "");
    chip.id = "chip-" + i;
    chip.innerHTML = esc(L.name) + "<br><span>" + shapeText(L.outputShape) + "</span>";
    chip.setAttribute("aria-pressed", String(i === state.layer));
    chip.onclick = () => select(i, 0);
    strip.appendChild(chip);
  }
  box.appendChild(strip);
  const L = state.layer >= 0 ? DATA.layers[state.layer] : null;
  if (!L || !L.window || L.outputShape.length !== 3) return;
  const canvas = document.createElement("canvas");
  canvas.id = "net-lines";
  canvas.width = 2 * NET_SIDE + NET_GAP;
  canvas.height = NET_SIDE + 24;
  canvas.setAttribute("role", "img");
  box.appendChild(canvas);
  slideWindow(canvas, netPlaces());
}

function netPlaces() {
  // The window (top, left, kh, kw) in the input map and the selected output pixel.
  const L = DATA.layers[state.layer], [kh, kw] = L.window.size;
  return { top: state.row * L.window.strides[0] - L.window.padBefore[0],
           left: state.col * L.window.strides[1] - L.window.padBefore[1], kh, kw,
           row: state.row, col: state.col, layer: state.layer, map: state.map };
}

function slideWindow(canvas, to) {
  // Draw the window at `to`; after a step of the same map, slide it there from netFrom.
  const from = netFrom, still = matchMedia("(prefers-reduced-motion: reduce)").matches;
  netFrom = to;
  const same = from && from.layer === to.layer && from.map === to.map;
  if (still || !same || (from.top === to.top && from.left === to.left)) {
    drawNetwork(canvas, to);
    return;
  }
  const began = performance.now(), ms = 250;
  const frame = (now) => {
    if (!canvas.isConnected) return;
    const t = Math.min((now - began) / ms, 1), mix = (a, b) => a + (b - a) * t;
    drawNetwork(canvas, { ...to, top: mix(from.top, to.top), left: mix(from.left, to.left),
                          row: mix(from.row, to.row), col: mix(from.col, to.col) });
    if (t < 1) requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

function drawNetwork(canvas, p) {
  // Input channel j (or the same channel, for a pooling) on the left, the output map on the
  // right, each NET_SIDE px; the pixel's corners joined to the window's.
  const i = state.layer, L = DATA.layers[i], img = DATA.images[state.image];
  const input = i === 0 ? imageGrid(img) : forwardGrid(img, i - 1), out = forwardGrid(img, i);
  const j = L.type === "Conv2D" ? Math.min(state.inChannel, input.c - 1) : state.map;
  const ctx = canvas.getContext("2d");
  const left = activationCanvas(input, j), right = activationCanvas(out, state.map);
  const si = NET_SIDE / Math.max(input.h, input.w), so = NET_SIDE / Math.max(out.h, out.w);
  const x0 = NET_SIDE + NET_GAP;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(left, 0, 0, input.w * si, input.h * si);
  ctx.drawImage(right, x0, 0, out.w * so, out.h * so);
  ctx.strokeStyle = MARK;
  ctx.lineWidth = 2;
  const win = [p.left * si, p.top * si, p.kw * si, p.kh * si];
  const px = [x0 + p.col * so, p.row * so, so, so];
  ctx.strokeRect(...win);
  ctx.strokeRect(...px);
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (const [a, b] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
    ctx.moveTo(win[0] + a * win[2], win[1] + b * win[3]);
    ctx.lineTo(px[0] + a * px[2], px[1] + b * px[3]);
  }
  ctx.stroke();
  ctx.fillStyle = "#1d232a";
  ctx.font = "12px system-ui, sans-serif";
  const name = i === 0 ? "the X-ray" : DATA.layers[i - 1].name + ", channel " + j;
  ctx.fillText(name, 0, NET_SIDE + 16);
  ctx.fillText(L.name + ", map " + state.map, x0, NET_SIDE + 16);
  canvas.setAttribute("aria-label", "pixel (row " + state.row + ", column " + state.col +
    ") of " + L.name + " map " + state.map + " reads the window at (" + p.top + ", " +
    p.left + ") of " + name);
}

// ---------------------------------------------------------------------------------------
// 9. Start: inflate the data, draw, expose the API.
// ---------------------------------------------------------------------------------------
function render() {
  keepingFocus(() => {
    renderImages();
    renderOverview();
    renderDetail();
  });
}

function setMode(mode) {
  if (mode !== "forward" && mode !== "backward") {
    throw new RangeError('mode must be "forward" or "backward", got ' + String(mode));
  }
  state.mode = mode;
  $("mode-forward").classList.toggle("on", mode === "forward");
  $("mode-backward").classList.toggle("on", mode === "backward");
  $("mode-forward").setAttribute("aria-pressed", String(mode === "forward"));
  $("mode-backward").setAttribute("aria-pressed", String(mode === "backward"));
  $("class-box").hidden = mode !== "backward";
  render();
}

function wireControls() {
  $("mode-forward").onclick = () => setMode("forward");
  $("mode-backward").onclick = () => setMode("backward");
  const sel = $("class-select");
  sel.innerHTML = '<option value="">the image\'s label (true, else predicted)</option>' +
    DATA.classNames.map((n, k) => '<option value="' + k + '">' + esc(n) + "</option>").join("");
  sel.onchange = () => { state.cls = sel.value === "" ? null : Number(sel.value); render(); };
  const range = $("range-select");
  range.onchange = () => { state.range = range.value; render(); };
}

function describeModel() {
  $("source").textContent = "Model: " + DATA.source + "; " +
    DATA.params.toLocaleString("en") + " parameters; input " + shapeText(DATA.inputShape) +
    "; decision threshold " + DATA.threshold.toFixed(3) + ". Every number was computed " +
    "by minicnn " + DATA.version + " when this page was written.";
  $("untrained").hidden = !DATA.untrained;
}

function setImage(n) {
  state.image = checkIndex("image", n, DATA.images.length);
  render();
}

const API = {
  images: () => DATA.images.map((im) => ({
    name: im.name, probability: im.probability, predicted: className(im.predicted),
    added: Boolean(im.added),
    label: im.label === null ? null : className(im.label) })),
  layers: () => DATA.layers.map((l) => ({ name: l.name, outputShape: l.outputShape })),
  formula, gradient, flattenIndex, select: checkedSelect, setMode, setImage, addImage, state,
};

async function start() {
  await unpackAll(DATA);
  describeModel();
  wireControls();
  wireAddImage();
  state.layer = Math.max(0, DATA.layers.findIndex((l) => l.type === "Conv2D"));
  render();
  select(state.layer, 0);
  window.minicnnExplore = API;
  document.documentElement.dataset.ready = "true";
  document.documentElement.dataset.readyMs = String(Math.round(performance.now()));
}

start().catch((err) => {
  $("error").hidden = false;
  $("error").textContent = "The page could not start: " + err;
  throw err;
});
