// The drawing page: draw on #canvas, send the pixels to POST /api/predict, show what comes back.
// Plain JavaScript, no libraries; every picture is drawn on a <canvas>.
"use strict";

const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
const SEND_SIDE = 140;          // the drawing is sent at half resolution: plenty for a 20 px digit
const THROTTLE_MS = 200;        // while a stroke goes on, at most one prediction per this
const MAX_SHIFT = 8;            // the server's limit on the nudge

const state = {
  info: null,         // GET /api/info
  drawn: false,       // anything on the canvas?
  drawing: false,
  last: null,         // last pointer position in canvas pixels
  source: "canvas",   // "canvas", "random" (a 28x28 test digit) or "upload" (an image's pixels)
  pixels: null,       // the random digit's or the uploaded image's pixels
  shift: [0, 0],      // the nudge, in pixels of the 28x28 input
  query: 0,           // token whose attention is shown; 0 = the class token
  inFlight: false,
  again: false,       // a prediction was asked for while one was running
  lastSent: 0,
  result: null,
  note: "",           // what the input is ("MNIST test digit #12, labelled 7"), kept beside the timing
};

// --- drawing ----------------------------------------------------------------------------
function clearCanvas() {
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  state.drawn = false;
}

function canvasPoint(event) {
  const r = canvas.getBoundingClientRect();
  return [(event.clientX - r.left) * canvas.width / r.width, (event.clientY - r.top) * canvas.height / r.height];
}

function strokeTo(p) {
  ctx.strokeStyle = "#fff";
  ctx.fillStyle = "#fff";
  ctx.lineWidth = canvas.width / 14;      // about MNIST's stroke width relative to the digit
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  if (state.last) {
    ctx.moveTo(state.last[0], state.last[1]);
    ctx.lineTo(p[0], p[1]);
    ctx.stroke();
  } else {
    ctx.arc(p[0], p[1], ctx.lineWidth / 2, 0, 2 * Math.PI);
    ctx.fill();
  }
  state.last = p;
  state.drawn = true;
}

canvas.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  if (state.source === "upload") clearCanvas();   // a photo is not drawn over: start afresh
  state.source = "canvas";
  state.note = "";
  state.drawing = true;
  state.last = null;
  strokeTo(canvasPoint(event));
});
canvas.addEventListener("pointermove", (event) => {
  if (!state.drawing) return;
  event.preventDefault();
  strokeTo(canvasPoint(event));
  if (performance.now() - state.lastSent > THROTTLE_MS) predict();
});
function endStroke() {
  if (!state.drawing) return;
  state.drawing = false;
  state.last = null;
  predict();
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

// --- what is sent -----------------------------------------------------------------------
function greyRows(imageData) {
  // luminance of each pixel (ITU-R 601 weights, as PIL's "L"), as rows of integers 0..255
  const { width, height, data } = imageData;
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = new Array(width);
    for (let x = 0; x < width; x++) {
      const i = 4 * (y * width + x);
      row[x] = Math.round(0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2]);
    }
    rows.push(row);
  }
  return rows;
}

function canvasPixels() {
  const small = document.createElement("canvas");
  small.width = small.height = SEND_SIDE;
  const sctx = small.getContext("2d");
  sctx.imageSmoothingEnabled = true;
  sctx.imageSmoothingQuality = "high";
  sctx.drawImage(canvas, 0, 0, SEND_SIDE, SEND_SIDE);
  return greyRows(sctx.getImageData(0, 0, SEND_SIDE, SEND_SIDE));
}

function request() {
  const body = { query: state.query, shift: state.shift };
  if (state.source === "canvas") {
    body.pixels = canvasPixels();
  } else {
    body.pixels = state.pixels;
    body.preprocess = state.source !== "random";   // a test digit is already MNIST's 28x28
  }
  return body;
}

async function predict() {
  if (state.source === "canvas" && !state.drawn) return;
  if (state.inFlight) { state.again = true; return; }
  state.inFlight = true;
  state.lastSent = performance.now();
  const started = performance.now();
  try {
    const answer = await postJSON("api/predict", request());
    state.result = answer;
    render(answer);
    const ms = Math.round(performance.now() - started);
    setStatus(state.note ? `${state.note} · answered in ${ms} ms` : `answered in ${ms} ms`);
  } catch (error) {
    setStatus(error.message, true);
  } finally {
    state.inFlight = false;
    if (state.again) { state.again = false; predict(); }
  }
}

async function postJSON(url, body) {
  const response = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" },
                                      body: JSON.stringify(body) });
  return readJSON(response);
}

async function readJSON(response) {
  let data;
  try { data = await response.json(); } catch (e) { data = { error: `HTTP ${response.status}` }; }
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function setStatus(text, isError = false) {
  const el = document.getElementById("status");
  el.textContent = text;
  el.style.color = isError ? "#b42318" : "";
}

// --- what comes back --------------------------------------------------------------------
function render(r) {
  document.getElementById("prediction").textContent = String(r.top);
  document.getElementById("confidence").textContent = `${(100 * r.probs[r.top]).toFixed(1)}% sure`;
  renderBars(r.probs, r.top);
  drawGrey(document.getElementById("input28"), r.input28, 1);
  drawPatchGrid(document.getElementById("input28"), r.grid);
  drawRollout(document.getElementById("rollout"), r.input28, r.rollout);
  renderAttention(r);
}

function renderBars(probs, top) {
  const bars = document.getElementById("bars");
  if (!bars.children.length) {
    for (let k = 0; k < probs.length; k++) {
      bars.insertAdjacentHTML("beforeend",
        `<div class="bar"><span>${k}</span><div class="track"><div class="fill"></div></div><span class="value"></span></div>`);
    }
  }
  probs.forEach((p, k) => {
    const bar = bars.children[k];
    bar.classList.toggle("top", k === top);
    bar.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    bar.querySelector(".value").textContent = `${(100 * p).toFixed(1)}%`;
  });
}

function imageOf(rows, colour) {
  // rows (h x w) of 0..1 (or 0..255 with scale) -> an offscreen canvas of h x w pixels
  const h = rows.length, w = rows[0].length;
  const c = document.createElement("canvas");
  c.width = w; c.height = h;
  const cctx = c.getContext("2d");
  const img = cctx.createImageData(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [r, g, b, a] = colour(rows[y][x]);
      const i = 4 * (y * w + x);
      img.data[i] = r; img.data[i + 1] = g; img.data[i + 2] = b; img.data[i + 3] = a;
    }
  }
  cctx.putImageData(img, 0, 0);
  return c;
}

function drawGrey(target, rows, alpha) {
  const t = target.getContext("2d");
  t.imageSmoothingEnabled = false;
  t.globalAlpha = alpha;
  t.fillStyle = "#000";
  t.fillRect(0, 0, target.width, target.height);
  t.drawImage(imageOf(rows, (v) => [v, v, v, 255]), 0, 0, target.width, target.height);
  t.globalAlpha = 1;
}

function heat(v) {
  // 0 -> transparent, 1 -> opaque orange-yellow: attention laid over the digit
  return [255, Math.round(80 + 150 * v), 0, Math.round(220 * v)];
}

function stretched(rows) {
  // rows scaled to 0..1 between their own min and max: rollout keeps every token a little
  // (the residual path), so its raw values differ only in their upper range
  const flat = rows.flat(), lo = Math.min(...flat), hi = Math.max(...flat);
  return rows.map((row) => row.map((v) => (hi > lo ? (v - lo) / (hi - lo) : 0)));
}

function drawRollout(target, input28, rollout) {
  rollout = stretched(rollout);
  drawGrey(target, input28, 1);
  const t = target.getContext("2d");
  t.imageSmoothingEnabled = true;       // a g x g map looks better smoothly enlarged
  t.drawImage(imageOf(rollout, heat), 0, 0, target.width, target.height);
}

function drawPatchGrid(target, g) {
  const t = target.getContext("2d");
  const step = target.width / g;
  t.strokeStyle = "rgba(120, 160, 255, 0.45)";
  t.lineWidth = 1;
  for (let i = 1; i < g; i++) {
    t.beginPath(); t.moveTo(i * step, 0); t.lineTo(i * step, target.height); t.stroke();
    t.beginPath(); t.moveTo(0, i * step); t.lineTo(target.width, i * step); t.stroke();
  }
  if (state.query > 0) {                 // the chosen query patch
    const row = Math.floor((state.query - 1) / g), col = (state.query - 1) % g;
    t.strokeStyle = "#ffcc00";
    t.lineWidth = 3;
    t.strokeRect(col * step + 1.5, row * step + 1.5, step - 3, step - 3);
  }
}

function renderAttention(r) {
  const grid = document.getElementById("attention");
  grid.textContent = "";
  const g = r.grid;
  r.attention.forEach((heads, l) => {
    const row = document.createElement("div");
    row.className = "row";
    row.innerHTML = `<span class="label" title="layer ${l + 1}">L${l + 1}</span>`;
    heads.forEach((att, k) => {
      // att: the query's attention over all N tokens; the patches' part as a g x g map
      const patches = att.slice(1);
      const top = Math.max(...patches) || 1;
      const map = [];
      for (let i = 0; i < g; i++) map.push(patches.slice(i * g, (i + 1) * g).map((v) => v / top));
      const c = document.createElement("canvas");
      c.width = c.height = 52;
      drawGrey(c, r.input28, 0.45);
      const t = c.getContext("2d");
      t.imageSmoothingEnabled = false;
      t.drawImage(imageOf(map, heat), 0, 0, c.width, c.height);
      c.title = `layer ${l + 1}, head ${k + 1}: ${(100 * att[0]).toFixed(0)}% on the class token`;
      row.appendChild(c);
    });
    grid.appendChild(row);
  });
  document.getElementById("query-name").textContent =
    state.query === 0 ? "the class token" : `patch ${state.query} (row ${Math.floor((state.query - 1) / g) + 1}, column ${(state.query - 1) % g + 1})`;
}

// --- controls ---------------------------------------------------------------------------
document.getElementById("clear").addEventListener("click", () => {
  clearCanvas();
  state.source = "canvas";
  state.note = "";
  state.shift = [0, 0];
  showShift();
  document.getElementById("prediction").textContent = "–";
  document.getElementById("confidence").textContent = "";
  setStatus("");
});

function showShift() {
  document.getElementById("shift").textContent = `shift (${state.shift[0]}, ${state.shift[1]})`;
}

document.querySelectorAll(".nudge button[data-dy]").forEach((button) => {
  button.addEventListener("click", () => {
    const dy = Number(button.dataset.dy), dx = Number(button.dataset.dx);
    state.shift = [Math.max(-MAX_SHIFT, Math.min(MAX_SHIFT, state.shift[0] + dy)),
                   Math.max(-MAX_SHIFT, Math.min(MAX_SHIFT, state.shift[1] + dx))];
    showShift();
    predict();
  });
});
document.getElementById("nudge-reset").addEventListener("click", () => { state.shift = [0, 0]; showShift(); predict(); });

document.getElementById("input28").addEventListener("click", (event) => {
  if (!state.result) return;
  const target = event.currentTarget, r = target.getBoundingClientRect(), g = state.result.grid;
  const col = Math.min(g - 1, Math.floor((event.clientX - r.left) / r.width * g));
  const row = Math.min(g - 1, Math.floor((event.clientY - r.top) / r.height * g));
  state.query = 1 + row * g + col;
  predict();
});
document.getElementById("query-cls").addEventListener("click", () => { state.query = 0; predict(); });

document.getElementById("random").addEventListener("click", async () => {
  try {
    const digit = await readJSON(await fetch("api/random"));
    clearCanvas();
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(imageOf(digit.pixels, (v) => [v, v, v, 255]), 0, 0, canvas.width, canvas.height);
    state.drawn = true;
    state.source = "random";
    state.pixels = digit.pixels;
    state.shift = [0, 0];
    showShift();
    state.note = `MNIST test digit #${digit.index}, labelled ${digit.label}`;
    setStatus(state.note);
    predict();
  } catch (error) {
    setStatus(error.message, true);
  }
});

document.getElementById("upload").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const img = new Image();
  img.onload = () => {
    // the image's own pixels, at most info.max_side on the longer side, go to the server
    const limit = Math.min(512, (state.info && state.info.max_side) || 512);
    const scale = Math.min(1, limit / Math.max(img.width, img.height));
    const w = Math.max(1, Math.round(img.width * scale)), h = Math.max(1, Math.round(img.height * scale));
    const c = document.createElement("canvas");
    c.width = w; c.height = h;
    const cctx = c.getContext("2d");
    cctx.fillStyle = "#fff";                 // transparent parts become paper
    cctx.fillRect(0, 0, w, h);
    cctx.drawImage(img, 0, 0, w, h);
    state.pixels = greyRows(cctx.getImageData(0, 0, w, h));
    clearCanvas();
    const fit = Math.min(canvas.width / w, canvas.height / h);
    ctx.drawImage(c, (canvas.width - w * fit) / 2, (canvas.height - h * fit) / 2, w * fit, h * fit);
    state.drawn = true;
    state.source = "upload";
    state.shift = [0, 0];
    showShift();
    state.note = `uploaded ${file.name}`;
    setStatus(state.note);
    URL.revokeObjectURL(img.src);
    predict();
  };
  img.onerror = () => setStatus(`cannot read ${file.name} as an image`, true);
  img.src = URL.createObjectURL(file);
  event.target.value = "";                   // the same file can be chosen again
});

// --- start ------------------------------------------------------------------------------
clearCanvas();
fetch("api/info").then(readJSON).then((info) => {
  state.info = info;
  const c = info.config;
  document.getElementById("model-info").textContent =
    `${info.checkpoint}: ViT, ${info.layers} layers × ${info.heads} heads, dim ${c.dim}, ` +
    `${info.grid}×${info.grid} patches of ${c.patch_size} px. Draw one digit below.`;
}).catch((error) => setStatus(error.message, true));
