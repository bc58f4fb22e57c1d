/** WASM binaries imported as modules (wrangler's CompiledWasm rule): compiled at upload. */
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
