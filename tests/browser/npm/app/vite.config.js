// The package test's Vite settings: none of the package's own (it needs none), only every page
// of the app built: index.html and the pages the package test writes in readme/, one per
// example of the package README.
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const examples = readdirSync(here("readme")).filter((name) => name.endsWith(".html"));

export default {
  build: { rollupOptions: { input: [here("index.html"), ...examples.map((name) => here(`readme/${name}`))] } },
};
