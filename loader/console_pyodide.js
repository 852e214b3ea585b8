/*
 * The agent console's Pyodide: public/agent/pyscript.json names this module as PyScript's
 * interpreter, and PyScript calls its loadPyodide in the console's worker. It boots from the
 * build's snapshot, as the visitor runtime does (pyodide_boot.js): the snapshot's standard
 * library modules and porch_protocol are already imported there, and the console imports the rest
 * from the files PyScript writes. Without a snapshot, or when it fails, a plain boot.
 */
import { loadPyodide as loadPlain } from "../vendor/pyodide/pyodide.mjs";
import { SNAPSHOT_HASH, bootFromSnapshot, fullStdlibURL, indexURL } from "./pyodide_boot.js";

function log(text) {
  console.info("[porch console]", text);
}

/* PyScript's options (its stdout and stderr, and its own indexURL, this module's folder). With
 * the full standard library from the start: PyScript's own package and the console import modules
 * the trimmed one lacks, whose fallback would fetch the full one then, synchronously. */
export async function loadPyodide(options) {
  const settings = { ...options, indexURL, stdLibURL: fullStdlibURL };
  return (SNAPSHOT_HASH && (await bootFromSnapshot(loadPlain, settings, log))) || loadPlain(settings);
}
