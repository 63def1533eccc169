import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import { errors } from '../errors.js';
import type { ConsoleDriverDefinition } from './types.js';

export const SECRET_MASK = '***';

export class DriverRegistry {
  private readonly defs = new Map<string, ConsoleDriverDefinition>();
  private readonly checks = new Map<string, TypeCheck<TSchema>>();

  constructor(defs: ConsoleDriverDefinition<any>[]) {
    for (const def of defs) {
      this.defs.set(def.name, def);
      this.checks.set(def.name, TypeCompiler.Compile(def.paramsSchema));
    }
  }

  names(): string[] {
    return [...this.defs.keys()];
  }

  get(name: string): ConsoleDriverDefinition | undefined {
    return this.defs.get(name);
  }

  /** Throws UNKNOWN_DRIVER or BAD_PARAMS naming the node and the first failing field. */
  validate(node: string, driver: string, params: unknown): ConsoleDriverDefinition {
    const def = this.defs.get(driver);
    if (!def) throw new errors.UNKNOWN_DRIVER(node, driver, this.names().join(', '));
    const check = this.checks.get(driver)!;
    if (!check.Check(params)) {
      const first = check.Errors(params).First();
      const where = first?.path ? `params${first.path.replaceAll('/', '.')}` : 'params';
      throw new errors.BAD_PARAMS(node, driver, `${where}: ${first?.message ?? 'invalid'}`);
    }
    const reason = def.check?.(params as Record<string, unknown>);
    if (reason) throw new errors.BAD_PARAMS(node, driver, reason);
    return def;
  }

  /** A copy of params with every secret replaced by '***'. */
  mask(driver: string, params: Record<string, unknown>): Record<string, unknown> {
    const secrets = this.defs.get(driver)?.secretParams ?? [];
    const out = { ...params };
    for (const key of secrets) if (key in out) out[key] = SECRET_MASK;
    return out;
  }

  /** On update, a secret sent back as '***' keeps its stored value (so GET-edit-PUT is safe). */
  keepMaskedSecrets(driver: string, next: Record<string, unknown>, prev: Record<string, unknown>): Record<string, unknown> {
    const secrets = this.defs.get(driver)?.secretParams ?? [];
    const out = { ...next };
    for (const key of secrets) if (out[key] === SECRET_MASK && key in prev) out[key] = prev[key];
    return out;
  }
}
