/*
 * The runtime worker: loads Pyodide (off every main thread), unpacks the Python runtime and hands
 * each panel message to it. Messages that arrive while Python loads are kept and replayed in order.
 */
import { loadPyodide } from "../vendor/pyodide/pyodide.mjs";

const SNAPSHOT_HASH = "__PORCH_SNAPSHOT_HASH__";
const indexURL = new URL("../vendor/pyodide/", import.meta.url).href;
const early = [];
self.onmessage = (event) => early.push(event.data);

function log(text) {
  self.postMessage(JSON.stringify({ v: 1, type: "runtime.log", text }));
}

/* The build's memory snapshot (tools/build_snapshot.py), inflated; null when there is none. */
async function fetchSnapshot() {
  if (!SNAPSHOT_HASH) return null;
  const response = await fetch(new URL("snapshot.bin.gz?h=" + SNAPSHOT_HASH, indexURL));
  if (!response.ok) throw new Error("HTTP " + response.status);
  const inflated = response.body.pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(inflated).arrayBuffer());
}

/* Boot from the snapshot when it loads; it is a private Pyodide API, so any failure falls back to
 * a plain boot rather than leaving the visitor without a chat. */
async function boot() {
  const started = performance.now();
  try {
    const snapshot = await fetchSnapshot();
    if (snapshot) {
      const pyodide = await loadPyodide({ indexURL, _loadSnapshot: snapshot });
      log("Pyodide booted from the snapshot in " + Math.round(performance.now() - started) + " ms");
      return pyodide;
    }
  } catch (err) {
    log("snapshot boot failed (" + err + "); booting without it");
  }
  const pyodide = await loadPyodide({ indexURL });
  log("Pyodide booted in " + Math.round(performance.now() - started) + " ms");
  return pyodide;
}

const pyodide = await boot();
const archive = await fetch(new URL("porch_runtime.zip?h=__PORCH_RUNTIME_HASH__", import.meta.url));
if (!archive.ok) throw new Error("porch_runtime.zip: HTTP " + archive.status);
pyodide.unpackArchive(await archive.arrayBuffer(), "zip", { extractDir: "/porch" });
pyodide.runPython("import sys; sys.path.insert(0, '/porch')");
const receive = pyodide.pyimport("porch_runtime.browser").attach((text) => self.postMessage(text));
self.onmessage = (event) => receive(event.data);
early.splice(0).forEach((text) => receive(text));
