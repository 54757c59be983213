/**
 * A small JSON Schema checker (the 2020-12 dialect that OpenAPI 3.1 uses) for the keywords an
 * OpenAPI document of this service may contain, resolving `$ref`s inside that document.
 *
 * It refuses every keyword it does not know, so a schema that says more than this checker
 * understands fails loudly instead of passing unchecked. Annotations (description, default,
 * format, examples, `x-...` extensions) do not constrain values.
 */

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

const ANNOTATIONS = new Set(['description', 'title', 'default', 'examples', 'example', 'deprecated', 'readOnly', 'writeOnly', 'format', '$comment']);
const ASSERTIONS = new Set([
  '$ref',
  'type',
  'enum',
  'const',
  'properties',
  'required',
  'additionalProperties',
  'propertyNames',
  'minProperties',
  'maxProperties',
  'items',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minLength',
  'maxLength',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'allOf',
  'anyOf',
  'oneOf',
  'not',
]);

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function typeOf(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function hasType(v: Json, t: string): boolean {
  const actual = typeOf(v);
  return actual === t || (t === 'number' && actual === 'integer');
}

function equal(a: Json, b: Json): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Every `$ref` string anywhere in a document, with the JSON path where it stands. */
export function allRefs(doc: Json, path = '$'): Array<{ at: string; ref: string }> {
  if (Array.isArray(doc)) return doc.flatMap((v, i) => allRefs(v, `${path}[${i}]`));
  if (!isObject(doc)) return [];
  return Object.entries(doc).flatMap(([k, v]) =>
    k === '$ref' && typeof v === 'string' ? [{ at: path, ref: v }] : allRefs(v, `${path}.${k}`),
  );
}

export class SchemaChecker {
  constructor(private readonly root: Json) {}

  /** The value a local reference (`#/a/b`, JSON Pointer escapes ~0 ~1) points to; throws when it does not exist. */
  resolve(ref: string): Json {
    if (!ref.startsWith('#')) throw new Error(`not a local reference: ${ref}`);
    let at: Json = this.root;
    const pointer = ref.slice(1);
    if (pointer === '') return at;
    if (!pointer.startsWith('/')) throw new Error(`not a JSON pointer: ${ref}`);
    for (const raw of pointer.slice(1).split('/')) {
      const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      if (Array.isArray(at) && /^\d+$/.test(key) && Number(key) < at.length) at = at[Number(key)]!;
      else if (isObject(at) && Object.prototype.hasOwnProperty.call(at, key)) at = at[key]!;
      else throw new Error(`dangling reference ${ref}`);
    }
    return at;
  }

  /** Follows `$ref`s until a schema without one (only for schemas that are nothing but a reference). */
  deref(schema: Json): Json {
    let s = schema;
    for (let i = 0; i < 32 && isObject(s) && typeof s.$ref === 'string' && Object.keys(s).length === 1; i++) s = this.resolve(s.$ref);
    return s;
  }

  /** Why `value` does not satisfy `schema` (empty when it does). */
  errors(schema: Json, value: Json, path = '$'): string[] {
    if (schema === true) return [];
    if (schema === false) return [`${path}: no value is allowed here`];
    if (!isObject(schema)) throw new Error(`${path}: not a schema: ${JSON.stringify(schema)}`);
    for (const k of Object.keys(schema)) {
      if (!ASSERTIONS.has(k) && !ANNOTATIONS.has(k) && !k.startsWith('x-')) throw new Error(`${path}: schema keyword ${k} is not understood by this checker`);
    }
    const out: string[] = [];
    const s = schema;
    if (typeof s.$ref === 'string') out.push(...this.errors(this.resolve(s.$ref), value, path));
    if (s.type !== undefined) {
      const types = Array.isArray(s.type) ? s.type : [s.type];
      if (!types.some((t) => typeof t === 'string' && hasType(value, t))) out.push(`${path}: expected ${types.join(' or ')}, got ${typeOf(value)}`);
    }
    if (Array.isArray(s.enum) && !s.enum.some((e) => equal(e, value))) out.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`);
    if (s.const !== undefined && !equal(s.const, value)) out.push(`${path}: must be ${JSON.stringify(s.const)}`);
    if (typeof value === 'string') {
      const len = [...value].length;
      if (typeof s.minLength === 'number' && len < s.minLength) out.push(`${path}: shorter than ${s.minLength}`);
      if (typeof s.maxLength === 'number' && len > s.maxLength) out.push(`${path}: longer than ${s.maxLength}`);
      if (typeof s.pattern === 'string' && !new RegExp(s.pattern).test(value)) out.push(`${path}: ${JSON.stringify(value)} does not match ${s.pattern}`);
    }
    if (typeof value === 'number') {
      if (typeof s.minimum === 'number' && value < s.minimum) out.push(`${path}: below ${s.minimum}`);
      if (typeof s.maximum === 'number' && value > s.maximum) out.push(`${path}: above ${s.maximum}`);
      if (typeof s.exclusiveMinimum === 'number' && value <= s.exclusiveMinimum) out.push(`${path}: not above ${s.exclusiveMinimum}`);
      if (typeof s.exclusiveMaximum === 'number' && value >= s.exclusiveMaximum) out.push(`${path}: not below ${s.exclusiveMaximum}`);
      if (typeof s.multipleOf === 'number' && !Number.isInteger(value / s.multipleOf)) out.push(`${path}: not a multiple of ${s.multipleOf}`);
    }
    if (Array.isArray(value)) {
      if (typeof s.minItems === 'number' && value.length < s.minItems) out.push(`${path}: fewer than ${s.minItems} items`);
      if (typeof s.maxItems === 'number' && value.length > s.maxItems) out.push(`${path}: more than ${s.maxItems} items`);
      if (s.uniqueItems === true && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) out.push(`${path}: items are not unique`);
      if (s.items !== undefined) value.forEach((v, i) => out.push(...this.errors(s.items!, v, `${path}[${i}]`)));
    }
    if (isObject(value)) {
      const keys = Object.keys(value);
      const props = isObject(s.properties) ? s.properties : {};
      if (Array.isArray(s.required)) for (const r of s.required) if (typeof r === 'string' && !(r in value)) out.push(`${path}: ${r} is required`);
      if (typeof s.minProperties === 'number' && keys.length < s.minProperties) out.push(`${path}: fewer than ${s.minProperties} properties`);
      if (typeof s.maxProperties === 'number' && keys.length > s.maxProperties) out.push(`${path}: more than ${s.maxProperties} properties`);
      for (const k of keys) {
        if (s.propertyNames !== undefined) out.push(...this.errors(s.propertyNames, k, `${path} key ${JSON.stringify(k)}`));
        if (Object.prototype.hasOwnProperty.call(props, k)) out.push(...this.errors(props[k]!, value[k]!, `${path}.${k}`));
        else if (s.additionalProperties !== undefined) out.push(...this.errors(s.additionalProperties, value[k]!, `${path}.${k}`));
      }
    }
    if (Array.isArray(s.allOf)) for (const sub of s.allOf) out.push(...this.errors(sub, value, path));
    if (Array.isArray(s.anyOf) && !s.anyOf.some((sub) => this.errors(sub, value, path).length === 0)) out.push(`${path}: matches none of anyOf`);
    if (Array.isArray(s.oneOf)) {
      const n = s.oneOf.filter((sub) => this.errors(sub, value, path).length === 0).length;
      if (n !== 1) out.push(`${path}: matches ${n} of oneOf, not exactly one`);
    }
    if (s.not !== undefined && this.errors(s.not, value, path).length === 0) out.push(`${path}: matches a schema it must not`);
    return out;
  }
}
