// A long-lived TikZ renderer: one JSON request per stdin line, one JSON reply per stdout
// line. node-tikzjax runs TeX compiled to WebAssembly on an in-memory file system: no host
// files, no network. Its README warns against two engines at once, so requests are serial.
import readline from "node:readline";
import { pathToFileURL } from "node:url";

const module_ = await import(pathToFileURL(process.argv[2]).href);
const tex2svg = module_.default.default || module_.default;
const write = process.stdout.write.bind(process.stdout);

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const request = JSON.parse(line);
  let log = "";
  // The engine logs through stdout; keep that out of the reply channel.
  process.stdout.write = (chunk) => { log += String(chunk); return true; };
  let reply;
  try {
    const svg = await tex2svg(request.source, {
      showConsole: true, tikzLibraries: request.libraries || "",
      texPackages: request.packages || {}, disableOptimize: false,
    });
    reply = { id: request.id, svg };
  } catch (error) {
    const bang = log.match(/^! (.*)$/m);
    const at = log.match(/^l\.(\d+) /m);
    reply = { id: request.id, error: bang ? bang[1] : String(error.message || error),
              line: at ? Number(at[1]) : null };
  } finally {
    process.stdout.write = write;
  }
  write(JSON.stringify(reply) + "\n");
}
