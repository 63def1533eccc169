import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import { errors } from '../errors.js';
import type { DriverDefinition } from './types.js';

export const SECRET_MASK = '***';

const INTEGER = /^[+-]?\d+$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * A copy of params where a string that spells exactly an integer, number or boolean becomes one,
 * for top-level params the schema types so. Anything else is left for the schema to refuse
 * (TypeBox's Value.Convert would read "2.5" as the integer 2).
 */
function convertScalars(schema: TSchema, params: unknown): unknown {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return params;
  const props = (schema as { properties?: Record<string, TSchema> }).properties ?? {};
  const out: Record<string, unknown> = { ...params };
  for (const [key, value] of Object.entries(out)) {
    if (typeof value !== 'string') continue;
    const type = scalarType(props[key]);
    if (type === 'integer' && INTEGER.test(value)) out[key] = Number(value);
    else if (type === 'number' && NUMBER.test(value)) out[key] = Number(value);
    else if (type === 'boolean' && (value === 'true' || value === 'false')) out[key] = value === 'true';
  }
  return out;
}

/** The drivers of one kind (console or power): their params checked, their secrets masked. */
/** The JSON type of a param's schema; a choice of numeric literals (cipher suite 3 | 17) counts as a number. */
function scalarType(schema: TSchema | undefined): unknown {
  if (!schema) return undefined;
  if (schema.type) return schema.type;
  const anyOf = (schema as { anyOf?: { const?: unknown }[] }).anyOf;
  if (anyOf?.length && anyOf.every((s) => typeof s.const === 'number')) return 'number';
  return undefined;
}

export class DriverRegistry<D extends DriverDefinition<any> = DriverDefinition> {
  private readonly defs = new Map<string, D>();
  private readonly checks = new Map<string, TypeCheck<TSchema>>();

  constructor(
    defs: D[],
    /** Says which kind of driver an error is about: 'console' or 'power'. */
    readonly kind = 'console',
  ) {
    for (const def of defs) {
      this.defs.set(def.name, def);
      this.checks.set(def.name, TypeCompiler.Compile(def.paramsSchema));
    }
  }

  names(): string[] {
    return [...this.defs.keys()];
  }

  get(name: string): D | undefined {
    return this.defs.get(name);
  }

  /**
   * The driver and its params, numbers and booleans given as strings (as the CLI's
   * `--param port=2323` sends them) converted. Throws UNKNOWN_DRIVER or BAD_PARAMS naming the
   * node and the first failing field.
   */
  validate(node: string, driver: string, input: unknown, field = 'params'): { def: D; params: Record<string, unknown> } {
    const def = this.defs.get(driver);
    if (!def) throw new errors.UNKNOWN_DRIVER(node, this.kind, driver, this.names().join(', '));
    const check = this.checks.get(driver)!;
    const params = convertScalars(def.paramsSchema, input);
    if (!check.Check(params)) {
      const first = check.Errors(params).First();
      const where = first?.path ? `${field}${first.path.replaceAll('/', '.')}` : field;
      throw new errors.BAD_PARAMS(node, driver, `${where}: ${first?.message ?? 'invalid'}`);
    }
    const reason = def.check?.(params as Record<string, unknown>);
    if (reason) throw new errors.BAD_PARAMS(node, driver, reason);
    return { def, params: params as Record<string, unknown> };
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
