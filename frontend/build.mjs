// Bundles the pages' scripts into the Python package (committed, so a user needs no Node.js).
import { build } from "esbuild";

await build({
  entryPoints: { playground: "src/playground.js", dashboard: "src/dashboard.js" },
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2020",
  legalComments: "linked",
  outdir: "../src/fauxpilot/web/static/pages",
  logLevel: "info",
});

// The bundled packages' licences (CodeMirror, Lezer and their helpers: MIT), beside the bundle.
import { readdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";

function packagesUnder(folder) {
  return readdirSync(folder).flatMap((name) => {
    if (name.startsWith(".")) return [];
    if (name.startsWith("@")) return packagesUnder(join(folder, name)).map((sub) => `${name}/${sub}`);
    return [name];
  });
}

const notices = packagesUnder("node_modules")
  .filter((name) => !name.startsWith("esbuild") && !name.startsWith("@esbuild/"))
  .map((name) => {
    const licence = ["LICENSE", "LICENSE.md", "LICENSE.txt"].map((file) => join("node_modules", name, file)).find(existsSync);
    const { version } = JSON.parse(readFileSync(join("node_modules", name, "package.json"), "utf8"));
    return `${name} ${version}\n\n${licence ? readFileSync(licence, "utf8").trim() : "(no licence file)"}\n`;
  });
writeFileSync("../src/fauxpilot/web/static/pages/THIRD_PARTY_LICENSES.txt", notices.join("\n" + "-".repeat(72) + "\n\n"));
