/**
 * The three PATCH flavours the Kubernetes API server accepts for built-in objects: JSON Patch
 * (RFC 6902), JSON Merge Patch (RFC 7386) and strategic merge patch (merge patch whose lists of
 * named things, such as containers, merge by key instead of being replaced).
 */

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** A patch that cannot be applied; the server answers it with `status` (400 or 422). */
export class PatchError extends Error {
  override readonly name = 'PatchError';
  constructor(
    message: string,
    readonly status: 400 | 422,
  ) {
    super(message);
  }
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

/** Deep equality of JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => jsonEqual(a[k], b[k]));
  }
  return false;
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`invalid JSON pointer "${pointer}"`, 400);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function arrayIndex(arr: Json[], token: string, forAdd: boolean, path: string): number {
  if (forAdd && token === '-') return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new PatchError(`invalid array index "${token}" in ${path}`, 422);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length)) {
    throw new PatchError(`array index ${i} out of bounds in ${path}`, 422);
  }
  return i;
}

/** The parent container of `path` and the last token; the parent must exist. */
function locate(doc: Json, path: string): { parent: Json; key: string } {
  const tokens = parsePointer(path);
  const key = tokens.pop();
  if (key === undefined) throw new PatchError('cannot address the document root here', 422);
  let parent: Json = doc;
  for (const t of tokens) {
    if (Array.isArray(parent)) parent = parent[arrayIndex(parent, t, false, path)] as Json;
    else if (isObject(parent) && t in parent) parent = parent[t] as Json;
    else throw new PatchError(`doc is missing path: "${path}"`, 422);
  }
  return { parent, key };
}

function getAt(doc: Json, path: string): Json {
  let cur: Json = doc;
  for (const t of parsePointer(path)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, t, false, path)] as Json;
    else if (isObject(cur) && t in cur) cur = cur[t] as Json;
    else throw new PatchError(`doc is missing path: "${path}"`, 422);
  }
  return cur;
}

function addAt(doc: Json, path: string, value: Json): Json {
  if (path === '') return value;
  const { parent, key } = locate(doc, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, true, path), 0, value);
  else if (isObject(parent)) parent[key] = value;
  else throw new PatchError(`cannot add to a scalar at "${path}"`, 422);
  return doc;
}

function removeAt(doc: Json, path: string): Json {
  const { parent, key } = locate(doc, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, false, path), 1);
  else if (isObject(parent) && key in parent) delete parent[key];
  else throw new PatchError(`unable to remove nonexistent key: ${key}: missing value`, 422);
  return doc;
}

/** Applies an RFC 6902 JSON Patch; returns a new document. */
export function applyJsonPatch(document: Json, patch: unknown): Json {
  if (!Array.isArray(patch)) throw new PatchError('a JSON patch must be an array of operations', 400);
  let doc = clone(document);
  for (const raw of patch) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw new PatchError(`invalid JSON patch operation ${JSON.stringify(raw)}`, 400);
    }
    const { op, path } = raw;
    const from = typeof raw.from === 'string' ? raw.from : undefined;
    switch (op) {
      case 'add':
        doc = addAt(doc, path, clone(raw.value as Json));
        break;
      case 'remove':
        doc = removeAt(doc, path);
        break;
      case 'replace':
        getAt(doc, path); // must exist
        doc =
          path === '' ? clone(raw.value as Json) : addAt(removeAt(doc, path), path, clone(raw.value as Json));
        break;
      case 'move': {
        if (from === undefined) throw new PatchError('move needs "from"', 400);
        const value = getAt(doc, from);
        doc = addAt(removeAt(doc, from), path, value);
        break;
      }
      case 'copy': {
        if (from === undefined) throw new PatchError('copy needs "from"', 400);
        doc = addAt(doc, path, clone(getAt(doc, from)));
        break;
      }
      case 'test':
        if (!jsonEqual(getAt(doc, path), raw.value)) {
          throw new PatchError(`testing value ${path} failed: test failed`, 422);
        }
        break;
      default:
        throw new PatchError(`unknown JSON patch operation "${op}"`, 400);
    }
  }
  return doc;
}

/** Applies an RFC 7386 JSON Merge Patch; returns a new document. */
export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const result: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else result[k] = applyMergePatch(result[k] ?? null, v);
  }
  return result;
}

/** Lists merged by key in strategic merge patch (patchMergeKey of the core/apps types). */
const MERGE_KEYS: Readonly<Record<string, string>> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  ports: 'containerPort',
  imagePullSecrets: 'name',
  conditions: 'type',
  tolerations: 'key',
  hostAliases: 'ip',
};

/** Applies a strategic merge patch (lists in MERGE_KEYS merge by key; `$patch: delete` removes). */
export function applyStrategicMergePatch(target: Json, patch: Json, field = ''): Json {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _, ...rest } = patch;
    return clone(rest);
  }
  const result: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) continue;
    if (v === null) {
      delete result[k];
      continue;
    }
    const mergeKey = MERGE_KEYS[k];
    const current = result[k];
    if (mergeKey && Array.isArray(v) && Array.isArray(current)) {
      const merged = clone(current);
      for (const item of v) {
        if (!isObject(item) || !(mergeKey in item)) {
          throw new PatchError(`${field}${k}: list item without merge key "${mergeKey}"`, 422);
        }
        const idx = merged.findIndex((m) => isObject(m) && jsonEqual(m[mergeKey], item[mergeKey]));
        if (item.$patch === 'delete') {
          if (idx !== -1) merged.splice(idx, 1);
        } else if (idx === -1) {
          merged.push(applyStrategicMergePatch(null, item, `${field}${k}.`));
        } else {
          merged[idx] = applyStrategicMergePatch(merged[idx] ?? null, item, `${field}${k}.`);
        }
      }
      result[k] = merged;
    } else {
      result[k] = applyStrategicMergePatch(current ?? null, v, `${field}${k}.`);
    }
  }
  return result;
}
