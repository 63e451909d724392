// A long-lived TikZ renderer: one JSON request per stdin line, one JSON reply per stdout
// line, in the order pictures finish. node-tikzjax runs TeX compiled to WebAssembly; TeX reads
// only the engine's own files (set-up unpacks them; plain names in that folder), no network.
// Its README warns against two engines at once: its library keeps one run's state in module
// globals. Each worker thread loads its own copy of the library, so pictures that overlap run
// in threads of their own, one picture per thread, and share the compiled engine and images.
//
// The package's own entry point restarts TeX from its memory image (LaTeX + TikZ loaded)
// for every picture, so a picture that needs pgfplots pays ~0.8 s to load it each time.
// We drive the same engine and keep further memory images: the engine after it has read
// a picture's packages and libraries, captured when TeX asks the terminal for more input
// (the way the package's own image was made). A picture restarts from the image of its
// package set; TeX's output is byte-for-byte the same, in a third of the time.
//
// TeX runs in a worker thread: a picture past its time budget (TeX looping after an error)
// is stopped by ending the thread, and the next thread starts in ~50 ms with the compiled
// engine and the memory images, which the main thread keeps in shared memory (never copied).
// Ending the whole process instead cost a restart and rebuilding the images (~2 s).
import readline from "node:readline";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { createHash } from "node:crypto";

const [entryPoint, unpackedArg, ...flags] = isMainThread ? process.argv.slice(2) : workerData.args;
const distDir = path.dirname(path.resolve(entryPoint));
// Set-up unpacks the engine's files here: reading them beats unpacking 1.4 MB of tar into
// memory at every start, as the package does (~0.4 s).
const unpackedDir = path.resolve(unpackedArg);
const require = createRequire(import.meta.url);
const bootstrap = require(path.join(distDir, "bootstrap.js"));

// A memory image: the engine's memory after some reading, in shared memory (read by every
// thread, never copied whole), with the page runs that hold anything but zeros. TeX's memory is
// mostly zeros (85% of the package's own image) and a new engine memory is all zeros, so
// starting a picture copies only those runs: a whole copy faulted in 72 MB, ~45 ms a picture,
// as long as a small picture's TeX run. Untouched pages of the image take no memory either.
const PAGE = 4096;

function imageOf(bytes) {
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : new Uint8Array(bytes);
  const words = new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength >> 2);
  const runs = [];
  let start = -1;
  for (let page = 0; page < aligned.byteLength; page += PAGE) {
    let filled = false;
    const end = Math.min(page + PAGE, aligned.byteLength) >> 2;
    for (let word = page >> 2; word < end; word++) {
      if (words[word] !== 0) {
        filled = true;
        break;
      }
    }
    if (filled && start < 0) start = page;
    if (!filled && start >= 0) {
      runs.push(start, page);
      start = -1;
    }
  }
  if (start >= 0) runs.push(start, aligned.byteLength);
  const copy = new SharedArrayBuffer(aligned.byteLength);
  const view = new Uint8Array(copy);
  for (let at = 0; at < runs.length; at += 2) {
    view.set(aligned.subarray(runs[at], runs[at + 1]), runs[at]);
  }
  return { bytes: copy, runs };
}

// Lays `image` into `memory`, which must be new (all zeros).
function restore(image, memory) {
  const target = new Uint8Array(memory.buffer);
  const source = new Uint8Array(image.bytes);
  const { runs } = image;
  for (let at = 0; at < runs.length; at += 2) {
    target.set(source.subarray(runs[at], runs[at + 1]), runs[at]);
  }
}

// ---------- images baked at set-up
// Reading pgfplots takes ~0.7 s, paid by the first pgfplots picture of every process. Set-up
// sends a request {"bake": true}: the engine reads these package sets once and stores their
// images beside its files, as TeX distributions store formats; pictures then start from
// them, byte for byte as from images made in the process. `--no-baked` leaves them unused.
const BAKED_DIR = "baked-v1";
const BAKED_PACKAGE_SETS = [{ pgfplots: "" }];

// An image as a file: a JSON line (its preamble, runs and length), then the runs' bytes.
function writeImage(file, head, image) {
  const bytes = new Uint8Array(image.bytes);
  const header = { head, runs: image.runs, length: bytes.byteLength };
  const parts = [Buffer.from(JSON.stringify(header) + "\n")];
  for (let at = 0; at < image.runs.length; at += 2) {
    parts.push(bytes.subarray(image.runs[at], image.runs[at + 1]));
  }
  fs.writeFileSync(file, Buffer.concat(parts));
}

function readImage(file) {
  const data = fs.readFileSync(file);
  const end = data.indexOf(10);
  const { runs, length } = JSON.parse(data.subarray(0, end).toString());
  const copy = new SharedArrayBuffer(length);
  const view = new Uint8Array(copy);
  let from = end + 1;
  for (let at = 0; at < runs.length; at += 2) {
    const size = runs[at + 1] - runs[at];
    view.set(data.subarray(from, from + size), runs[at]);
    from += size;
  }
  if (from !== data.length) throw new Error(`${file} is not a whole image`);
  return { bytes: copy, runs };
}

// preamble → file of its baked image (none with `--no-baked`, or before set-up baked them)
function bakedImages() {
  const dir = path.join(unpackedDir, BAKED_DIR);
  if (flags.includes("--no-baked") || !fs.existsSync(path.join(dir, "index.json"))) {
    return new Map();
  }
  const index = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8"));
  return new Map(Object.entries(index).map(([head, name]) => [head, path.join(dir, name)]));
}

if (isMainThread) {
  await serve();
} else {
  await drawInThread();
}

// DVI → SVG markup. The package's own dvi2svg builds a new DOM for every picture and runs
// SVGO over the result: ~10 ms a small picture and more for plots, on the one thread every
// picture's reply passes through, for markup our sanitizer parses again anyway. Here one DOM
// serves every picture, which only closes what dvi2html leaves open, and no optimizer runs.
function svgMaker() {
  const packageRequire = createRequire(path.join(distDir, "dvi2svg.js"));
  const { dvi2html } = packageRequire("@prinsss/dvi2html");
  const { JSDOM } = packageRequire("jsdom");
  const { window } = new JSDOM("<!DOCTYPE html>");
  const serializer = new window.XMLSerializer();
  return async function svgOf(dvi) {
    let markup = "";
    async function* whole() { yield dvi; }
    await dvi2html(whole(), { write(chunk) { markup += chunk.toString(); } });
    // dvi2html names every picture's clip paths, patterns and markers from pgf1 on; a page
    // shows many pictures, so each picture's names get a tag of its own content.
    const names = new Set([...markup.matchAll(/\bid="(pgf[^"]*)"/g)].map((found) => found[1]));
    if (names.size) {
      const tag = createHash("sha256").update(markup).digest("hex").slice(0, 10);
      markup = markup.replace(/(id="|#)(pgf[^"')\s]*)/g,
        (found, lead, name) => (names.has(name) ? `${lead}${name}-${tag}` : found));
    }
    // A browser never draws a soft hyphen (U+00AD), the slot where these fonts keep some
    // symbols (\Omega, \otimes); the engine's fonts also hold them at U+00AC, as the
    // package's own conversion relies on.
    markup = markup.replaceAll("&#173;", "&#172;");
    const svg = window.document.createRange().createContextualFragment(markup).querySelector("svg");
    if (svg === null) throw new Error("TeX's picture held no SVG");
    return serializer.serializeToString(svg); // XML: the sanitizer reads it as such
  };
}

// ---------- main thread: requests in, replies out, each TeX thread kept within its budget
// Requests may overlap (the caller sends as many as it wants threads): each runs in a TeX
// thread of its own, and replies go out as they finish, matched to requests by id.
async function serve() {
  const svgOf = svgMaker();
  const texDir = path.join(distDir, "..", "tex");
  const engine = await WebAssembly.compile(
    zlib.gunzipSync(fs.readFileSync(path.join(texDir, "tex.wasm.gz"))));
  const baseImage = imageOf(fs.readFileSync(path.join(unpackedDir, "core.dump")));
  // Each holds only the filled pages of the engine's 72 MB memory: 10-15 MB with TikZ
  // libraries or pgfplots read (so eight take less than three whole ones did).
  const IMAGES_KEPT = 8;
  const images = new Map(); // package preamble → memory image, least recently used first
  const baked = bakedImages();
  // package preamble → { ready, settle } while a thread reads it: ready settles when its image
  // comes (or its picture ends without one)
  const building = new Map();
  const idle = []; // threads that finished a picture, kept for the next (modules loaded)
  const pending = new Map(); // thread → resolve of the request it is drawing
  const gone = new WeakSet(); // threads that errored or ended: never reused

  // A new image, kept (the least recently used goes), and the pictures waiting for it told.
  function keep(head, image) {
    images.set(head, image);
    if (images.size > IMAGES_KEPT) images.delete(images.keys().next().value);
    building.get(head)?.settle();
  }

  // The image of `preamble` if kept (now the most recently used), else null.
  function take(preamble) {
    let image = images.get(preamble) ?? null;
    if (image) {
      images.delete(preamble);
      images.set(preamble, image);
    } else if (baked.has(preamble)) {
      try {
        image = readImage(baked.get(preamble));
        keep(preamble, image);
      } catch (error) { // damaged since set-up: made here instead, as without it
        baked.delete(preamble);
      }
    }
    return image;
  }

  // Set-up's request: reads each package set of BAKED_PACKAGE_SETS from the engine's own
  // image and stores the images made (a folder written whole, then renamed into place).
  async function bake() {
    baked.clear();
    const target = path.join(unpackedDir, BAKED_DIR);
    const folder = `${target}.partial`;
    fs.rmSync(folder, { recursive: true, force: true });
    fs.mkdirSync(folder);
    const index = {};
    for (const [number, texPackages] of BAKED_PACKAGE_SETS.entries()) {
      const head = bootstrap.getTexPreamble({ texPackages });
      const reply = await draw({
        source: "\\begin{document}\\begin{tikzpicture}\\end{tikzpicture}\\end{document}",
        libraries: "",
        packages: texPackages,
      });
      const image = images.get(head);
      if (!image) throw new Error(`reading ${Object.keys(texPackages)} failed: ${reply.error}`);
      index[head] = `image-${number}.bin`;
      writeImage(path.join(folder, index[head]), head, image);
    }
    fs.writeFileSync(path.join(folder, "index.json"), JSON.stringify(index));
    fs.rmSync(target, { recursive: true, force: true });
    fs.renameSync(folder, target);
    return { baked: Object.keys(index).length };
  }

  // Marks `preamble` as being read; pictures that want it wait until it settles.
  function reserve(preamble) {
    const reading = { preamble };
    reading.ready = new Promise((resolve) => { reading.settle = resolve; });
    building.set(preamble, reading);
    return reading;
  }

  function startThread() {
    // stdout: true keeps the thread's writes (the engine's console) off the reply channel.
    const started = new Worker(new URL(import.meta.url), {
      workerData: { args: [entryPoint, unpackedArg], engine, baseImage },
      stdout: true, stderr: true,
    });
    started.stdout.resume();
    started.stderr.resume();
    // A thread ended for its budget may still speak: only a request it holds hears it.
    const answer = (reply) => pending.get(started)?.(reply);
    const hear = (message) => {
      if (message.preamble === undefined) return answer(message);
      keep(message.preamble, message.image);
    };
    const drop = (reply) => {
      gone.add(started);
      const at = idle.indexOf(started);
      if (at >= 0) idle.splice(at, 1);
      answer(reply);
    };
    started.on("message", hear);
    started.on("error", (error) => drop({ error: String(error.message || error), line: null }));
    started.on("exit", () => drop({ error: "the TeX thread ended", line: null }));
    return started;
  }

  async function draw(request) {
    const options = { tikzLibraries: request.libraries || "", texPackages: request.packages || {} };
    const head = bootstrap.getTexPreamble(options);
    // With packages and libraries both, the packages' own image is made first (see imageFor).
    const packagesOnly = options.tikzLibraries && Object.keys(options.texPackages).length
      ? bootstrap.getTexPreamble({ texPackages: options.texPackages }) : null;
    // A preamble another thread is reading now: wait for its image rather than read it twice.
    const awaited = () => [head, images.has(head) ? null : packagesOnly]
      .find((wanted) => wanted && wanted.trim() && !images.has(wanted) && building.has(wanted));
    for (let wanted = awaited(); wanted; wanted = awaited()) await building.get(wanted).ready;
    const image = take(head);
    const packagesImage = image || !packagesOnly ? null : take(packagesOnly);
    // Preambles this picture's thread reads, making their images
    const reading = [];
    if (!image && head.trim()) reading.push(reserve(head));
    if (!image && packagesOnly && !packagesImage) reading.push(reserve(packagesOnly));
    const current = idle.pop() ?? startThread();
    let reply;
    try {
      reply = await new Promise((resolve) => {
        const budget = Number(request.budget_s) > 0 ? Number(request.budget_s) * 1000 : 0;
        const timer = budget ? setTimeout(() => {
          pending.delete(current);
          gone.add(current);
          current.terminate();
          idle.push(startThread()); // loading its modules overlaps the caller's next steps
          resolve({ error: `picture took longer than ${Number(request.budget_s).toFixed(0)} s`, timeout: true });
        }, budget) : null;
        pending.set(current, (value) => {
          if (timer) clearTimeout(timer);
          pending.delete(current);
          resolve(value);
        });
        current.postMessage({ request, head, image, packagesOnly, packagesImage });
      });
    } finally {
      for (const { preamble, settle } of reading) {
        building.delete(preamble);
        settle();
      }
    }
    // A thread that answered is whole; one that errored, ended or ran over is not reused.
    if (!reply.timeout && !gone.has(current)) idle.push(current);
    if (reply.dvi) {  // drawn here, so a thread starts without the SVG tools (~0.7 s)
      reply.svg = await svgOf(Buffer.from(reply.dvi));
      delete reply.dvi;
    }
    return reply;
  }

  // The engine serves one caller: when it is gone, the pictures still queued are for nobody.
  // Its death ends our input (see the end of serve); these cover a caller whose end of the
  // pipe lives on in a process it started, and replies that have nowhere to go.
  const caller = process.ppid;
  setInterval(() => { if (process.ppid !== caller) process.exit(0); }, 1000).unref();
  process.stdout.on("error", () => process.exit(0));
  const write = process.stdout.write.bind(process.stdout);
  const lines = readline.createInterface({ input: process.stdin });
  const inFlight = new Set();
  for await (const line of lines) {
    const request = JSON.parse(line);
    const answered = (request.bake ? bake() : draw(request))
      .then((reply) => ({ id: request.id, ...reply }))
      .catch((error) => ({ id: request.id, error: String(error.message || error), line: null }))
      .then((reply) => { write(JSON.stringify(reply) + "\n"); });
    inFlight.add(answered);
    answered.finally(() => inFlight.delete(answered));
  }
  await Promise.all(inFlight);
  // An ended thread leaves `idle` (its exit handler): ending them one by one from the list
  // itself skipped every second thread, which then kept the process alive.
  await Promise.all(idle.splice(0).map((thread) => thread.terminate()));
}

// ---------- the TeX thread
async function drawInThread() {
  const library = require(path.join(distDir, "library.js"));
  const { engine, baseImage } = workerData;

  // TeX asks for "/tex_files/NAME"; only plain names in the unpacked folder are served, so a
  // document's `\input{../../x}` or `\input{/etc/x}` finds nothing.
  async function readTexFile(request) {
    const name = request.replace(/^\/tex_files\//, "");
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`no file ${request}`);
    return fs.readFileSync(path.join(unpackedDir, "tex_files", name));
  }

  const write = process.stdout.write.bind(process.stdout);
  let failRun = null; // rejects the TeX run in progress
  process.on("uncaughtException", (error) => {
    if (failRun === null) throw error;
    failRun(error);
  });

  // Runs TeX from `image` on `name` (a file holding `text`); `onIdle` receives the engine's
  // memory and its log so far when TeX has finished the file and wants terminal input.
  async function runTex(image, name, text, terminal, onIdle) {
    let log = "";
    // A font the engine lacks throws from inside a timer callback, outside any promise: the
    // thread's handler above turns that into this run's failure instead of the thread's end.
    const escaped = new Promise((resolve, reject) => { failRun = reject; });
    // The engine logs through stdout; the log is what we read its errors from.
    process.stdout.write = (chunk) => { log += String(chunk); return true; };
    try {
      library.setShowConsole();
      library.writeFileSync(name, Buffer.from(text));
      const memory = new WebAssembly.Memory({ initial: library.pages, maximum: library.pages });
      restore(image, memory);
      library.setMemory(memory.buffer);
      library.setInput(terminal, onIdle ? () => onIdle(memory.buffer, log) : undefined);
      library.setFileLoader(readTexFile);
      // TeX signals its end only on the way out it expects; after a fatal error (100 errors)
      // `main` just returns. `main` returning other than to wait for a file (the only reason
      // the engine pauses: opening one answers -1) is the end either way.
      let loading = false;
      let stopped;
      const returned = new Promise((resolve) => { stopped = resolve; });
      const imports = {
        ...library,
        reset: (length, pointer) => {
          const descriptor = library.reset(length, pointer);
          loading = descriptor === -1;
          return descriptor;
        },
      };
      const instance = await WebAssembly.instantiate(engine, { library: imports, env: { memory } });
      const exports = {
        ...instance.exports,
        main: () => {
          loading = false;
          instance.exports.main();
          if (!loading) stopped();
        },
      };
      await Promise.race([library.executeAsync(exports), escaped, returned]);
      let dvi = null;
      try {
        dvi = Buffer.from(library.readFileSync(name.replace(/\.tex$/, ".dvi")));
      } catch (error) {
        dvi = null;
      }
      return { dvi, log };
    } finally {
      failRun = null;
      library.deleteEverything();
      process.stdout.write = write;
    }
  }

  let readFromScratch = 0; // preambles read from the package's own image for this picture

  // TeX from `from` reading `text`: the memory image when it has read it without error, sent
  // to the main thread as the image of the preamble `key` at once (pictures may wait for it).
  async function preload(from, text, key) {
    readFromScratch += from === baseImage;
    let snapshot = null;
    await runTex(from, "preload.tex", text + "\n", " preload.tex \n", (buffer, log) => {
      // Only an image of packages read without error: TeX's own stop comes after this.
      if (snapshot === null && !/^! /m.test(log)) snapshot = imageOf(new Uint8Array(buffer));
    });
    if (snapshot) parentPort.postMessage({ preamble: key, image: snapshot });
    return snapshot;
  }

  // The memory image with `head` (\usepackage and \usetikzlibrary lines) already read, or
  // the package's own image when `head` is empty or TeX reported an error reading it. New
  // images go to the main thread at once, which keeps them for the pictures to come. With
  // both packages and libraries, the packages' image is made (or taken) first and the
  // libraries read on top of it: pgfplots costs a second to read, a library set a tenth.
  async function imageFor(head, kept, packagesOnly, packagesImage) {
    if (!head.trim()) return baseImage;
    if (kept) return kept;
    let from = baseImage;
    let text = head;
    if (packagesOnly) {
      const packages = packagesImage ?? await preload(baseImage, packagesOnly, packagesOnly);
      if (packages) {
        from = packages;
        text = head.slice(packagesOnly.length - 1); // the libraries' part of the line
      }
    }
    const made = await preload(from, text, head);
    return made ?? from;
  }

  async function draw(request, head, kept, packagesOnly, packagesImage) {
    // The whole source still carries `head`: reading it again is a no-op on a preloaded image
    // and keeps TeX's line numbers what they were. In `scroll` mode TeX goes on after an error
    // and draws what it can, as `pdflatex -interaction=nonstopmode` does; otherwise it stops
    // at the first error. The first error is reported either way.
    readFromScratch = 0;
    const image = await imageFor(head, kept, packagesOnly, packagesImage);
    const mode = request.mode === "scroll" ? "\\scrollmode" : "";
    const started = Date.now();
    const { dvi, log } = await runTex(image, "input.tex", mode + head + request.source,
      " input.tex \n\\end\n");
    const seconds = (Date.now() - started) / 1000;
    const preloaded = image !== baseImage;
    const bang = log.match(/^! (.*)$/m);
    const at = log.match(/^l\.(\d+) /m);
    const problem = bang ? { error: bang[1], line: at ? Number(at[1]) : null } : {};
    if (dvi === null) {
      return {
        error: "TeX made no picture", line: null, ...problem, preloaded, readFromScratch, seconds,
      };
    }
    return { dvi: new Uint8Array(dvi), ...problem, preloaded, readFromScratch, seconds };
  }

  parentPort.on("message", async ({ request, head, image, packagesOnly, packagesImage }) => {
    let reply;
    try {
      reply = await draw(request, head, image, packagesOnly, packagesImage);
    } catch (error) {
      reply = { error: String(error.message || error), line: null };
    }
    parentPort.postMessage(reply);
  });
}
