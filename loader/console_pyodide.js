/*
 * The agent console's Pyodide: public/agent/pyscript.json names this module as PyScript's
 * interpreter, and PyScript calls its loadPyodide in the console's worker. It boots from the
 * build's snapshot, as the visitor runtime does (pyodide_boot.js): the snapshot's standard
 * library modules and porch_protocol are already imported there, and the console imports the rest
 * from the files PyScript writes. Without a snapshot, or when it fails, a plain boot.
 *
 * A snapshot boot also gets the console's Python compiled at build time
 * (tools/console_bytecode.py): PyScript's own package and the console's modules, as unchecked
 * hash-based .pyc files for the snapshot's -OO interpreter, fetched while Pyodide boots and
 * unpacked where PyScript writes their sources, so that importing them runs no compiler.
 */
import { loadPyodide as loadPlain } from "../vendor/pyodide/pyodide.mjs";
import { SNAPSHOT_HASH, bootFromSnapshot, fullStdlibURL, indexURL } from "./pyodide_boot.js";

function log(text) {
  console.info("[porch console]", text);
}

const BYTECODE_HASH = "__PORCH_CONSOLE_BYTECODE_HASH__";
const bytecodeURL = new URL("console-bytecode.zip?h=" + BYTECODE_HASH, import.meta.url);

async function fetchBytecode() {
  const response = await fetch(bytecodeURL);
  if (!response.ok) throw new Error("HTTP " + response.status);
  return response.arrayBuffer();
}

/* PyScript's options (its stdout and stderr, and its own indexURL, this module's folder). With
 * the full standard library from the start: PyScript's own package and the console import modules
 * the trimmed one lacks, whose fallback would fetch the full one then, synchronously. */
export async function loadPyodide(options) {
  const settings = { ...options, indexURL, stdLibURL: fullStdlibURL };
  const bytecode = SNAPSHOT_HASH && BYTECODE_HASH ? fetchBytecode() : null;
  bytecode?.catch(() => {}); /* reported below, if the snapshot boot gets that far */
  const pyodide = SNAPSHOT_HASH && (await bootFromSnapshot(loadPlain, settings, log));
  if (!pyodide) return loadPlain(settings);
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
