// The tfjs wasm binaries (plain, SIMD, threaded SIMD) of the version both peers bundle (4.22.0),
// served from bench/node_modules rather than the CDN the peers default to.
export const WASM_PATH = "/node_modules/@tensorflow/tfjs-backend-wasm/dist/";
