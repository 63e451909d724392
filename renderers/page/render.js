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
  fitBoxes(page);
  const tables = [...page.querySelectorAll("table.tabular")].map(readGrid);
  // One JSON string crosses to Python: playwright checks nested results value by value.
  return JSON.stringify({ box: contentBox(page), tables: tables, text: page.innerText,
                          mathErrors: mathErrors, sourceLeaks: sourceLeaks(page) });
};
