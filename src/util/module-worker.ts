// A worker thread running one of this package's modules, from dist/ as built or, run from source
// under tsx (the bench, tests of src), the .ts file with tsx loaded first (tsx does not hook a
// worker's entry file).
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** `name`: the module's file name without its extension, beside `from` (the caller's import.meta.url). */
export function startModuleWorker(from: string, name: string, options: WorkerOptions): Worker {
  const underTsx = from.endsWith('.ts');
  const url = new URL(`./${name}${underTsx ? '.ts' : '.js'}`, from);
  if (!underTsx) return new Worker(url, options);
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { ...options, eval: true });
}
