"use strict";
// ---------------------------------------------------------------------------------------
// 1. The data: JSON written by minicnn.explore; arrays are zlib + base64 ({b64, dtype,
//    shape}) and are inflated here into typed arrays.
// ---------------------------------------------------------------------------------------
const DATA = JSON.parse(document.getElementById("explore-data").textContent);
const TYPED = { float32: Float32Array, uint8: Uint8Array };

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
const state = { image: 0, mode: "forward", cls: null, layer: 0, map: 0, row: 0, col: 0,
                inChannel: -1 };

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
  return { c: 1, h, w, get: (k, r, col) => img.image[r * w + col], exact: true };
}

function forwardGrid(img, i) {
  // Output of layer i (-1: the input X-ray) for one image.
  if (i < 0) return imageGrid(img);
  if (img.exact[i + 1] !== undefined) return exactGrid(img.exact[i + 1]);
  const m = img.maps[i];
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

function currentClass(img) {
  if (state.cls !== null) return state.cls;
  return img.label === null ? img.predicted : img.label;
}

function gridFor(i) {
  const img = DATA.images[state.image];
  return state.mode === "forward" ? forwardGrid(img, i) : backwardGrid(img, i, currentClass(img));
}

// ---------------------------------------------------------------------------------------
// 3. The numbers the views show (also the console API, window.minicnnExplore).
// ---------------------------------------------------------------------------------------
function layerIndex(layer) {
  if (typeof layer === "number") return layer;
  const i = DATA.layers.findIndex((l) => l.name === layer);
  if (i < 0) throw new Error("no layer named " + layer);
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
  const i = layerIndex(layer), L = DATA.layers[i], img = DATA.images[image];
  if (L.type !== "Conv2D") throw new Error(L.name + " is not a Conv2D");
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
  const img = DATA.images[image];
  const entry = img.backward[cls === undefined ? currentClass(img) : cls];
  return layer === "input" ? entry.inputSummary : entry.summary[layerIndex(layer)];
}

function flattenIndex(shape, row, col, channel) {
  // Where (row, col, channel) of an (H, W, C) map lands in the flattened vector.
  return (row * shape[1] + col) * shape[2] + channel;
}

// ---------------------------------------------------------------------------------------
// 4. Drawing: colour maps, thumbnails, the big map.
// ---------------------------------------------------------------------------------------
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const DIVERGING = [[49, 54, 149], [116, 173, 209], [245, 245, 245], [244, 109, 67],
                   [165, 0, 38]];

function colour(stops, t) {    // t in [0, 1] -> [r, g, b], linear between the stops
  const x = Math.min(Math.max(t, 0), 1) * (stops.length - 1);
  const i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
  return stops[i].map((v, n) => v + f * (stops[i + 1][n] - v));
}

function lookupTable(stops) {  // 256 colours, so that drawing a map needs no arithmetic
  return Array.from({ length: 256 }, (_, n) => colour(stops, n / 255).map(Math.round));
}

const TABLES = { forward: lookupTable(VIRIDIS), backward: lookupTable(DIVERGING) };

function tableColour(t) {      // t in [0, 1] -> [r, g, b] from the current mode's table
  return TABLES[state.mode][Math.round(Math.min(Math.max(t, 0), 1) * 255)];
}

function layerRange(g) {
  // Forward: [min, max] over all maps of the layer; backward: [-m, m], m = max |value|.
  let lo = Infinity, hi = -Infinity;
  for (let k = 0; k < g.c; k++) {
    for (let r = 0; r < g.h; r++) {
      for (let c = 0; c < g.w; c++) {
        const v = g.get(k, r, c);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  }
  if (state.mode === "forward") return [lo, hi];
  const m = Math.max(Math.abs(lo), Math.abs(hi));
  return [-m, m];
}

function mapCanvas(g, k, range) {
  // Map k at its own size on an off-screen canvas, coloured over range.
  const canvas = document.createElement("canvas");
  canvas.width = g.w;
  canvas.height = g.h;
  const ctx = canvas.getContext("2d"), image = ctx.createImageData(g.w, g.h);
  const span = range[1] - range[0] || 1;
  for (let r = 0; r < g.h; r++) {
    for (let c = 0; c < g.w; c++) {
      const rgb = tableColour((g.get(k, r, c) - range[0]) / span);
      image.data.set([rgb[0], rgb[1], rgb[2], 255], 4 * (r * g.w + c));
    }
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

function grayCanvas(img) {     // the X-ray itself
  const g = imageGrid(img), canvas = document.createElement("canvas");
  canvas.width = g.w;
  canvas.height = g.h;
  const ctx = canvas.getContext("2d"), image = ctx.createImageData(g.w, g.h);
  for (let p = 0; p < g.w * g.h; p++) {
    const v = Math.round(255 * img.image[p]);
    image.data.set([v, v, v, 255], 4 * p);
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

function thumbLayout(g) {
  const size = g.h >= 60 ? 52 : g.h >= 20 ? 40 : 30;
  const cols = Math.min(g.c, 16);
  return { size, cols, rows: Math.ceil(g.c / cols), step: size + 2 };
}

function drawThumbnails(canvas, g) {
  // All maps of a layer in a grid; a click selects one.
  const t = thumbLayout(g), range = layerRange(g);
  canvas.width = t.cols * t.step;
  canvas.height = t.rows * t.step;
  const ctx = canvas.getContext("2d");
  for (let k = 0; k < g.c; k++) {
    const x = (k % t.cols) * t.step, y = Math.floor(k / t.cols) * t.step;
    ctx.drawImage(mapCanvas(g, k, range), x, y, t.size, t.size);
  }
  canvas.onclick = (e) => {
    const s = canvas.width / canvas.getBoundingClientRect().width;
    const row = Math.floor(e.offsetY * s / t.step), col = Math.floor(e.offsetX * s / t.step);
    const k = row * t.cols + col;
    if (k < g.c) select(Number(canvas.dataset.layer), k);
  };
}

function drawVector(canvas, g) {
  // A 1-D layer as a strip of cells (wrapped every 720 values); a click selects an entry.
  const per = Math.min(g.w, 720), rows = Math.ceil(g.w / per), cell = g.w <= 64 ? 8 : 1;
  canvas.width = per * cell;
  canvas.height = Math.max(rows * cell, 12);
  const ctx = canvas.getContext("2d"), range = layerRange(g), span = range[1] - range[0] || 1;
  const h = canvas.height / rows;
  for (let n = 0; n < g.w; n++) {
    const rgb = tableColour((g.get(0, 0, n) - range[0]) / span);
    ctx.fillStyle = "rgb(" + rgb.join(",") + ")";
    ctx.fillRect((n % per) * cell, Math.floor(n / per) * h, cell, h);
  }
  canvas.onclick = (e) => {
    const rect = canvas.getBoundingClientRect();
    const col = Math.floor(e.offsetX * canvas.width / rect.width / cell);
    const row = Math.floor(e.offsetY * canvas.height / rect.height / h);
    select(Number(canvas.dataset.layer), 0, 0, Math.min(row * per + col, g.w - 1));
  };
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

function row(cells, tag = "td") {
  return "<tr>" + cells.map((c) => "<" + tag + ">" + c + "</" + tag + ">").join("") + "</tr>";
}

function shapeText(s) { return s.join(" " + TIMES + " "); }

function verdict(img) {
  if (img.correct === null) return "";
  return img.correct ? '<span class="right">right</span>' : '<span class="wrong">wrong</span>';
}

function renderImages() {
  const box = $("images");
  box.innerHTML = "";
  DATA.images.forEach((img, n) => {
    const card = document.createElement("div");
    card.className = "image-card" + (n === state.image ? " selected" : "");
    card.id = "image-" + n;
    const truth = img.label === null ? "unknown" : esc(className(img.label));
    card.innerHTML = "<div><b>" + esc(img.name) + "</b></div><div>true: " + truth +
      "</div><div>P(" + positive() + ") = <b>" + img.probability.toFixed(3) + "</b> " +
      verdict(img) + "</div>";
    card.prepend(grayCanvas(img));
    card.onclick = () => { state.image = n; render(); };
    box.appendChild(card);
  });
}

const INPUT_LAYER = { name: "input", type: "X-ray", activation: null,
                      note: "The gray X-ray, values in [0, 1]." };

function layerRow(i) {
  // One row of the overview: the layer's name, shape, note and its maps.
  const L = i < 0 ? { ...INPUT_LAYER, outputShape: DATA.inputShape } : DATA.layers[i];
  const div = document.createElement("div");
  div.className = "layer" + (i === state.layer ? " selected" : "");
  div.id = "layer-" + i;
  const act = L.activation ? " (" + esc(L.activation) + ")" : "";
  let head = "<h2>" + esc(L.name) + ' <span class="sub">' + esc(L.type) + act + ", output " +
    shapeText(L.outputShape) + "</span></h2>";
  if (state.mode === "backward") head += gradientText(i);
  div.innerHTML = head + '<p class="note">' + esc(L.note || "") + "</p>";
  div.appendChild(i < 0 && state.mode === "forward" ? inputCanvas() : mapsCanvas(i));
  if (i === DATA.layers.length - 1) div.appendChild(probabilityBars());
  return div;
}

function mapsCanvas(i) {
  const g = gridFor(i), canvas = document.createElement("canvas");
  canvas.className = "maps";
  canvas.dataset.layer = i;
  if (g.h === 1) drawVector(canvas, g); else drawThumbnails(canvas, g);
  return canvas;
}

function inputCanvas() {       // the X-ray in gray, 150 px wide; a click selects it
  const canvas = grayCanvas(DATA.images[state.image]);
  canvas.className = "maps";
  canvas.dataset.layer = -1;
  canvas.style.width = "150px";
  canvas.onclick = () => select(-1, 0);
  return canvas;
}

function gradientText(i) {
  const img = DATA.images[state.image], s = gradient(state.image, i < 0 ? "input" : i);
  const what = i === DATA.layers.length - 1 ? "dL/d(logits)" : "dL/d(output)";
  return '<div class="grad">' + what + ": shape " + shapeText(s.shape) + ", min " + fmt(s.min) +
    ", max " + fmt(s.max) + ", mean |g| " + fmt(s.meanAbs) + " (label " +
    esc(className(currentClass(img))) + ")</div>";
}

function probabilityBars() {
  const img = DATA.images[state.image], div = document.createElement("div");
  const bars = img.probs.map((p, k) => "<div>" + esc(className(img.probs.length > 1 ? k : 1)) +
    ': <span class="bar" style="width:' + Math.round(200 * p) + 'px"></span> ' +
    p.toFixed(4) + "</div>");
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

function gradCamRow() {
  // Grad-CAM (computed by minicnn.explain.grad_cam) over the X-ray, for the chosen class.
  const img = DATA.images[state.image], div = document.createElement("div");
  div.className = "layer";
  div.id = "gradcam";
  const cls = currentClass(img), cam = img.backward[cls].gradcam;
  div.innerHTML = "<h2>Grad-CAM for " + esc(className(cls)) + '</h2><p class="note">' +
    "Red where the last convolution's maps, each weighted by the mean gradient of the " +
    "class score over it, add up to a positive value" +
    (cam ? "" : " (this model has no convolution)") + "." +
    (cam && Math.max(...cam) === 0 ? " Here it is zero everywhere: no positive evidence " +
      "for this class." : "") + "</p>";
  const canvas = grayCanvas(img);
  if (cam) overlay(canvas, cam);
  canvas.style.width = "220px";
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
  state.layer = layer;
  state.map = map;
  const g = gridFor(layer);
  const clamp = (v, n) => Math.min(Math.max(v, 0), n - 1);
  state.row = r === undefined ? Math.floor(g.h / 2) : clamp(r, g.h);
  state.col = c === undefined ? Math.floor(g.w / 2) : clamp(c, g.w);
  document.querySelectorAll(".layer").forEach(
    (d) => d.classList.toggle("selected", d.id === "layer-" + layer));
  renderDetail();
}

function bigMap(g) {
  // The selected map, enlarged; a click selects a pixel. The selected pixel is outlined.
  const scale = Math.max(1, Math.floor(300 / Math.max(g.h, g.w)));
  const canvas = document.createElement("canvas");
  canvas.className = "big";
  canvas.id = "big-map";
  canvas.dataset.scale = scale;
  canvas.width = g.w * scale;
  canvas.height = g.h * scale;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(mapCanvas(g, state.map, layerRange(g)), 0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = "#ff00ff";
  ctx.lineWidth = 2;
  ctx.strokeRect(state.col * scale, state.row * scale, scale, scale);
  canvas.onclick = (e) => {
    const rect = canvas.getBoundingClientRect();
    const c = Math.floor(e.offsetX * canvas.width / rect.width / scale);
    const r = Math.floor(e.offsetY * canvas.height / rect.height / scale);
    select(state.layer, state.map, Math.min(r, g.h - 1), Math.min(c, g.w - 1));
  };
  return canvas;
}

function pixelValue(i, g) {
  // The selected pixel's value: exact where possible, else the 8-bit copy (marked).
  const v = state.mode === "forward"
    ? valueAt(DATA.images[state.image], i, state.map, state.row, state.col)
    : { value: g.get(state.map, state.row, state.col), exact: false };
  return "<p>" + (state.mode === "forward" ? "value" : "gradient") + " here: " +
    (v.exact ? "" : "\u2248 ") + '<span id="map-value">' + fmt(v.value, 5) + "</span>" +
    (v.exact ? "" : " (8-bit display copy of minicnn's number)") + "</p>";
}

function entryValue(i, g) {    // a 1-D layer's entry: stored as float32, exact
  const what = state.mode === "forward" ? "value" : "gradient";
  return "<p>" + what + " of entry " + state.col + ': <span id="map-value">' +
    fmt(g.get(0, 0, state.col), 6) + "</span></p>";
}

function renderDetail() {
  const box = $("detail"), i = state.layer;
  const L = i < 0 ? null : DATA.layers[i], g = gridFor(i);
  const where = g.h > 1 ? ", map " + state.map + ", pixel (row " + state.row + ", column " +
    state.col + ")" : "";
  box.innerHTML = "<h2>" + (L ? esc(L.name) + " (" + esc(L.type) + ")" : "input X-ray") +
    where + "</h2>";
  if (g.h > 1) {
    box.appendChild(bigMap(g));
    box.insertAdjacentHTML("beforeend", pixelValue(i, g));
  } else {
    box.insertAdjacentHTML("beforeend", entryValue(i, g));
  }
  if (L) box.insertAdjacentHTML("beforeend", detailFor(L, i));
  wireDetail();
}

function detailFor(L, i) {
  if (L.type === "Conv2D") return state.mode === "forward" ? convFormula(i) : convBackward(i);
  if (L.type.endsWith("Pooling2D") && L.window) return poolView(i);
  if (L.type === "Flatten") return flattenView(i);
  if (L.type === "Dense") return denseView(i);
  return "";
}

// ---------------------------------------------------------------------------------------
// 6. The formula view: z = sum_j sum_window w * x + b (eq. 1), y = phi(z) (eq. 2).
// ---------------------------------------------------------------------------------------
function numberTable(rows, highlight) {
  const cell = (v, a, b) => "<td" + (highlight && highlight(a, b) ? ' class="win"' : "") +
    ">" + fmt(v) + "</td>";
  return '<table class="nums">' + rows.map(
    (r, a) => "<tr>" + r.map((v, b) => cell(v, a, b)).join("") + "</tr>").join("") + "</table>";
}

function labelled(label, table) {
  return '<div><div class="sub">' + label + "</div>" + table + "</div>";
}

const STEP_BUTTONS = '<button id="step-left">\u25c0 step left</button> ' +
  '<button id="step-right">step right \u25b6</button>';

function convFormula(i) {
  const f = formula(state.image, i, state.row, state.col, state.map), L = DATA.layers[i];
  const cin = f.partial.length, j = state.inChannel;
  let html = "<h3>Formula view</h3><p>The filter's " + L.window.size.join(TIMES) + TIMES + cin +
    " kernel sits on the input window whose top-left cell is (" + f.top + ", " + f.left +
    "). Each input channel j gives a partial sum s_j = sum of w " + TIMES +
    " x over the window.</p>" + channelSelect(cin, true) + " " + STEP_BUTTONS;
  html += j >= 0 ? channelTables(f, j)
    : "<div>partial sums s_j, one per input channel:</div>" + numberTable(chunk(f.partial, 8));
  const sum = f.partial.reduce((s, v) => s + v, 0);
  html += '<div class="eq">eq. (1): z = \u03a3_j s_j + b = ' + fmt(sum, 6) + " + (" +
    fmt(f.bias, 6) + ') = <b id="formula-z" data-value="' + f.z + '">' + fmt(f.z, 6) +
    "</b>\neq. (2): y = " + (L.activation || "identity") + '(z) = <b id="formula-y">' +
    fmt(f.y, 6) + "</b></div>";
  return html + '<div><canvas id="window-map" class="big"></canvas></div>' + inputWindowNote(i);
}

function drawWindowMap() {
  // The formula view's input channel (or the X-ray) with the window outlined.
  const canvas = $("window-map"), i = state.layer, L = DATA.layers[i];
  const img = DATA.images[state.image], g = i === 0 ? imageGrid(img) : forwardGrid(img, i - 1);
  const j = Math.min(Math.max(state.inChannel, 0), g.c - 1);
  const scale = Math.max(1, Math.floor(200 / Math.max(g.h, g.w)));
  const [kh, kw] = L.window.size, f = formula(state.image, i, state.row, state.col, state.map);
  canvas.width = g.w * scale;
  canvas.height = g.h * scale;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(mapCanvas(g, j, layerRange(g)), 0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = "#ff00ff";
  ctx.lineWidth = 2;
  ctx.strokeRect(f.left * scale, f.top * scale, kw * scale, kh * scale);
}

function channelTables(f, j) {
  // Input channel j of the window, the kernel slice, their products and s_j.
  const win = f.window.map((r) => r.map((v) => v[j]));
  const ker = f.kernel.map((r) => r.map((v) => v[j]));
  const products = win.map((r, a) => r.map((v, b) => v * ker[a][b]));
  return '<div class="row">' + labelled("input x, channel " + j, numberTable(win)) +
    labelled("kernel w[:, :, " + j + ", " + state.map + "]", numberTable(ker)) +
    labelled("w " + TIMES + " x", numberTable(products)) + "</div>" +
    '<div class="eq">s_' + j + " = " + fmt(f.partial[j], 6) + "</div>";
}

function chunk(values, n) {
  const rows = [];
  for (let k = 0; k < values.length; k += n) rows.push(values.slice(k, k + n));
  return rows;
}

function channelSelect(cin, withSum) {
  let options = withSum ? '<option value="-1">sum over all ' + cin + " input channels</option>"
    : "";
  for (let j = 0; j < cin; j++) {
    const chosen = j === state.inChannel ? " selected" : "";
    options += '<option value="' + j + '"' + chosen + ">input channel " + j + "</option>";
  }
  return '<label>show: <select id="in-channel">' + options + "</select></label>";
}

function inputWindowNote(i) {
  const prev = i === 0 ? "the X-ray" : DATA.layers[i - 1].name;
  return '<p class="note">The window (outlined above, on input channel ' +
    Math.max(state.inChannel, 0) + ") is read from " + esc(prev) + " (the exact float32 " +
    "numbers of minicnn's forward pass); the page adds them up here, and minicnn's own " +
    "convolution gave the map above.</p>";
}

function wireDetail() {
  const sel = $("in-channel");
  if (sel) sel.onchange = () => { state.inChannel = Number(sel.value); renderDetail(); };
  const g = gridFor(state.layer);
  const step = (d) => () =>
    select(state.layer, state.map, state.row, Math.min(Math.max(state.col + d, 0), g.w - 1));
  if ($("step-left")) $("step-left").onclick = step(-1);
  if ($("step-right")) $("step-right").onclick = step(1);
  if ($("window-map")) drawWindowMap();
  document.querySelectorAll("[data-unit]").forEach((el) => {
    el.onclick = () => select(state.layer, 0, 0, Number(el.dataset.unit));
  });
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

function convBackward(i) {
  const img = DATA.images[state.image], L = DATA.layers[i], cls = currentClass(img);
  const { entry, factor } = backwardEntry(img, cls);
  const j = Math.max(state.inChannel, 0), k = state.map;
  const dK = kernelSlice(entry.dK[i], j, k, factor), K = kernelSlice(L.kernel, j, k, 1);
  const change = kernelSlice(img.adam.dKernel[i], j, k, 1);
  const after = K.map((r, a) => r.map((v, b) => v + change[a][b]));
  const db = entry.dB[i] ? "dL/db = " + fmt(factor * entry.dB[i][k], 6) : "no bias";
  return "<h3>Gradient of the kernel</h3><p>dL/dw[:, :, " + j + ", " + k + "] for the label " +
    esc(className(cls)) + " (the loss is " + fmt(img.backward[cls].loss) + "); " + db +
    ".</p>" + channelSelect(L.kernel.shape[2], false) +
    '<div class="row">' + labelled("dL/dw", numberTable(dK)) + "</div>" +
    "<h3>One Adam step on this image</h3><p>minicnn trained a copy of the model for one " +
    "step on this image with its label " + esc(className(img.adam.label)) + " (learning " +
    "rate 0.001). The first Adam step moves every weight by about 0.001 against the sign " +
    "of its gradient, whatever the gradient's size.</p><div class=\"row\">" +
    labelled("before", numberTable(K)) + labelled("change", numberTable(change)) +
    labelled("after", numberTable(after)) + "</div>";
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
  if (state.mode === "backward" && isMax) html += poolRoute(i, w);
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
  const [, w, c] = shape;
  const ch = n % c, col = Math.floor(n / c) % w, r = Math.floor(n / (c * w));
  return "<p>Entry " + n + " of the " + L.outputShape[0] + "-long vector is (row " + r +
    ", column " + col + ", channel " + ch + ") of " + esc(DATA.layers[i - 1].name) +
    ": index = (row " + TIMES + " " + w + " + column) " + TIMES + " " + c + " + channel = (" +
    r + " " + TIMES + " " + w + " + " + col + ") " + TIMES + " " + c + " + " + ch + " = " +
    flattenIndex(shape, r, col, ch) + ". Click the strip to pick an entry.</p>";
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
  const rows = d.top[u].map(([n, x, w]) => row([inputName(i, n), fmt(x), fmt(w), fmt(x * w)]));
  const others = L.inputShape[0] - d.top[u].length;
  let html = unitButtons(d, u) + "<h3>Unit " + u + ": the largest contributions x_i " + TIMES +
    " w_i</h3>" + '<table class="nums">' +
    row(["input i", "x_i", "w_i", "x_i " + TIMES + " w_i"], "th") + rows.join("") +
    row(["the other " + others, "", "", fmt(d.rest[u])]) +
    row(["bias b", "", "", fmt(L.bias[u])]) + "</table>" +
    '<div class="eq">eq. (1): z = ' + fmt(z, 6) + "\neq. (2): y = " +
    (L.activation || "identity") + "(z) = " + fmt(d.y[u], 6) + "</div>";
  if (L.activation === "softmax") html += softmaxView(d);
  return html;
}

function softmaxView(d) {
  const top = Math.max(...d.z), ez = d.z.map((v) => Math.exp(v - top));
  const total = ez.reduce((s, v) => s + v, 0);
  const rows = d.z.map((v, k) => row([esc(className(k)), fmt(v), fmt(ez[k]), fmt(d.y[k])]));
  return "<h3>Softmax: logits to probabilities</h3><p>p_k = e^(z_k) / \u03a3_j e^(z_j), " +
    "each z shifted by the largest one first (which changes nothing).</p>" +
    '<table class="nums">' + row(["class", "z_k", "e^(z_k - max)", "p_k"], "th") +
    rows.join("") + "</table><p>\u03a3 e = " + fmt(total) + "</p>";
}

// ---------------------------------------------------------------------------------------
// 9. Start: inflate the data, draw, expose the API.
// ---------------------------------------------------------------------------------------
function render() {
  renderImages();
  renderOverview();
  renderDetail();
}

function setMode(mode) {
  state.mode = mode;
  $("mode-forward").classList.toggle("on", mode === "forward");
  $("mode-backward").classList.toggle("on", mode === "backward");
  $("class-box").hidden = mode !== "backward";
  render();
}

function wireControls() {
  $("mode-forward").onclick = () => setMode("forward");
  $("mode-backward").onclick = () => setMode("backward");
  const sel = $("class-select");
  sel.innerHTML = '<option value="">true label</option>' + DATA.classNames.map(
    (n, k) => '<option value="' + k + '">' + esc(n) + "</option>").join("");
  sel.onchange = () => { state.cls = sel.value === "" ? null : Number(sel.value); render(); };
}

function describeModel() {
  $("source").textContent = "Model: " + DATA.source + "; " +
    DATA.params.toLocaleString("en") + " parameters; input " + shapeText(DATA.inputShape) +
    "; decision threshold " + DATA.threshold.toFixed(3) + ". Every number was computed " +
    "by minicnn " + DATA.version + " when this page was written.";
  $("untrained").hidden = !DATA.untrained;
}

const API = {
  images: () => DATA.images.map((im) => ({
    name: im.name, probability: im.probability,
    label: im.label === null ? null : className(im.label) })),
  layers: () => DATA.layers.map((l) => ({ name: l.name, outputShape: l.outputShape })),
  formula, gradient, flattenIndex, select, setMode, state,
  setImage: (n) => { state.image = n; render(); },
};

async function start() {
  await unpackAll(DATA);
  describeModel();
  wireControls();
  state.layer = Math.max(0, DATA.layers.findIndex((l) => l.type === "Conv2D"));
  render();
  select(state.layer, 0);
  window.minicnnExplore = API;
  document.documentElement.dataset.ready = "true";
}

start().catch((err) => {
  $("error").hidden = false;
  $("error").textContent = "The page could not start: " + err;
  throw err;
});
