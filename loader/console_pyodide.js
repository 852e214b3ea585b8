/*
 * The agent console's Pyodide: public/agent/pyscript.json names this module as PyScript's
 * interpreter, and PyScript calls its loadPyodide in the console's worker. It boots from the
 * console's own snapshot (build_snapshot.CONSOLE_PRELOADED; restored as the visitor runtime's is,
 * pyodide_boot.js): the standard-library modules the console and PyScript's package import,
 * porch_protocol and console_state are already imported there, so it starts with the trimmed
 * standard library, like the runtime. Without a snapshot, or when it fails, a plain boot with the
 * full standard library.
 *
 * A snapshot boot also gets the console's Python compiled at build time
 * (tools/console_bytecode.py): PyScript's own package and console.py, which import `js` and
 * cannot be in a snapshot, as unchecked hash-based .pyc files for the snapshot's -OO interpreter,
 * fetched while Pyodide boots and unpacked where PyScript writes their sources, so that importing
 * them runs no compiler.
 */
import { loadPyodide as loadPlain } from "../vendor/pyodide/pyodide.mjs";
import { bootFromSnapshot, fullStdlibURL, indexURL, snapshotFile } from "./pyodide_boot.js";

const CONSOLE_SNAPSHOT_HASH = "__PORCH_CONSOLE_SNAPSHOT_HASH__";
const BYTECODE_HASH = "__PORCH_CONSOLE_BYTECODE_HASH__";
const bytecodeURL = new URL("console-bytecode.zip?h=" + BYTECODE_HASH, import.meta.url);

function log(text) {
  console.info("[porch console]", text);
}

async function fetchBytecode() {
  const response = await fetch(bytecodeURL);
  if (!response.ok) throw new Error("HTTP " + response.status);
  return response.arrayBuffer();
}

/* PyScript's options (its stdout and stderr, and its own indexURL, this module's folder). */
export async function loadPyodide(options) {
  const settings = { ...options, indexURL };
  const bytecode = CONSOLE_SNAPSHOT_HASH && BYTECODE_HASH ? fetchBytecode() : null;
  bytecode?.catch(() => {}); /* reported below, if the snapshot boot gets that far */
  const file = snapshotFile("console-snapshot", CONSOLE_SNAPSHOT_HASH);
  const pyodide =
    CONSOLE_SNAPSHOT_HASH && (await bootFromSnapshot(loadPlain, settings, log, true, file));
  if (!pyodide) return loadPlain({ ...settings, stdLibURL: fullStdlibURL });
  if (bytecode) {
    try {
      pyodide.unpackArchive(await bytecode, "zip", { extractDir: pyodide.FS.cwd() });
      log("the console's Python compiled at build time is in place");
    } catch (err) {
      log("no compiled Python (" + err + "); the console compiles its sources");
    }
  }
  return pyodide;
}
