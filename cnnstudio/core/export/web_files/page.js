// The exported page: loads model.json and model.onnx, runs the model with onnxruntime-web (WebAssembly,
// served from ort/ beside this file: nothing is fetched from elsewhere), and classifies a drawing, an
// opened or dropped picture, or the camera's picture. Pictures are prepared by prepare.js, CNN Studio's
// own preparation. index.html#selftest classifies samples/ and writes the results into the page.
(function () {
  "use strict";
  const TOP = 5;
  const $ = (id) => document.getElementById(id);
  let model = null;
  let session = null;
  let busy = Promise.resolve();

  ort.env.wasm.wasmPaths = new URL("ort/", location.href).href; // ort-wasm-simd-threaded.{mjs,wasm}, the only runtime files shipped
  ort.env.wasm.numThreads = 1; // threads need cross-origin isolation, which a plain static server lacks
  ort.env.wasm.proxy = false;

  function status(text, error) {
    $("status").textContent = text;
    $("status").className = error ? "error" : "";
  }

  async function load() {
    const response = await fetch("model.json");
    if (!response.ok) throw new Error("model.json: " + response.status);
    model = await response.json();
    session = await ort.InferenceSession.create("model.onnx", { executionProviders: ["wasm"] });
    document.title = model.model + " - CNN Studio";
    $("title").textContent = model.model + ", trained on " + model.dataset;
    const names = model.classes.slice(0, 12).join(", ") + (model.classes.length > 12 ? " …" : "");
    $("about").textContent = model.classes.length + " classes (" + names + "). Input " + model.input_shape[2] + "×" +
      model.input_shape[1] + (model.input_shape[0] === 1 ? " grey" : " colour") + ". Exported with CNN Studio " +
      model.cnnstudio_version + "; runs in this browser with onnxruntime-web " + model.onnxruntime_web + ".";
    $("seen").width = model.input_shape[2];
    $("seen").height = model.input_shape[1];
    $("how").textContent = model.framing.description || "";
  }

  function softmax(logits) {
    let max = -Infinity;
    for (const v of logits) if (v > max) max = v;
    const e = Array.from(logits, (v) => Math.exp(v - max));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / sum);
  }

  // RGBA pixels -> {prepared, probabilities, top}: CNN Studio's preparation, normalisation and the model.
  async function classify(rgba, width, height, topK) {
    const [c, h, w] = model.input_shape;
    const prepared = CNNPrep.prepare(rgba, width, height, model.framing);
    const input = CNNPrep.normalise(prepared.pixels, model.mean, model.std, c, h * w);
    const feeds = { input: new ort.Tensor("float32", input, [1, c, h, w]) };
    const out = await session.run(feeds);
    const probabilities = softmax(out.logits.data);
    const order = probabilities.map((p, i) => i).sort((a, b) => probabilities[b] - probabilities[a] || a - b);
    const top = order.slice(0, Math.max(1, topK)).map((i) => ({ index: i, label: model.classes[i], probability: probabilities[i] }));
    return { prepared: prepared, probabilities: probabilities, top: top };
  }

  function show(result) {
    const [c, h, w] = model.input_shape;
    const seen = $("seen").getContext("2d");
    const picture = seen.createImageData(w, h);
    for (let i = 0; i < h * w; i++) {
      for (let k = 0; k < 3; k++) picture.data[i * 4 + k] = result.prepared.pixels[(c === 1 ? 0 : k) * h * w + i];
      picture.data[i * 4 + 3] = 255;
    }
    seen.putImageData(picture, 0, 0);
    const bars = $("bars");
    bars.textContent = "";
    if (result.prepared.empty) {
      status("Nothing to classify yet: draw something, or open a picture.");
      return;
    }
    for (const row of result.top) {
      const line = document.createElement("div");
      line.className = "bar";
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = row.label;
      name.title = row.label;
      const track = document.createElement("span");
      track.className = "track";
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.display = "block";
      fill.style.width = (100 * row.probability).toFixed(1) + "%";
      track.appendChild(fill);
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = (100 * row.probability).toFixed(1) + " %";
      line.append(name, track, value);
      bars.appendChild(line);
    }
    status(result.prepared.inverted ? "The picture was inverted to match the training images." : "");
  }

  // One classification at a time; a newer request waits for the one running.
  function run(rgba, width, height) {
    busy = busy.then(() => classify(rgba, width, height, TOP)).then(show).catch((e) => status(String(e), true));
    return busy;
  }

  // Decoded as stored: no colour-space conversion, alpha not premultiplied (as Pillow reads a file).
  async function pixelsOf(blob) {
    const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    const canvas = document.createElement("canvas");
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(bitmap, 0, 0);
    return { rgba: ctx.getImageData(0, 0, bitmap.width, bitmap.height).data, width: bitmap.width, height: bitmap.height };
  }

  async function openPicture(blob) {
    const p = await pixelsOf(blob);
    const pad = $("pad").getContext("2d");
    const bitmap = await createImageBitmap(blob);
    pad.fillStyle = "#fff";
    pad.fillRect(0, 0, 560, 560);
    const s = Math.min(560 / bitmap.width, 560 / bitmap.height);
    pad.drawImage(bitmap, (560 - bitmap.width * s) / 2, (560 - bitmap.height * s) / 2, bitmap.width * s, bitmap.height * s);
    return run(p.rgba, p.width, p.height);
  }

  // -- drawing ---------------------------------------------------------------------------------------
  function setUpDrawing() {
    const pad = $("pad");
    const ctx = pad.getContext("2d", { willReadFrequently: true });
    const clear = () => { ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, pad.width, pad.height); };
    clear();
    let last = null;
    let pending = false;
    const classifyPad = () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        run(ctx.getImageData(0, 0, pad.width, pad.height).data, pad.width, pad.height);
      });
    };
    const point = (e) => {
      const r = pad.getBoundingClientRect();
      return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
    };
    pad.addEventListener("pointerdown", (e) => { pad.setPointerCapture(e.pointerId); last = point(e); stroke(last, last); });
    pad.addEventListener("pointermove", (e) => { if (last) { const p = point(e); stroke(last, p); last = p; } });
    const end = () => { if (last) { last = null; classifyPad(); } };
    pad.addEventListener("pointerup", end);
    pad.addEventListener("pointercancel", end);
    function stroke(a, b) {
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 36;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.beginPath();
      ctx.moveTo(a[0], a[1]);
      ctx.lineTo(b[0], b[1]);
      ctx.stroke();
      classifyPad();
    }
    $("clear").addEventListener("click", () => { clear(); classifyPad(); });
    $("file").addEventListener("change", (e) => { if (e.target.files[0]) openPicture(e.target.files[0]); });
    pad.addEventListener("dragover", (e) => { e.preventDefault(); pad.classList.add("drop"); });
    pad.addEventListener("dragleave", () => pad.classList.remove("drop"));
    pad.addEventListener("drop", (e) => {
      e.preventDefault();
      pad.classList.remove("drop");
      const file = e.dataTransfer.files[0];
      if (file) openPicture(file);
    });
    // For scripts (and the screenshots): draw strokes given as lists of [x, y] points in 0..560.
    window.cnnstudioDraw = (strokes) => {
      for (const s of strokes) for (let i = 0; i < s.length; i++) stroke(s[Math.max(0, i - 1)], s[i]);
      return busy;
    };
    window.cnnstudioOpen = async (url) => openPicture(await (await fetch(url)).blob());
    // For benchmarks: the wall time in ms of `runs` calls of the model on a batch of `batch` images.
    window.cnnstudioTime = async (batch, runs) => {
      const [c, h, w] = model.input_shape;
      const feeds = { input: new ort.Tensor("float32", new Float32Array(batch * c * h * w), [batch, c, h, w]) };
      for (let i = 0; i < 2; i++) await session.run(feeds);
      const times = [];
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        await session.run(feeds);
        times.push(performance.now() - t0);
      }
      return times;
    };
  }

  // -- camera (where the browser allows it: https, or http://localhost) -----------------------------
  function setUpCamera() {
    const button = $("camera");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      button.disabled = true;
      button.title = "The camera needs https or http://localhost";
      return;
    }
    button.addEventListener("click", async () => {
      const video = $("video");
      try {
        video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true });
        video.style.display = "block";
        $("snap").style.display = "";
      } catch (e) {
        status("The camera could not be opened: " + e.message, true);
      }
    });
    $("snap").addEventListener("click", () => {
      const video = $("video");
      const canvas = document.createElement("canvas");
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      const ctx = canvas.getContext("2d", { willReadFrequently: true });
      ctx.drawImage(video, 0, 0);
      canvas.toBlob((blob) => openPicture(blob), "image/png");
    });
  }

  // -- self-test: index.html#selftest ----------------------------------------------------------------
  // Classifies every picture listed in samples/index.json and writes the results, shaped like
  // `cnnstudio predict --json`, into <pre id="selftest">, then adds <pre id="selftest-done">.
  async function selfTest() {
    const names = await (await fetch("samples/index.json")).json();
    const results = [];
    for (const name of names) {
      try {
        const p = await pixelsOf(await (await fetch("samples/" + encodeURIComponent(name))).blob());
        const r = await classify(p.rgba, p.width, p.height, 3);
        results.push({ image: name, label: r.top[0].label, index: r.top[0].index, probability: r.top[0].probability,
                       top_k: r.top, empty: r.prepared.empty });
      } catch (e) {
        results.push({ image: name, error: String(e) });
      }
    }
    const pre = document.createElement("pre");
    pre.id = "selftest";
    pre.textContent = JSON.stringify(results);
    document.body.appendChild(pre);
    const done = document.createElement("pre");
    done.id = "selftest-done";
    done.textContent = results.length + " pictures";
    document.body.appendChild(done);
  }

  load().then(() => {
    setUpDrawing();
    setUpCamera();
    status("Ready: draw something, or open a picture.");
    if (location.hash === "#selftest") return selfTest();
    return null;
  }).catch((e) => {
    status("The model could not be loaded: " + e + (location.protocol === "file:" ?
      " (open the page through a web server: python -m http.server, see README.md)" : ""), true);
    const done = document.createElement("pre");
    done.id = "selftest-done";
    done.textContent = "error: " + e;
    document.body.appendChild(done);
  });
})();
