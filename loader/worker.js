/*
 * The runtime worker: loads Pyodide (off every main thread), unpacks the Python runtime and hands
 * each panel message to it. Messages that arrive while Python loads are kept and replayed in order.
 */
import { loadPyodide } from "../vendor/pyodide/pyodide.mjs";

const SNAPSHOT_HASH = "__PORCH_SNAPSHOT_HASH__";
const indexURL = new URL("../vendor/pyodide/", import.meta.url).href;
/* The inflated snapshot, kept in the widget origin's Cache Storage: a repeat visit skips the
 * download and the inflate (31.5 MB). One entry: a new build's hash replaces the old one. */
const SNAPSHOT_CACHE = "porch-snapshot";
const snapshotKey = new URL("snapshot.bin?h=" + SNAPSHOT_HASH, indexURL).href;
const early = [];
self.onmessage = (event) => early.push(event.data);

function log(text) {
  self.postMessage(JSON.stringify({ v: 1, type: "runtime.log", text }));
}

async function openSnapshotCache() {
  try {
    return await caches.open(SNAPSHOT_CACHE);
  } catch (err) {
    /* Storage blocked (a third-party frame where the browser blocks it): boot without a cache. */
    log("no Cache Storage here (" + err + "); the snapshot is not kept");
    return null;
  }
}

/* The snapshot's bytes and where they came from, or null when the build has none. Porch's server
 * sends `snapshot.bin` Brotli- or gzip-encoded (the browser inflates it natively); a plain static
 * host has only `snapshot.bin.gz`, which is inflated here with DecompressionStream. */
async function fetchSnapshot(cache) {
  if (!SNAPSHOT_HASH) return null;
  const cached = cache && (await cache.match(snapshotKey));
  if (cached) return { bytes: new Uint8Array(await cached.arrayBuffer()), source: "cache" };
  const encoded = await fetch(snapshotKey);
  if (encoded.ok) return { bytes: new Uint8Array(await encoded.arrayBuffer()), source: "http" };
  const gzipped = await fetch(new URL("snapshot.bin.gz?h=" + SNAPSHOT_HASH, indexURL));
  if (!gzipped.ok) throw new Error("HTTP " + gzipped.status);
  const inflated = gzipped.body.pipeThrough(new DecompressionStream("gzip"));
  return { bytes: new Uint8Array(await new Response(inflated).arrayBuffer()), source: "http.gz" };
}

/* After a successful boot, so it never delays one; older builds' snapshots are dropped. */
async function keepSnapshot(cache, bytes) {
  try {
    for (const request of await cache.keys()) {
      if (request.url !== snapshotKey) await cache.delete(request);
    }
    await cache.put(snapshotKey, new Response(bytes));
    log("kept the snapshot for the next visit");
  } catch (err) {
    log("could not keep the snapshot for the next visit (" + err + ")");
  }
}

/* Boot from the snapshot when it loads; it is a private Pyodide API, so any failure falls back to
 * a plain boot rather than leaving the visitor without a chat. */
let bootStarted = 0;
async function boot() {
  const started = (bootStarted = performance.now());
  const cache = await openSnapshotCache();
  try {
    const snapshot = await fetchSnapshot(cache);
    if (snapshot) {
      const fetched = performance.now();
      const pyodide = await loadPyodide({ indexURL, _loadSnapshot: snapshot.bytes });
      log("Pyodide booted from the snapshot (" + snapshot.source + ") in " +
        Math.round(performance.now() - started) + " ms, of which fetching it " +
        Math.round(fetched - started) + " ms");
      if (cache && snapshot.source !== "cache") keepSnapshot(cache, snapshot.bytes);
      return pyodide;
    }
  } catch (err) {
    log("snapshot boot failed (" + err + "); booting without it");
    if (cache) cache.delete(snapshotKey).catch(() => {});
  }
  const pyodide = await loadPyodide({ indexURL });
  log("Pyodide booted in " + Math.round(performance.now() - started) + " ms");
  return pyodide;
}

/* Fetched while Pyodide boots, not after. */
const runtimeArchive = fetch(new URL("porch_runtime.zip?h=__PORCH_RUNTIME_HASH__", import.meta.url));
const pyodide = await boot();
const archive = await runtimeArchive;
if (!archive.ok) throw new Error("porch_runtime.zip: HTTP " + archive.status);
/* The same folder as in the snapshot (build_snapshot.RUNTIME_DIR), whose packages are already
 * imported there; a plain boot imports them from here. */
pyodide.unpackArchive(await archive.arrayBuffer(), "zip", { extractDir: "/porch" });
pyodide.runPython("import sys\nif '/porch' not in sys.path: sys.path.insert(0, '/porch')");
const receive = pyodide.pyimport("porch_runtime.browser").attach((text) => self.postMessage(text));
self.onmessage = (event) => receive(event.data);
/* Where a boot's time goes, for docs/performance.md (ms since this worker was created). */
log("runtime imported at " + Math.round(performance.now()) + " ms (Pyodide started at " +
  Math.round(bootStarted) + " ms)");
early.splice(0).forEach((text) => receive(text));
