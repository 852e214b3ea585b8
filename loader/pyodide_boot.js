/*
 * Booting Pyodide from the build's memory snapshot (tools/build_snapshot.py): the visitor
 * runtime's worker (worker.js) and the agent console's PyScript worker (console_pyodide.js) both
 * do it. Bundled into each (build_public.bundle); `loadPyodide` is passed in, since each imports
 * Pyodide itself, and so is `log`, each saying it its own way.
 */
export const SNAPSHOT_HASH = "__PORCH_SNAPSHOT_HASH__";
const SNAPSHOT_DELTA_BYTES = __PORCH_SNAPSHOT_DELTA_BYTES__;
export const indexURL = new URL("../vendor/pyodide/", import.meta.url).href;
/* A snapshot boot starts with the trimmed standard library the snapshot was made with
 * (tools/build_snapshot.py); an import it lacks fetches the full one (mountFullStdlib). */
const bootStdlibURL = new URL("__PORCH_BOOT_STDLIB__", indexURL).href;
export const fullStdlibURL = new URL("python_stdlib.zip", indexURL).href;
/* The runtime loads no package: a lock with none (and the served lock's info, whose ABI version
 * Pyodide checks) saves fetching pyodide-lock.json. */
export const lockFileContents = { info: __PORCH_PYODIDE_LOCK_INFO__, packages: {} };
/* A snapshot file of the build: the visitor runtime's ("snapshot", RUNTIME_SNAPSHOT) or the agent
 * console's ("console-snapshot", console_pyodide.js). The inflated snapshot (packed: 16 of its
 * 31.5 MB) is kept in the origin's Cache Storage, in a cache of its own: a repeat visit skips the
 * download and the inflate. One entry per cache: a new build's hash replaces the old one. */
export function snapshotFile(name, hash) {
  return {
    url: new URL(name + ".bin?h=" + hash, indexURL).href,
    gzipURL: new URL(name + ".bin.gz?h=" + hash, indexURL).href,
    cache: "porch-" + name,
  };
}
export const RUNTIME_SNAPSHOT = snapshotFile("snapshot", SNAPSHOT_HASH);

async function openSnapshotCache(file, log, keep) {
  if (!keep) {
    log("storage waits for the visitor's consent: the snapshot is not kept");
    return null;
  }
  try {
    return await caches.open(file.cache);
  } catch (err) {
    /* Storage blocked (a third-party frame where the browser blocks it): boot without a cache. */
    log("no Cache Storage here (" + err + "); the snapshot is not kept");
    return null;
  }
}

/* The snapshot as served and where it came from. Porch's server sends `snapshot.bin` Brotli- or
 * gzip-encoded (the browser inflates it natively); a plain static host has only `snapshot.bin.gz`,
 * which is inflated here with DecompressionStream. */
async function fetchSnapshot(file, cache) {
  const cached = cache && (await cache.match(file.url));
  if (cached) return { served: new Uint8Array(await cached.arrayBuffer()), source: "cache" };
  const encoded = await fetch(file.url);
  if (encoded.ok) return { served: new Uint8Array(await encoded.arrayBuffer()), source: "http" };
  const gzipped = await fetch(file.gzipURL);
  if (!gzipped.ok) throw new Error("HTTP " + gzipped.status);
  const inflated = gzipped.body.pipeThrough(new DecompressionStream("gzip"));
  return { served: new Uint8Array(await new Response(inflated).arrayBuffer()), source: "http.gz" };
}

/* After a successful boot, so it never delays one; older builds' snapshots are dropped. Kept as
 * served (packed, the delta not undone). */
async function keepSnapshot(file, cache, served, log) {
  try {
    for (const request of await cache.keys()) {
      if (request.url !== file.url) await cache.delete(request);
    }
    await cache.put(file.url, new Response(served));
    log("kept the snapshot for the next visit");
  } catch (err) {
    log("could not keep the snapshot for the next visit (" + err + ")");
  }
}

/* The snapshot as Pyodide takes it, from the build's packed form
 * (build_snapshot.without_zero_pages): "PRCH", the length of Pyodide's header, the memory's
 * length, one byte per 64 KiB page of memory (1: kept), the header, the kept pages. The pages it
 * dropped are zeros, as a new array's are. */
const PAGE = 65536;
function unpackSnapshot(packed) {
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  const valid = packed.length >= 12 && view.getUint32(0, true) === 0x48435250; /* "PRCH" */
  const header = valid ? view.getUint32(4, true) : 0;
  const length = valid ? view.getUint32(8, true) : 0;
  const pages = length / PAGE;
  let at = 12 + pages + header;
  /* Checked here, before the wasm is instantiated: a throw in Pyodide's instantiation callback
   * (undoDelta) would leave loadPyodide pending forever instead of falling back. */
  if (!valid || header < 8 || header % 4 || !Number.isInteger(pages) || at > packed.length ||
      SNAPSHOT_DELTA_BYTES > length) {
    throw new Error("not a snapshot of this build");
  }
  const snapshot = new Uint8Array(header + length);
  snapshot.set(packed.subarray(12 + pages, at));
  for (let page = 0; page < pages; page++) {
    if (!packed[12 + page]) continue;
    if (at + PAGE > packed.length) throw new Error("not a snapshot of this build");
    snapshot.set(packed.subarray(at, at + PAGE), header + page * PAGE);
    at += PAGE;
  }
  return { bytes: snapshot, heap: header };
}

/* The snapshot's memory starts with a delta: its first SNAPSHOT_DELTA_BYTES are XORed with the
 * wasm's data segments (build_snapshot.delta_against_data), which are in the memory right after
 * the wasm is instantiated. XORed again with that memory, in place, before Pyodide restores it. */
function undoDelta({ bytes, heap }, memory) {
  const words = SNAPSHOT_DELTA_BYTES >>> 2;
  const target = new Uint32Array(bytes.buffer, heap, words);
  const source = new Uint32Array(memory, 0, words);
  for (let i = 0; i < words; i++) target[i] ^= source[i];
  const tail = new Uint8Array(memory);
  for (let i = words * 4; i < SNAPSHOT_DELTA_BYTES; i++) bytes[heap + i] ^= tail[i];
}

/* Pyodide's module factory (loadPyodide's createPyodideModule option), wrapped to reach the
 * memory between the wasm's instantiation and the snapshot's restore. */
function restoringFactory(factory, fetching) {
  return async (settings) => {
    const snapshot = await fetching; /* already there: Pyodide awaited it before this call */
    const instantiate = settings.instantiateWasm;
    settings.instantiateWasm = (imports, done) => instantiate(imports, (instance, module) => {
      const memory = instance.exports.memory || imports.env.memory;
      const undoing = (snapshot.instantiated = performance.now());
      undoDelta(snapshot.unpacked, memory.buffer);
      snapshot.undoMs = performance.now() - undoing;
      done(instance, module);
    });
    return (await factory)(settings);
  };
}

/* Writes the full standard library at `path` (porch_runtime.stdlib calls it on the first import
 * the trimmed one lacks). Synchronous, because an import cannot wait; workers may do that. */
function mountFullStdlib(pyodide, path, log) {
  const request = new XMLHttpRequest();
  request.open("GET", fullStdlibURL, false);
  request.responseType = "arraybuffer";
  request.send();
  if (request.status !== 200) throw new Error("python_stdlib.zip: HTTP " + request.status);
  pyodide.FS.writeFile(path, new Uint8Array(request.response));
  log("fetched the full standard library for an import the trimmed one lacks");
}

/* Pyodide booted from the snapshot (`settings` are loadPyodide's, which this completes; a
 * `stdLibURL` there replaces the trimmed standard library the snapshot was made with), or null
 * when that failed: it is a private Pyodide API, so the caller then boots without it (with the
 * full standard library) rather than leaving its user without Python. `keep` false: nothing is
 * read from or written to Cache Storage (opening it would create it: the visitor has not
 * consented to storage yet, docs/host-api.md "Consent"). `file`: which snapshot (snapshotFile). */
export async function bootFromSnapshot(
  loadPyodide, settings, log, keep = true, file = RUNTIME_SNAPSHOT,
) {
  const started = performance.now();
  /* Pyodide's own import of it, started now rather than after the snapshot arrives. */
  const factory = import(indexURL + "pyodide.asm.mjs").then((m) => m.default);
  const cache = await openSnapshotCache(file, log, keep);
  try {
    let fetched = 0;
    const snapshot = fetchSnapshot(file, cache).then((s) => {
      fetched = performance.now();
      return { ...s, unpacked: unpackSnapshot(s.served) };
    });
    /* Pyodide fetches its own files first and awaits the snapshot only then. */
    const pyodide = await loadPyodide({
      indexURL, lockFileContents, stdLibURL: bootStdlibURL, ...settings,
      _loadSnapshot: snapshot.then((s) => s.unpacked.bytes),
      createPyodideModule: restoringFactory(factory, snapshot),
    });
    const { served, source, instantiated, undoMs } = await snapshot;
    log("Pyodide booted from the snapshot (" + source + ") in " +
      Math.round(performance.now() - started) + " ms: the snapshot fetched at " +
      Math.round(fetched - started) + " ms, the wasm instantiated at " +
      Math.round(instantiated - started) + " ms, the delta undone in " + Math.round(undoMs) +
      " ms");
    if (!settings.stdLibURL) {
      pyodide.pyimport("porch_runtime.stdlib").install((path) => mountFullStdlib(pyodide, path, log));
    }
    /* The snapshot froze `random`'s state: without a new seed every restored interpreter would
     * draw the same numbers (the visitors' reconnect delays would all jitter alike). Seeded from
     * crypto.getRandomValues. Called, not run as source: nothing on a snapshot boot's path
     * compiles Python (the first use of the compiler costs the wasm functions' lazy
     * compilation). */
    const random = pyodide.pyimport("random");
    random.seed();
    random.destroy();
    if (cache && source !== "cache") keepSnapshot(file, cache, served, log);
    return pyodide;
  } catch (err) {
    log("snapshot boot failed (" + err + "); booting without it");
    if (cache) cache.delete(file.url).catch(() => {});
    return null;
  }
}
