// Runs codec.js as a network server would (a plain script, its functions global) over
// test vectors: node check.mjs VECTORS.json prints one JSON result per vector.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const source = readFileSync(fileURLToPath(new URL("codec.js", import.meta.url)), "utf8");
const codec = new Function(source + "\nreturn { decodeUplink, encodeDownlink, decodeDownlink };")();
const vectors = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = vectors.map(([name, input]) => codec[name](input));
process.stdout.write(JSON.stringify(out));
