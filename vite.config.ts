// The web console (src/web) → dist/web, which the daemon serves at `/` (src/api/web.ts).
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'src/web',
  base: '/',
  build: {
    outDir: '../../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // xterm.js alone is ~300 kB; one bundle for a page that is either the list or a terminal is fine.
    chunkSizeWarningLimit: 800,
  },
});
