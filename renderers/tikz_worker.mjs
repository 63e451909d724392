// A long-lived TikZ renderer: one JSON request per stdin line, one JSON reply per stdout
// line. node-tikzjax runs TeX compiled to WebAssembly; TeX reads only the engine's own files
// (set-up unpacks them; plain names in that folder), no network. Its README warns against two
// engines at once, so requests are serial.
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

const [entryPoint, unpackedArg] = isMainThread ? process.argv.slice(2) : workerData.args;
const distDir = path.dirname(path.resolve(entryPoint));
// Set-up unpacks the engine's files here: reading them beats unpacking 1.4 MB of tar into
// memory at every start, as the package does (~0.4 s).
const unpackedDir = path.resolve(unpackedArg);
const require = createRequire(import.meta.url);
const bootstrap = require(path.join(distDir, "bootstrap.js"));

function shared(buffer) {
  const copy = new SharedArrayBuffer(buffer.byteLength);
  new Uint8Array(copy).set(new Uint8Array(buffer.buffer ?? buffer, buffer.byteOffset ?? 0,
    buffer.byteLength));
  return copy;
}

if (isMainThread) {
  await serve();
} else {
  await drawInThread();
}

// ---------- main thread: requests in, replies out, the TeX thread kept within its budget
async function serve() {
  const { dvi2svg } = require(path.join(distDir, "dvi2svg.js"));
  const texDir = path.join(distDir, "..", "tex");
  const engine = await WebAssembly.compile(
    zlib.gunzipSync(fs.readFileSync(path.join(texDir, "tex.wasm.gz"))));
  const baseImage = shared(fs.readFileSync(path.join(unpackedDir, "core.dump")));
  const IMAGES_KEPT = 3; // each is the engine's whole memory, ~70 MB
  const images = new Map(); // package preamble → memory image, least recently used first
  let thread = null;
  let pending = null; // { thread, resolve } of the request in the thread

  function startThread() {
    // stdout: true keeps the thread's writes (the engine's console) off the reply channel.
    const started = new Worker(new URL(import.meta.url), {
      workerData: { args: [entryPoint, unpackedArg], engine, baseImage },
      stdout: true, stderr: true,
    });
    started.stdout.resume();
    started.stderr.resume();
    // A thread ended for its budget may still speak: only the current request's thread counts.
    const answer = (reply) => { if (pending && pending.thread === started) pending.resolve(reply); };
    started.on("message", answer);
    started.on("error", (error) => {  // the thread is gone: the next request starts another
      if (thread === started) thread = null;
      answer({ error: String(error.message || error), line: null });
    });
    started.on("exit", () => {
      if (thread === started) thread = null;
      answer({ error: "the TeX thread ended", line: null });
    });
    return started;
  }

  async function draw(request) {
    const options = { tikzLibraries: request.libraries || "", texPackages: request.packages || {} };
    const head = bootstrap.getTexPreamble(options);
    let image = null;
    if (images.has(head)) {
      image = images.get(head);
      images.delete(head);
      images.set(head, image);
    }
    thread = thread ?? startThread();
    const current = thread;
    const reply = await new Promise((resolve) => {
      const budget = Number(request.budget_s) > 0 ? Number(request.budget_s) * 1000 : 0;
      const timer = budget ? setTimeout(() => {
        pending = null;
        current.terminate();
        thread = startThread(); // loading its modules overlaps the caller's next steps
        resolve({ error: `picture took longer than ${Number(request.budget_s).toFixed(0)} s`, timeout: true });
      }, budget) : null;
      pending = {
        thread: current,
        resolve: (value) => { if (timer) clearTimeout(timer); pending = null; resolve(value); },
      };
      current.postMessage({ request, head, image });
    });
    if (reply.image) {
      images.set(head, reply.image);
      if (images.size > IMAGES_KEPT) images.delete(images.keys().next().value);
      delete reply.image;
    }
    if (reply.dvi) {  // drawn here, so a thread starts without the SVG tools (~0.7 s)
      reply.svg = await dvi2svg(Buffer.from(reply.dvi), { disableOptimize: false });
      delete reply.dvi;
    }
    return reply;
  }

  const write = process.stdout.write.bind(process.stdout);
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const request = JSON.parse(line);
    let reply;
    try {
      reply = { id: request.id, ...(await draw(request)) };
    } catch (error) {
      reply = { id: request.id, error: String(error.message || error), line: null };
    }
    write(JSON.stringify(reply) + "\n");
  }
  if (thread) await thread.terminate();
}

// ---------- the TeX thread
async function drawInThread() {
  const library = require(path.join(distDir, "library.js"));
  const { engine, baseImage } = workerData;
  const baseView = new Uint8Array(baseImage);

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
      new Uint8Array(memory.buffer, 0, library.pages * 65536).set(image);
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

  // The memory image with `head` (\usepackage and \usetikzlibrary lines) already read, or
  // the package's own image when `head` is empty or TeX reported an error reading it. A new
  // image goes back to the main thread, which keeps it for the threads to come.
  async function imageFor(head, kept) {
    if (!head.trim()) return { image: baseView, fresh: null };
    if (kept) return { image: new Uint8Array(kept), fresh: null };
    let snapshot = null;
    await runTex(baseView, "preload.tex", head + "\n", " preload.tex \n", (buffer, log) => {
      // Only an image of packages read without error: TeX's own stop comes after this.
      if (snapshot === null && !/^! /m.test(log)) snapshot = shared(new Uint8Array(buffer));
    });
    return snapshot ? { image: new Uint8Array(snapshot), fresh: snapshot } : { image: baseView, fresh: null };
  }

  async function draw(request, head, kept) {
    // The whole source still carries `head`: reading it again is a no-op on a preloaded image
    // and keeps TeX's line numbers what they were. In `scroll` mode TeX goes on after an error
    // and draws what it can, as `pdflatex -interaction=nonstopmode` does; otherwise it stops
    // at the first error. The first error is reported either way.
    const { image, fresh } = await imageFor(head, kept);
    const mode = request.mode === "scroll" ? "\\scrollmode" : "";
    const started = Date.now();
    const { dvi, log } = await runTex(image, "input.tex", mode + head + request.source,
      " input.tex \n\\end\n");
    const seconds = (Date.now() - started) / 1000;
    const preloaded = image !== baseView;
    const bang = log.match(/^! (.*)$/m);
    const at = log.match(/^l\.(\d+) /m);
    const problem = bang ? { error: bang[1], line: at ? Number(at[1]) : null } : {};
    const extra = fresh ? { image: fresh } : {};
    if (dvi === null) {
      return { error: "TeX made no picture", line: null, ...problem, preloaded, seconds, ...extra };
    }
    return { dvi: new Uint8Array(dvi), ...problem, preloaded, seconds, ...extra };
  }

  parentPort.on("message", async ({ request, head, image }) => {
    let reply;
    try {
      reply = await draw(request, head, image);
    } catch (error) {
      reply = { error: String(error.message || error), line: null };
    }
    parentPort.postMessage(reply);
  });
}
