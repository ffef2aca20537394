// CNN Studio's image preparation in JavaScript, for the exported web page (index.html).
//
// A port of cnnstudio/core/preparation.py prepare_image (with framing.py, cover.py and image_modes.py):
// the same steps with the same arithmetic, so a picture gives the model the same pixels in the browser
// as in `cnnstudio predict`. Pillow's integer code is followed where Python calls it (RGB to grey, the
// Lanczos and bilinear resampling with their fixed-point coefficients, reduce(), alpha compositing),
// and numpy's float32 steps are computed with Math.fround. tests/test_web_export.py runs this file in
// Node on the same pictures as prepare_image and asks for identical pixels.
//
// Input: straight (not premultiplied) RGBA bytes, as a canvas's getImageData gives them. Output:
// {pixels: Uint8Array of C*H*W, empty, inverted}, the model's input before normalisation.
(function (root) {
  "use strict";
  const f32 = Math.fround;
  const CONTENT_THRESHOLD = 0.15;
  const BOX_WORK_PIXELS = 4000000;
  const BACKDROP_TOLERANCE = 38;
  const PLAIN_BORDER = 0.6;
  const TAIL = 0.01;
  const STRIP = 16;
  const PRECISION_BITS = 22;
  const INV255 = f32(1 / 255);

  // Python's round(): halves to even.
  function roundHalfEven(x) {
    const f = Math.floor(x);
    const d = x - f;
    if (d > 0.5) return f + 1;
    if (d < 0.5) return f;
    return f % 2 === 0 ? f : f + 1;
  }

  // -- images as {w, h, c, data: Uint8Array of h*w*c} ------------------------------------------------
  function fromRGBA(rgba, w, h) {
    return { w: w, h: h, c: 4, data: new Uint8Array(rgba.buffer, rgba.byteOffset, w * h * 4) };
  }

  function minAlpha(img) {
    let m = 255;
    for (let i = 3; i < img.data.length; i += 4) if (img.data[i] < m) m = img.data[i];
    return m;
  }

  // Pillow's convert("L") from RGB: ITU-R 601-2 in 16-bit fixed point (Convert.c, L24).
  function lum24(r, g, b) {
    return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
  }

  function toGray(img) {
    if (img.c === 1) return img;
    const n = img.w * img.h;
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = lum24(img.data[i * img.c], img.data[i * img.c + 1], img.data[i * img.c + 2]);
    }
    return { w: img.w, h: img.h, c: 1, data: out };
  }

  // Image.alpha_composite over opaque white, then RGB (image_modes.over_white; AlphaComposite.c).
  function overWhite(img) {
    const n = img.w * img.h;
    const out = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      const a = img.data[i * 4 + 3];
      for (let k = 0; k < 3; k++) {
        if (a === 0) { out[i * 3 + k] = 255; continue; }
        const coef1 = Math.floor((a * 255 * 255 * 128) / (255 * 255));
        const coef2 = 255 * 128 - coef1;
        const tmp = img.data[i * 4 + k] * coef1 + 255 * coef2 + (0x80 << 7);
        out[i * 3 + k] = (((tmp >>> 8) + tmp) >>> 8) >>> 7;
      }
    }
    return { w: img.w, h: img.h, c: 3, data: out };
  }

  function toRGB(img) {
    if (img.c === 3) return img;
    if (img.c === 4) {
      if (minAlpha(img) < 255) return overWhite(img);
      const n = img.w * img.h;
      const out = new Uint8Array(n * 3);
      for (let i = 0; i < n; i++) {
        out[i * 3] = img.data[i * 4]; out[i * 3 + 1] = img.data[i * 4 + 1]; out[i * 3 + 2] = img.data[i * 4 + 2];
      }
      return { w: img.w, h: img.h, c: 3, data: out };
    }
    const out = new Uint8Array(img.w * img.h * 3);
    for (let i = 0; i < img.w * img.h; i++) out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = img.data[i];
    return { w: img.w, h: img.h, c: 3, data: out };
  }

  // -- Pillow's reduce() and resize() ------------------------------------------------------------------
  function reduceMultiplier(n) {
    return Math.trunc(f32(4294967296 / (256 * n)));
  }

  // Image.reduce((fx, fy), box): the mean of each block, rounded as Reduce.c rounds it.
  function reduce(img, fx, fy, box) {
    const [x0, y0, x1, y1] = box || [0, 0, img.w, img.h];
    const ow = Math.ceil((x1 - x0) / fx), oh = Math.ceil((y1 - y0) / fy);
    const out = new Uint8Array(ow * oh * img.c);
    for (let oy = 0; oy < oh; oy++) {
      const ya = y0 + oy * fy, yb = Math.min(y1, ya + fy);
      for (let ox = 0; ox < ow; ox++) {
        const xa = x0 + ox * fx, xb = Math.min(x1, xa + fx);
        const n = (yb - ya) * (xb - xa);
        const mult = reduceMultiplier(n);
        for (let k = 0; k < img.c; k++) {
          let ss = Math.floor(n / 2);
          for (let y = ya; y < yb; y++) for (let x = xa; x < xb; x++) ss += img.data[(y * img.w + x) * img.c + k];
          out[(oy * ow + ox) * img.c + k] = Math.floor((ss * mult) / 16777216);
        }
      }
    }
    return { w: ow, h: oh, c: img.c, data: out };
  }

  function bilinear(x) {
    if (x < 0) x = -x;
    return x < 1 ? 1 - x : 0;
  }

  function sinc(x) {
    if (x === 0) return 1;
    x = x * Math.PI;
    return Math.sin(x) / x;
  }

  function lanczos(x) {
    return (-3 <= x && x < 3) ? sinc(x) * sinc(x / 3) : 0;
  }

  const FILTERS = { bilinear: { fn: bilinear, support: 1 }, lanczos: { fn: lanczos, support: 3 } };

  // Resample.c precompute_coeffs + normalize_coeffs_8bpc: bounds and integer coefficients per output pixel.
  function coeffs(inSize, in0, in1, outSize, filter) {
    const scale = f32(in1 - in0) / outSize;
    const filterscale = scale < 1 ? 1 : scale;
    const support = filter.support * filterscale;
    const ksize = Math.ceil(support) * 2 + 1;
    const bounds = new Int32Array(outSize * 2);
    const kk = new Float64Array(outSize * ksize);
    for (let xx = 0; xx < outSize; xx++) {
      const center = in0 + (xx + 0.5) * scale;
      const ss = 1 / filterscale;
      let xmin = Math.trunc(center - support + 0.5);
      if (xmin < 0) xmin = 0;
      let xmax = Math.trunc(center + support + 0.5);
      if (xmax > inSize) xmax = inSize;
      xmax -= xmin;
      let ww = 0;
      for (let x = 0; x < xmax; x++) {
        const w = filter.fn((x + xmin - center + 0.5) * ss);
        kk[xx * ksize + x] = w;
        ww += w;
      }
      for (let x = 0; x < xmax; x++) if (ww !== 0) kk[xx * ksize + x] /= ww;
      bounds[xx * 2] = xmin;
      bounds[xx * 2 + 1] = xmax;
    }
    const ik = new Int32Array(outSize * ksize);
    for (let i = 0; i < kk.length; i++) {
      ik[i] = Math.trunc(kk[i] < 0 ? -0.5 + kk[i] * (1 << PRECISION_BITS) : 0.5 + kk[i] * (1 << PRECISION_BITS));
    }
    return { ksize: ksize, bounds: bounds, k: ik };
  }

  function clip8(ss) {
    const v = Math.floor(ss / (1 << PRECISION_BITS));
    return v < 0 ? 0 : v > 255 ? 255 : v;
  }

  function resampleH(img, offset, rows, outW, co) {
    const out = new Uint8Array(outW * rows * img.c);
    for (let yy = 0; yy < rows; yy++) {
      const row = (yy + offset) * img.w;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = co.bounds[xx * 2], xmax = co.bounds[xx * 2 + 1], base = xx * co.ksize;
        for (let c = 0; c < img.c; c++) {
          let ss = 1 << (PRECISION_BITS - 1);
          for (let x = 0; x < xmax; x++) ss += img.data[(row + x + xmin) * img.c + c] * co.k[base + x];
          out[(yy * outW + xx) * img.c + c] = clip8(ss);
        }
      }
    }
    return { w: outW, h: rows, c: img.c, data: out };
  }

  function resampleV(img, outH, co) {
    const out = new Uint8Array(img.w * outH * img.c);
    for (let yy = 0; yy < outH; yy++) {
      const ymin = co.bounds[yy * 2], ymax = co.bounds[yy * 2 + 1], base = yy * co.ksize;
      for (let xx = 0; xx < img.w; xx++) {
        for (let c = 0; c < img.c; c++) {
          let ss = 1 << (PRECISION_BITS - 1);
          for (let y = 0; y < ymax; y++) ss += img.data[((y + ymin) * img.w + xx) * img.c + c] * co.k[base + y];
          out[(yy * img.w + xx) * img.c + c] = clip8(ss);
        }
      }
    }
    return { w: img.w, h: outH, c: img.c, data: out };
  }

  // Resample.c ImagingResampleInner (Pillow 13): the horizontal pass first, on the rows the vertical pass
  // needs, unless the height shrinks more than twice as much as the width. box in float32.
  function resampleInner(img, xsize, ysize, filter, box) {
    const b = box.map(f32);
    const needH = xsize !== img.w || b[0] !== 0 || b[2] !== xsize;
    const needV = ysize !== img.h || b[1] !== 0 || b[3] !== ysize;
    const horizontalFirst = !((img.h - ysize) > 0 && (img.h - ysize) > (img.w - xsize) * 2);
    const vert = coeffs(img.h, b[1], b[3], ysize, filter);
    const horiz = needH ? coeffs(img.w, b[0], b[2], xsize, filter) : null;
    let cur = img;
    if (horizontalFirst) {
      if (needH) {
        const first = vert.bounds[0];
        const last = vert.bounds[ysize * 2 - 2] + vert.bounds[ysize * 2 - 1];
        for (let i = 0; i < ysize; i++) vert.bounds[i * 2] -= first;
        cur = resampleH(cur, first, last - first, xsize, horiz);
      }
      if (needV) cur = resampleV(cur, ysize, vert);
    } else {
      if (needV) cur = resampleV(cur, ysize, vert);
      if (needH) cur = resampleH(cur, 0, ysize, xsize, horiz);
    }
    return cur === img ? { w: img.w, h: img.h, c: img.c, data: img.data.slice() } : cur;
  }

  // Image.resize(size, filter, box, reducing_gap) for L and RGB images.
  function resize(img, w, h, filterName, box, reducingGap) {
    const filter = FILTERS[filterName];
    box = box || [0, 0, img.w, img.h];
    if (img.w === w && img.h === h && box[0] === 0 && box[1] === 0 && box[2] === img.w && box[3] === img.h) {
      return { w: w, h: h, c: img.c, data: img.data.slice() };
    }
    if (reducingGap) {
      const fx = Math.trunc((box[2] - box[0]) / w / reducingGap) || 1;
      const fy = Math.trunc((box[3] - box[1]) / h / reducingGap) || 1;
      if (fx > 1 || fy > 1) {
        const support = filter.support - 0.5;
        const sx = support * ((box[2] - box[0]) / w), sy = support * ((box[3] - box[1]) / h);
        const rb = [Math.max(0, Math.trunc(box[0] - sx)), Math.max(0, Math.trunc(box[1] - sy)),
          Math.min(img.w, Math.ceil(box[2] + sx)), Math.min(img.h, Math.ceil(box[3] + sy))];
        img = reduce(img, fx, fy, rb);
        box = [(box[0] - rb[0]) / fx, (box[1] - rb[1]) / fy, (box[2] - rb[0]) / fx, (box[3] - rb[1]) / fy];
      }
    }
    return resampleInner(img, w, h, filter, box);
  }

  // -- numpy's float32 arithmetic ----------------------------------------------------------------------
  // np.add.reduce's pairwise summation (numpy's loops: 8 accumulators, blocks of 128), in float32 or float64.
  function pairwiseSum(a, lo, n, round) {
    if (n < 8) {
      let res = round(0);
      for (let i = 0; i < n; i++) res = round(res + a[lo + i]);
      return res;
    }
    if (n <= 128) {
      const r = [];
      for (let j = 0; j < 8; j++) r.push(round(a[lo + j]));
      let i;
      for (i = 8; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] = round(r[j] + a[lo + i + j]);
      let res = round(round(round(r[0] + r[1]) + round(r[2] + r[3])) + round(round(r[4] + r[5]) + round(r[6] + r[7])));
      for (; i < n; i++) res = round(res + a[lo + i]);
      return res;
    }
    let n2 = Math.floor(n / 2);
    n2 -= n2 % 8;
    return round(pairwiseSum(a, lo, n2, round) + pairwiseSum(a, lo + n2, n - n2, round));
  }
  const same = (x) => x;

  function medianF32(values) {
    const s = Float32Array.from(values).sort();
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : f32(f32(s[m - 1] + s[m]) / 2);
  }

  // -- preparation.py ----------------------------------------------------------------------------------
  // to_float_gray: luminance in 0..1, float32 (transparent pictures: the opaque part is the content).
  function floatGray(img) {
    const n = img.w * img.h;
    const out = new Float32Array(n);
    if (img.c === 4 && minAlpha(img) / 255 < 0.99) {
      let bgSum = [], transparent = false;
      const lum = new Float32Array(n), alpha = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const r = f32(img.data[i * 4] / 255), g = f32(img.data[i * 4 + 1] / 255), b = f32(img.data[i * 4 + 2] / 255);
        alpha[i] = f32(img.data[i * 4 + 3] / 255);
        lum[i] = f32(f32(f32(r * f32(0.299)) + f32(g * f32(0.587))) + f32(b * f32(0.114)));
        if (alpha[i] < 0.5) { bgSum.push(lum[i]); transparent = true; }
      }
      const bg = transparent ? medianF32(bgSum) : 1;
      for (let i = 0; i < n; i++) {
        const ink = Math.abs(f32(lum[i] - (bg > 0.5 ? 1 : 0)));
        out[i] = f32(1 - f32(alpha[i] * Math.max(ink, 0.5)));
      }
      return out;
    }
    const gray = toGray(img);
    for (let i = 0; i < n; i++) out[i] = f32(gray.data[i] * INV255);
    return out;
  }

  function borderMedian(gray, w, h) {
    const border = [];
    for (let x = 0; x < w; x++) border.push(gray[x]);
    for (let x = 0; x < w; x++) border.push(gray[(h - 1) * w + x]);
    for (let y = 0; y < h; y++) border.push(gray[y * w]);
    for (let y = 0; y < h; y++) border.push(gray[y * w + w - 1]);
    return medianF32(border);
  }

  function withinBoxBudget(img) {
    const n = img.w * img.h;
    if (n <= BOX_WORK_PIXELS) return img;
    const fx = Math.min(img.w, Math.ceil(Math.sqrt(n / BOX_WORK_PIXELS)));
    const fy = Math.min(img.h, Math.ceil(n / BOX_WORK_PIXELS / fx));
    return reduce(img, fx, fy, null);
  }

  function finish(gray01, framing, empty, inverted) {
    const h = framing.height, w = framing.width, c = framing.channels;
    const pixels = new Uint8Array(c * h * w);
    for (let i = 0; i < h * w; i++) {
      let g = gray01[i];
      if (framing.polarity === "dark-on-light") g = f32(1 - g);
      let v = f32(f32(g * 255) + 0.5);
      v = v < 0 ? 0 : v > 255 ? 255 : v;
      for (let k = 0; k < c; k++) pixels[k * h * w + i] = Math.trunc(v);
    }
    return { pixels: pixels, empty: empty, inverted: inverted };
  }

  function prepareBox(img, framing) {
    const h = framing.height, w = framing.width;
    img = withinBoxBudget(img);
    const iw = img.w, ih = img.h;
    const gray = floatGray(img);
    let background = borderMedian(gray, iw, ih);
    const wantLight = framing.polarity !== "dark-on-light";
    const inverted = (background > 0.5) === wantLight;
    if (inverted) {
      for (let i = 0; i < gray.length; i++) gray[i] = f32(1 - gray[i]);
      background = 1 - background;
    }
    const bg = f32(background);
    let peak = 0;
    for (let i = 0; i < gray.length; i++) {
      let v = wantLight ? f32(gray[i] - bg) : f32(bg - gray[i]);
      v = v < 0 ? 0 : v > 1 ? 1 : v;
      gray[i] = v;
      if (v > peak) peak = v;
    }
    const out = new Float32Array(h * w);
    if (peak < CONTENT_THRESHOLD) return finish(out, framing, true, inverted);
    const threshold = f32(CONTENT_THRESHOLD * peak);
    let y0 = ih, y1 = -1, x0 = iw, x1 = -1;
    for (let y = 0; y < ih; y++) {
      for (let x = 0; x < iw; x++) {
        if (gray[y * iw + x] > threshold) {
          if (y < y0) y0 = y;
          if (y > y1) y1 = y;
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
        }
      }
    }
    y1 += 1; x1 += 1;
    const ch = y1 - y0, cw = x1 - x0;
    const crop = new Uint8Array(ch * cw);
    for (let y = 0; y < ch; y++) {
      for (let x = 0; x < cw; x++) crop[y * cw + x] = Math.trunc(f32(f32(gray[(y + y0) * iw + x + x0] / peak) * 255));
    }
    const box = framing.box || Math.min(h, w);
    const scale = box / Math.max(ch, cw);
    const nh = Math.max(1, roundHalfEven(ch * scale)), nw = Math.max(1, roundHalfEven(cw * scale));
    const resized = resize({ w: cw, h: ch, c: 1, data: crop }, nw, nh, "lanczos", null, 0);
    const patch = new Float32Array(nh * nw);
    for (let i = 0; i < patch.length; i++) patch[i] = f32(resized.data[i] / 255);
    let top, left;
    const total = pairwiseSum(patch, 0, patch.length, f32);
    if (framing.centering === "mass" && total > 0) {
      const wy = new Float64Array(patch.length), wx = new Float64Array(patch.length);
      for (let y = 0; y < nh; y++) {
        for (let x = 0; x < nw; x++) { wy[y * nw + x] = patch[y * nw + x] * y; wx[y * nw + x] = patch[y * nw + x] * x; }
      }
      const cy = pairwiseSum(wy, 0, wy.length, same) / total;
      const cx = pairwiseSum(wx, 0, wx.length, same) / total;
      top = roundHalfEven(h / 2 - cy - 0.5);
      left = roundHalfEven(w / 2 - cx - 0.5);
    } else {
      top = Math.floor((h - nh) / 2);
      left = Math.floor((w - nw) / 2);
    }
    top = Math.min(Math.max(top, 0), h - nh);
    left = Math.min(Math.max(left, 0), w - nw);
    for (let y = 0; y < nh; y++) for (let x = 0; x < nw; x++) out[(y + top) * w + x + left] = patch[y * nw + x];
    return finish(out, framing, false, inverted);
  }

  // cover.subject_window: where a window `length` long along `axis` (0 rows, 1 columns) should start.
  function subjectWindow(img, length, axis) {
    const extent = axis === 0 ? img.h : img.w;
    const centre = Math.floor((extent - length) / 2);
    const c = img.c, w = img.w, h = img.h;
    const border = [];
    for (let x = 0; x < w; x++) border.push(x);
    for (let x = 0; x < w; x++) border.push((h - 1) * w + x);
    for (let y = 0; y < h; y++) border.push(y * w);
    for (let y = 0; y < h; y++) border.push(y * w + w - 1);
    const backdrop = [];
    for (let k = 0; k < c; k++) {
      const vals = border.map((p) => img.data[p * c + k]).sort((a, b) => a - b);
      const m = vals.length >> 1;
      backdrop.push(Math.trunc(vals.length % 2 ? vals[m] : (vals[m - 1] + vals[m]) / 2));
    }
    const far = (p) => {
      let d = 0;
      for (let k = 0; k < c; k++) d = Math.max(d, Math.abs(img.data[p * c + k] - backdrop[k]));
      return d;
    };
    let plain = 0;
    for (const p of border) if (far(p) <= BACKDROP_TOLERANCE) plain++;
    if (plain / border.length < PLAIN_BORDER) return centre;
    const profile = new Array(extent).fill(0);
    let total = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (far(y * w + x) > BACKDROP_TOLERANCE) { profile[axis === 0 ? y : x]++; total++; }
      }
    }
    if (total === 0) return centre;
    const cumulative = [];
    let run = 0;
    for (const v of profile) { run += v; cumulative.push(run); }
    const lowT = TAIL * total, highT = (1 - TAIL) * total;
    let first = cumulative.findIndex((v) => v > lowT);
    if (first < 0) first = extent;
    let last = cumulative.findIndex((v) => v >= highT);
    if (last < 0) last = extent;
    let start;
    if (last - first + 1 <= length) {
      start = Math.floor((first + last + 1 - length) / 2);
    } else {
      const sums = [0].concat(cumulative);
      let best = -Infinity, bestStart = 0, bestDist = Infinity;
      for (let s = 0; s + length < sums.length; s++) {
        const held = sums[s + length] - sums[s];
        const dist = Math.abs(s - centre);
        if (held > best || (held === best && dist < bestDist)) { best = held; bestStart = s; bestDist = dist; }
      }
      start = bestStart;
    }
    return Math.min(Math.max(start, 0), extent - length);
  }

  function crop(img, left, top, w, h) {
    const out = new Uint8Array(w * h * img.c);
    for (let y = 0; y < h; y++) {
      const from = ((y + top) * img.w + left) * img.c;
      out.set(img.data.subarray(from, from + w * img.c), y * w * img.c);
    }
    return { w: w, h: h, c: img.c, data: out };
  }

  // cover.cover: scaled to cover the frame, cropped around the subject (or in the centre).
  function cover(img, width, height) {
    const scale = Math.max(width / img.w, height / img.h);
    const nw = Math.max(width, roundHalfEven(img.w * scale)), nh = Math.max(height, roundHalfEven(img.h * scale));
    if (nw * nh > STRIP * width * height) {
      const bw = Math.min(img.w, width / scale), bh = Math.min(img.h, height / scale);
      const left = (img.w - bw) / 2, top = (img.h - bh) / 2;
      return resize(img, width, height, "bilinear", [left, top, left + bw, top + bh], 0);
    }
    if (nw !== img.w || nh !== img.h) img = resize(img, nw, nh, "bilinear", null, 2.0);
    let left = Math.floor((nw - width) / 2), top = Math.floor((nh - height) / 2);
    if (nw > width) left = subjectWindow(img, width, 1);
    else if (nh > height) top = subjectWindow(img, height, 0);
    return crop(img, left, top, width, height);
  }

  function prepareCover(img, framing) {
    const h = framing.height, w = framing.width, c = framing.channels;
    const rgb = toRGB(img);
    const framed = cover(c === 1 ? toGray(rgb) : rgb, w, h);
    const pixels = new Uint8Array(c * h * w);
    let lo = 255, hi = 0;
    for (let i = 0; i < h * w; i++) {
      for (let k = 0; k < c; k++) {
        const v = framed.data[i * c + k];
        pixels[k * h * w + i] = v;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    return { pixels: pixels, empty: lo === hi, inverted: false };
  }

  // prepare_image: rgba straight RGBA bytes (w*h*4), framing the model's FramingProfile (as in model.json).
  function prepare(rgba, w, h, framing) {
    const img = fromRGBA(rgba, w, h);
    return framing.fit === "box" ? prepareBox(img, framing) : prepareCover(img, framing);
  }

  // Preparation.normalise: (x / 255 - mean) / std folded as scale and shift in float32, as the trainer does.
  function normalise(pixels, mean, std, channels, plane) {
    const out = new Float32Array(pixels.length);
    for (let k = 0; k < channels; k++) {
      const s = f32(std[k]), m = f32(mean[k]);
      const scale = f32(1 / f32(255 * s));
      const shift = f32(-m / s);
      for (let i = 0; i < plane; i++) out[k * plane + i] = f32(f32(pixels[k * plane + i] * scale) + shift);
    }
    return out;
  }

  const api = { prepare: prepare, normalise: normalise, resize: resize, reduce: reduce, roundHalfEven: roundHalfEven };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.CNNPrep = api;
})(typeof self !== "undefined" ? self : this);
