/*
 * The runtime worker: loads Pyodide (off every main thread), unpacks the Python runtime and hands
 * each panel message to it. Messages that arrive while Python loads are kept and replayed in order.
 */
import { loadPyodide } from "../vendor/pyodide/pyodide.mjs";

const early = [];
self.onmessage = (event) => early.push(event.data);

const pyodide = await loadPyodide({ indexURL: new URL("../vendor/pyodide/", import.meta.url).href });
const archive = await fetch(new URL("porch_runtime.zip?h=__PORCH_RUNTIME_HASH__", import.meta.url));
if (!archive.ok) throw new Error("porch_runtime.zip: HTTP " + archive.status);
pyodide.unpackArchive(await archive.arrayBuffer(), "zip", { extractDir: "/porch" });
pyodide.runPython("import sys; sys.path.insert(0, '/porch')");
const receive = pyodide.pyimport("porch_runtime.browser").attach((text) => self.postMessage(text));
self.onmessage = (event) => receive(event.data);
early.splice(0).forEach((text) => receive(text));
