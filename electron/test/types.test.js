'use strict';
// The declarations: `tsc --noEmit --strict` accepts the typed example and refuses the wrong
// one, and every interface that names a diagnostics schema has exactly the schema's keys, with
// exactly its required ones non-optional (docs/schemas/*.json).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.join(__dirname, '..');
const tscBin = path.join(root, 'node_modules/typescript/bin/tsc');
const schemas = path.join(root, '../docs/schemas');

function tsc(...args) {
  return spawnSync(process.execPath, [tscBin, '--noEmit', '--strict', ...args], { cwd: root, encoding: 'utf8' });
}

test('tsc --noEmit --strict accepts the typed example', () => {
  const r = tsc('-p', 'example/tsconfig.json');
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('tsc --strict refuses misuse (negative control)', () => {
  const r = tsc('--target', 'ES2022', '--module', 'commonjs', '--types', 'node', 'example/wrong.ts');
  assert.notEqual(r.status, 0);
  for (const code of ['TS2322', 'TS2353', 'TS18047', 'TS2339']) assert.match(r.stdout, new RegExp(`error ${code}`), r.stdout);
  assert.equal(r.stdout.split('\n').filter((l) => l.includes('error TS')).length, 4, r.stdout);
});

/** Follows `$ref`s (local and into common.schema.json) to the object schema they name. */
function resolve(node, file) {
  while (node && node.$ref) {
    const [target, pointer] = node.$ref.split('#');
    file = target || file;
    const doc = JSON.parse(fs.readFileSync(path.join(schemas, file), 'utf8'));
    node = pointer.split('/').filter(Boolean).reduce((n, k) => n[k], doc);
  }
  return node;
}

function at(file, pointer) {
  const doc = JSON.parse(fs.readFileSync(path.join(schemas, file), 'utf8'));
  return resolve(pointer.split('/').filter(Boolean).reduce((n, k) => n[k], doc), file);
}

/** interface name → its members {name: optional?}, read with the TypeScript compiler. */
function interfaces() {
  const ts = require('typescript');
  const file = path.join(root, 'index.d.ts');
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out = {};
  source.forEachChild((node) => {
    if (!ts.isInterfaceDeclaration(node)) return;
    out[node.name.text] = Object.fromEntries(
      node.members.filter(ts.isPropertySignature).map((m) => [m.name.text, !!m.questionToken]),
    );
  });
  return out;
}

const MAP = [
  ['PythonInfo', 'python-info.schema.json', ''],
  ['LaunchPlan', 'python-info.schema.json', '$defs/plan'],
  ['Isolation', 'python-info.schema.json', '$defs/isolation'],
  ['Bytecode', 'python-info.schema.json', '$defs/bytecode'],
  ['ChildEnvironment', 'python-info.schema.json', '$defs/child_environment'],
  ['MlxJit', 'python-info.schema.json', '$defs/plan/properties/mlx_jit'],
  ['ExitWithParent', 'python-info.schema.json', 'properties/exit_with_parent'],
  ['RuntimeStamp', 'python-info.schema.json', 'properties/runtime/oneOf/0'],
  ['RuntimeUnreadable', 'python-info.schema.json', 'properties/runtime/oneOf/1'],
  ['LibpythonInfo', 'python-info.schema.json', 'properties/libpython/oneOf/0'],
  ['HomeCandidate', 'python-info.schema.json', 'properties/candidates/items'],
  ['PkgFound', 'pkg-info.schema.json', '$defs/found'],
  ['PkgError', 'pkg-info.schema.json', '$defs/error'],
  ['BackendFound', 'pkg-info.schema.json', '$defs/found/properties/backends/additionalProperties/oneOf/0'],
  ['CheckMlxStack', 'check-mlx-stack.schema.json', ''],
  ['ImportedModule', 'check-mlx-stack.schema.json', '$defs/imported'],
  ['StackCheck', 'check-mlx-stack.schema.json', 'properties/checks/items'],
];

test('the diagnostics\' interfaces have the schemas\' keys, required ones non-optional', () => {
  const types = interfaces();
  for (const [name, file, pointer] of MAP) {
    const schema = at(file, pointer);
    const members = types[name];
    assert.ok(members, `no interface ${name} in index.d.ts`);
    assert.deepEqual(Object.keys(members).sort(), Object.keys(schema.properties).sort(), `${name} vs ${file}#/${pointer}`);
    const required = new Set(schema.required || []);
    for (const [key, optional] of Object.entries(members)) {
      assert.equal(optional, !required.has(key), `${name}.${key}: optional in the .d.ts must mean not required in ${file}`);
    }
  }
});
