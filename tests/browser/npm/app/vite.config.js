// The package loads its .wasm and worker through `new URL(..., import.meta.url)`; esbuild's
// dependency pre-bundling (dev server only) would break those URLs.
export default { optimizeDeps: { exclude: ["ssdface"] } };
