#!/usr/bin/env node
// The installed entry point runs the compiled CLI; `npm run build` (run by `npm install`) makes it.
import('../dist/cli/main.js').then((m) => m.main(), (err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    console.error('switchboard: not built yet; run `npm install` (or `npm run build`) in the project folder');
    process.exit(1);
  }
  throw err;
});
