// Runs Python files under real MicroPython (the WebAssembly port, v1.27) in Node.
//   node run.mjs [--heap BYTES] MODULE.py... -- SCRIPT.py
// The modules are copied into /fw (on sys.path, like a board's flash) and the script
// runs as __main__. Output goes to stdout; a Python exception exits with status 1.
// A line "# ---" splits the script into steps, each run by its own runPython call:
// this port's gc.collect() reclaims memory only between calls (it cannot scan the
// WebAssembly stack while Python code runs), so heap figures are taken at a step's start.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const args = process.argv.slice(2);
let heap = 256 * 1024;
if (args[0] === "--heap") {
  heap = Number(args[1]);
  args.splice(0, 2);
}
const split = args.indexOf("--");
if (split < 0 || split === args.length - 1) {
  console.error("usage: node run.mjs [--heap BYTES] MODULE.py... -- SCRIPT.py");
  process.exit(2);
}
const modules = args.slice(0, split);
const script = readFileSync(args[split + 1], "utf8");

const mp = await loadMicroPython({ heapsize: heap, stdout: (line) => process.stdout.write(line + "\n") });
mp.FS.mkdir("/fw");
mp.FS.mkdir("/data");
for (const path of modules) {
  mp.FS.writeFile("/fw/" + basename(path), readFileSync(path));
}
try {
  mp.runPython("import sys\nsys.path.insert(0, '/fw')\n");
  for (const step of script.split(/^# ---$/m)) {
    mp.runPython(step);
  }
} catch (error) {
  process.stdout.write(String(error.message || error) + "\n");
  process.exit(1);
}
