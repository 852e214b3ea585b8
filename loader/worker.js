/*
 * The runtime worker: loads Pyodide (off every main thread), unpacks the Python runtime and hands
 * each panel message to it. Messages that arrive while Python loads are kept and replayed in order.
 */
import { loadPyodide } from "../vendor/pyodide/pyodide.mjs";
import { SNAPSHOT_HASH, bootFromSnapshot, indexURL, lockFileContents } from "./pyodide_boot.js";

const early = [];
self.onmessage = (event) => early.push(event.data);
/* The page asked for the visitor's consent before any storage, and has not had it (panel.js). */
const STORAGE_ALLOWED = self.location.hash !== "#no-storage";

function log(text) {
  self.postMessage(JSON.stringify({ v: 1, type: "runtime.log", text }));
}

/* From the snapshot when the build has one and it loads; otherwise a plain boot. */
let bootStarted = 0;
async function boot() {
  const started = (bootStarted = performance.now());
  const restored = SNAPSHOT_HASH && (await bootFromSnapshot(loadPyodide, {}, log, STORAGE_ALLOWED));
  if (restored) return restored;
  /* Without a snapshot the runtime's packages come from their zip, fetched while Pyodide boots
   * (a snapshot has them imported already: build_snapshot.PRELOADED). */
  const runtimeArchive = fetch(new URL("porch_runtime.zip?h=__PORCH_RUNTIME_HASH__", import.meta.url));
  const pyodide = await loadPyodide({ indexURL, lockFileContents });
  log("Pyodide booted in " + Math.round(performance.now() - started) + " ms");
  const archive = await runtimeArchive;
  if (!archive.ok) throw new Error("porch_runtime.zip: HTTP " + archive.status);
  /* The same folder as the snapshot's (build_snapshot.RUNTIME_DIR). */
  pyodide.unpackArchive(await archive.arrayBuffer(), "zip", { extractDir: "/porch" });
  pyodide.runPython("import sys\nsys.path.insert(0, '/porch')");
  return pyodide;
}

const pyodide = await boot();
/* For diagnostics (the devtools console of this worker, the e2e tests): the interpreter. */
self.pyodide = pyodide;
const handle = pyodide.pyimport("porch_runtime.browser").attach((text) => self.postMessage(text));
/* The adapter reports Python's exceptions itself and never raises; this catches what is left
 * (an error of Pyodide's own), so it costs that one message, not the worker's `error` event. */
function receive(data) {
  try {
    handle(data);
  } catch (err) {
    console.error("[porch] the runtime failed on a panel message; it goes on with the next:", err);
  }
}
self.onmessage = (event) => receive(event.data);
/* Where a boot's time goes, for docs/performance.md (ms since this worker was created). */
log("runtime imported at " + Math.round(performance.now()) + " ms (Pyodide started at " +
  Math.round(bootStarted) + " ms)");
early.splice(0).forEach((text) => receive(text));
