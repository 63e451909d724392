// Runs inside the sandboxed render page. The body HTML was escaped by the translator;
// this only lays it out, typesets math with KaTeX and reads back what was drawn.
"use strict";

function typesetMath(root) {
  const errors = [];
  for (const el of root.querySelectorAll(".math")) {
    const tex = el.textContent;
    try {
      katex.render(tex, el, {
        displayMode: el.classList.contains("display"),
        throwOnError: true, output: "html", trust: false, strict: "ignore",
        maxExpand: 500, maxSize: 50,
      });
    } catch (error) {
      errors.push({ tex: tex, message: String(error && error.message || error) });
      el.textContent = tex;
    }
  }
  return errors;
}

function readGrid(table) {
  const cells = [];
  const taken = [];
  let rowIndex = 0;
  for (const tr of table.rows) {
    if (tr.classList.contains("space")) continue;
    taken[rowIndex] = taken[rowIndex] || [];
    let col = 0;
    for (const td of tr.cells) {
      while (taken[rowIndex][col]) col++;
      const style = getComputedStyle(td);
      let background = style.backgroundColor;
      if (background === "rgba(0, 0, 0, 0)" || background === "transparent") background = null;
      const bold = td.querySelector("b, strong") !== null || parseInt(style.fontWeight, 10) >= 600
        || [...td.querySelectorAll("span")].some(s => parseInt(getComputedStyle(s).fontWeight, 10) >= 600);
      const italic = td.querySelector("i, em") !== null;
      cells.push({ row: rowIndex, col: col, rowspan: td.rowSpan, colspan: td.colSpan,
                   text: td.innerText.replace(/\s+/g, " ").trim(), background: background,
                   bold: bold, italic: italic });
      for (let r = 0; r < td.rowSpan; r++) {
        taken[rowIndex + r] = taken[rowIndex + r] || [];
        for (let c = 0; c < td.colSpan; c++) taken[rowIndex + r][col + c] = true;
      }
      col += td.colSpan;
    }
    rowIndex++;
  }
  return cells;
}

function contentBox(root) {
  // Union of drawn things: non-blank text, tables (rules, colours) and typeset math.
  // Block boxes are left out: they span the page width and would defeat the crop.
  let left = Infinity, top = Infinity, right = -Infinity, bottom = -Infinity;
  const add = (rect) => {
    if (rect.width <= 0 && rect.height <= 0) return;
    left = Math.min(left, rect.left); top = Math.min(top, rect.top);
    right = Math.max(right, rect.right); bottom = Math.max(bottom, rect.bottom);
  };
  const texts = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  for (let node = texts.nextNode(); node; node = texts.nextNode()) {
    if (!node.textContent.trim()) continue;
    range.selectNodeContents(node);
    for (const rect of range.getClientRects()) add(rect);
  }
  for (const el of root.querySelectorAll("table, .katex, .tikz svg, .vspace, .par")) {
    if (el.matches(".vspace, .par")) continue;
    add(el.getBoundingClientRect());
  }
  if (!isFinite(left)) return null;
  // Whole CSS pixels: a fractional clip makes Chromium drop thin collapsed borders.
  const pad = 6;
  const x = Math.max(0, Math.floor(left - pad + window.scrollX));
  const y = Math.max(0, Math.floor(top - pad + window.scrollY));
  return { x: x, y: y, width: Math.ceil(right + pad + window.scrollX) - x,
           height: Math.ceil(bottom + pad + window.scrollY) - y };
}

function rotateBoxes(root) {
  // \rotatebox: TeX turns the text counterclockwise and the box becomes the turned text's
  // bounding box, standing on the baseline; CSS turns only the drawing, so the outer box is
  // given that size and the text turned inside it. Reads and writes go in passes: one
  // layout for all the boxes, not two for each.
  const boxes = [...root.querySelectorAll(".rotated")].map(box => {
    const inner = box.firstElementChild;
    const degrees = parseFloat(box.dataset.angle);
    const radians = degrees * Math.PI / 180;
    const cos = Math.abs(Math.cos(radians)), sin = Math.abs(Math.sin(radians));
    const width = inner.offsetWidth, height = inner.offsetHeight;
    return { box, inner, degrees, width, height,
             outerWidth: width * cos + height * sin, outerHeight: width * sin + height * cos };
  });
  for (const { box, outerWidth, outerHeight } of boxes) {
    box.style.width = outerWidth.toFixed(2) + "px";
    box.style.height = outerHeight.toFixed(2) + "px";
  }
  const placed = boxes.map(turn => ({ turn, outer: turn.box.getBoundingClientRect(),
                                      text: turn.inner.getBoundingClientRect() }));
  for (const { turn, outer, text } of placed) {  // the text's centre to the box's, then turned
    const left = outer.left + turn.outerWidth / 2 - (text.left + turn.width / 2);
    const top = outer.top + turn.outerHeight / 2 - (text.top + turn.height / 2);
    turn.inner.style.left = left.toFixed(2) + "px";
    turn.inner.style.top = top.toFixed(2) + "px";
    turn.inner.style.transform = `rotate(${-turn.degrees}deg)`;
  }
}

function fitBoxes(root) {
  // \resizebox / \adjustbox: scale the laid-out box to the asked width (or height).
  for (const box of root.querySelectorAll(".box[data-fit-width], .box[data-max-width], .box[data-fit-height]")) {
    box.style.zoom = "";
    const rect = box.getBoundingClientRect();
    let factor = 1;
    if (box.dataset.fitWidth && rect.width > 0) factor = parseFloat(box.dataset.fitWidth) / rect.width;
    else if (box.dataset.maxWidth && rect.width > parseFloat(box.dataset.maxWidth))
      factor = parseFloat(box.dataset.maxWidth) / rect.width;
    else if (box.dataset.fitHeight && rect.height > 0)
      factor = parseFloat(box.dataset.fitHeight) / rect.height;
    if (isFinite(factor) && factor > 0 && Math.abs(factor - 1) > 0.001) box.style.zoom = factor.toFixed(4);
  }
}

function alignDecimals(root) {
  // siunitx S columns: give every fraction in a column the width of the widest one.
  for (const table of root.querySelectorAll("table.tabular")) {
    const widest = {};
    const fractions = [...table.querySelectorAll(".num[data-s] .frac")];
    for (const frac of fractions) {
      const column = frac.parentElement.dataset.s;
      widest[column] = Math.max(widest[column] || 0, frac.getBoundingClientRect().width);
    }
    for (const frac of fractions) {
      frac.style.display = "inline-block";
      frac.style.textAlign = "left";
      frac.style.minWidth = widest[frac.parentElement.dataset.s] + "px";
    }
  }
}

function sourceLeaks(root) {
  // Command names drawn as text (`\\textbf` in the picture): a wrong training example.
  // Listings and math that failed (reported on its own) are meant to show source.
  const leaks = [];
  const texts = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = texts.nextNode(); node; node = texts.nextNode()) {
    if (node.parentElement.closest(".verbatim, .math")) continue;
    for (const match of node.textContent.matchAll(/\\[A-Za-z@]{2,}/g)) leaks.push(match[0]);
  }
  return [...new Set(leaks)].slice(0, 5);
}

// ---------- text of TikZ pictures
// The TeX engine writes each kerned run of glyphs as its own <text>, in the font's own code
// points (dvi2html moves TeX's positions 0-32 and 127 up). Read back, a picture's "4.2" is
// "4", ":" (cmmi's period) and "2" on three lines; here runs become words and lines again.
const OT1 = ["Γ", "Δ", "Θ", "Λ", "Ξ", "Π", "Σ", "Υ", "Φ", "Ψ", "Ω", "ff", "fi", "fl", "ffi",
  "ffl", "ı", "ȷ", "", "", "", "", "", "", "", "ß", "æ", "œ", "ø", "Æ", "Œ", "Ø", ""];
const OT1_HIGH = { 34: "”", 60: "¡", 62: "¿", 92: "“", 94: "", 95: "", 123: "–", 124: "—",
  125: "", 126: "", 127: "" };  // accents are dropped: TeX draws them as glyphs of their own
const TYPEWRITER_LOW = [...OT1.slice(0, 11), "↑", "↓", "'", "¡", "¿", "ı", "ȷ"];
const MATH_ITALIC = [...OT1.slice(0, 11), ..."αβγδϵζηθικλμνξπρστυϕχψωεϑϖϱςφ"];
const MATH_ITALIC_HIGH = { 58: ".", 59: ",", 60: "<", 61: "/", 62: ">", 63: "⋆", 64: "∂",
  91: "♭", 92: "♮", 93: "♯", 96: "ℓ", 123: "ı", 124: "ȷ", 125: "℘", 126: "", 127: "" };
const MATH_SYMBOLS = [..."−·×∗÷⋄±∓⊕⊖⊗⊘⊙◯∘•≍≡⊆⊇≤≥⪯⪰∼≈⊂⊃≪≫≺≻←→↑↓↔↗↘≃⇐⇒⇑⇓⇔↖↙∝′∞∈∋△▽/",
  "", ..."∀∃¬∅ℜℑ⊤⊥ℵ"];  // 0-64; 65-90 calligraphic capitals
const MATH_SYMBOLS_HIGH = [..."∪∩⊎∧∨⊢⊣⌊⌋⌈⌉{}⟨⟩|‖↕⇕\\≀√⨿∇∫⊔⊓⊑⊒§†‡¶♣♢♡♠"];  // 91-127
const MATH_EXTENSION = { 0: "(", 1: ")", 2: "[", 3: "]", 8: "{", 9: "}", 16: "(", 17: ")",
  18: "(", 19: ")", 20: "[", 21: "]", 26: "{", 27: "}", 80: "∑", 81: "∏", 82: "∫", 88: "∑",
  89: "∏", 90: "∫", 112: "√", 113: "√", 114: "√", 115: "√", 116: "√" };

function texPosition(code) {
  if (code >= 161 && code <= 170) return code - 161;
  if (code === 172) return 10;  // moved off the soft hyphen, never drawn (tikz_worker.mjs)
  if (code >= 173 && code <= 182) return code - 163;
  if (code === 8729) return 20;
  if (code >= 184 && code <= 195) return code - 163;
  if (code === 196) return 127;
  return code;
}

function glyph(family, position) {
  const ascii = position < 128 ? String.fromCharCode(position) : "";
  if (/^cm(mi|mib)\d/.test(family)) {
    if (position < MATH_ITALIC.length) return MATH_ITALIC[position];
    if (position >= 48 && position <= 57) return ascii;  // old-style digits
    return position in MATH_ITALIC_HIGH ? MATH_ITALIC_HIGH[position] : ascii;
  }
  if (/^cm(b?sy)\d/.test(family)) {
    if (position < MATH_SYMBOLS.length) return MATH_SYMBOLS[position];
    if (position >= 91) return MATH_SYMBOLS_HIGH[position - 91] || "";
    return ascii;  // calligraphic capitals
  }
  if (/^cmex\d/.test(family)) return MATH_EXTENSION[position] || "";
  if (/^cmtt\d/.test(family)) {
    if (position < TYPEWRITER_LOW.length) return TYPEWRITER_LOW[position];
    return position < 32 ? OT1[position] || "" : ascii;
  }
  if (position <= 32) return OT1[position];
  return position in OT1_HIGH ? OT1_HIGH[position] : ascii;
}

function decodeRun(text) {
  const family = text.getAttribute("font-family") || "cmr10";
  let out = "";
  for (const char of text.textContent) out += glyph(family, texPosition(char.codePointAt(0)));
  return out;
}

function pictureText(svg) {
  // A run's start and direction on the page; runs on one baseline in one direction form a
  // line, and a gap wider than a thin space between two runs is a space between words.
  const runs = [];
  for (const text of svg.querySelectorAll("text")) {
    const m = text.getScreenCTM();
    const content = decodeRun(text);
    if (!m || !content.trim()) continue;
    const scale = Math.hypot(m.a, m.b) || 1;
    const ux = m.a / scale, uy = m.b / scale;
    const x = text.x.baseVal.length ? text.x.baseVal[0].value : 0;
    const y = text.y.baseVal.length ? text.y.baseVal[0].value : 0;
    const px = m.a * x + m.c * y + m.e, py = m.b * x + m.d * y + m.f;
    const along = px * ux + py * uy;
    runs.push({ content, direction: `${ux.toFixed(2)},${uy.toFixed(2)}`, along,
                across: -px * uy + py * ux, end: along + text.getComputedTextLength() * scale,
                size: (parseFloat(getComputedStyle(text).fontSize) || 10) * scale });
  }
  const lines = [];
  for (const run of runs) {
    const line = lines.find(l => l.direction === run.direction
                            && Math.abs(l.across - run.across) < 0.3 * run.size);
    if (line) line.runs.push(run);
    else lines.push({ direction: run.direction, across: run.across, runs: [run] });
  }
  lines.sort((a, b) => (a.direction === b.direction ? a.across - b.across : 0));
  return lines.map(line => {
    line.runs.sort((a, b) => a.along - b.along);
    let out = "", end = -Infinity;
    for (const run of line.runs) {
      if (out && run.along - end > 0.12 * run.size) out += " ";
      out += run.content;
      end = Math.max(end, run.end);
    }
    return out;
  }).join("\n");
}

function pageText(page) {
  // The page's text with each picture's runs read back as words (see pictureText).
  const pictures = [...page.querySelectorAll(".tikz > svg")];
  const standIns = pictures.map(svg => {
    const standIn = document.createElement("span");
    standIn.className = "picture-text";
    standIn.textContent = pictureText(svg);
    return standIn;
  });
  const displays = pictures.map(svg => svg.style.display);
  pictures.forEach((svg, i) => { svg.before(standIns[i]); svg.style.display = "none"; });
  // KaTeX draws equation numbers from a CSS counter, which innerText does not read: for the
  // reading they are written out (the counter runs in document order, as this does).
  const numbers = [...page.querySelectorAll(".katex .eqn-num")];
  numbers.forEach((number, i) => { number.classList.add("read"); number.textContent = `(${i + 1})`; });
  const text = page.innerText;
  numbers.forEach(number => { number.classList.remove("read"); number.textContent = ""; });
  pictures.forEach((svg, i) => { standIns[i].remove(); svg.style.display = displays[i]; });
  return text;
}

window.modswapRender = async function (body, options) {
  const page = document.getElementById("page");
  page.style.fontSize = (options.fontSizePt * 96 / 72.27).toFixed(2) + "px";
  page.style.width = options.textWidthPx.toFixed(1) + "px";
  page.className = options.sans ? "sans" : "";
  document.body.style.background = options.pageColor || "#fff";
  page.innerHTML = body;
  const mathErrors = typesetMath(page);
  await document.fonts.ready;
  alignDecimals(page);
  rotateBoxes(page);
  fitBoxes(page);
  const tables = [...page.querySelectorAll("table.tabular")].map(readGrid);
  // One JSON string crosses to Python: playwright checks nested results value by value.
  return JSON.stringify({ box: contentBox(page), tables: tables, text: pageText(page),
                          mathErrors: mathErrors, sourceLeaks: sourceLeaks(page) });
};
