// Builds a TypeScript (or JavaScript) plugin into a vigil WASM component.
//   node scripts/build.mjs path/to/src/<name>.ts [-o out/<name>.wasm] [--no-check]
//   --keep-wasi: leave the engine's WASI imports in (only to test that the host refuses it)
//
// 1. type-checks the sources with tsc against types/ (the generated vigil:host declarations)
//    and src/index.ts (the "vigil" helper module) — skipped with --no-check;
// 2. bundles the entry and everything it imports into one ES module with esbuild ("vigil"
//    resolves to this SDK, `vigil:host/*` stays an import of the component);
// 3. componentizes it with componentize-qjs against plugins/wit/, world `behaviour`: QuickJS
//    compiled to WASM, the module evaluated at build time and snapshotted (Wizer), every WASI
//    import replaced by a trap (`stubWasi`) so the component imports only `vigil:host`, and the
//    synchronous ABI (the host calls plugins synchronously).
// The output is written next to a temporary name and renamed, so a watcher never sees half.
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const sdk = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const wit = resolve(sdk, '..', 'wit');

function usage(msg) {
  console.error(`plugins/sdk-ts build: ${msg}\n  usage: node plugins/sdk-ts/scripts/build.mjs src/<name>.ts [-o <name>.wasm] [--no-check]`);
  process.exit(2);
}

const args = process.argv.slice(2);
let entry;
let out;
let check = true;
let stubWasi = true;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '-o') out = args[++i];
  else if (args[i] === '--no-check') check = false;
  else if (args[i] === '--keep-wasi') stubWasi = false;
  else if (!entry) entry = args[i];
  else usage(`unexpected argument ${args[i]}`);
}
if (!entry) usage('no entry file given');
entry = resolve(entry);
const ext = extname(entry);
if (!['.ts', '.js', '.mjs', '.mts'].includes(ext)) usage(`${entry}: the entry must be a .ts or .js file`);
const name = basename(entry, ext);
out = resolve(out ?? join(dirname(entry), '..', `${name}.wasm`));

let esbuild;
let componentize;
try {
  esbuild = await import('esbuild');
  ({ componentize } = await import('componentize-qjs'));
} catch (e) {
  console.error(`plugins/sdk-ts build: the build tools are not installed (${e.message}).\n  run: (cd ${sdk} && npm ci)`);
  process.exit(1);
}

if (check && ext !== '.js' && ext !== '.mjs') {
  const tsc = join(sdk, 'node_modules', 'typescript', 'bin', 'tsc');
  // A throwaway tsconfig: "vigil" is this SDK's src/index.ts, the vigil:host modules are types/.
  const dir = await mkdtemp(join(tmpdir(), 'vigil-tsc-'));
  const tsconfig = join(dir, 'tsconfig.json');
  await writeFile(
    tsconfig,
    JSON.stringify({
      compilerOptions: {
        noEmit: true,
        strict: true,
        target: 'es2022',
        module: 'es2022',
        moduleResolution: 'bundler',
        lib: ['es2023'],
        types: [],
        skipLibCheck: true,
        paths: { vigil: [join(sdk, 'src', 'index.ts')] },
      },
      files: [join(sdk, 'types', 'behaviour.d.ts'), join(sdk, 'src', 'globals.d.ts'), entry],
    }),
  );
  const r = spawnSync(process.execPath, [tsc, '-p', tsconfig], { encoding: 'utf8' });
  await rm(dir, { recursive: true, force: true });
  if (r.status !== 0) {
    console.error(`plugins/sdk-ts build: ${entry} does not type-check:\n${r.stdout}${r.stderr}`);
    process.exit(1);
  }
}

let bundled;
try {
  const r = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    target: 'es2023',
    platform: 'neutral',
    write: false,
    logLevel: 'silent',
    alias: { vigil: join(sdk, 'src', 'index.ts') },
    external: ['vigil:host/*'],
  });
  bundled = r.outputFiles[0].text;
} catch (e) {
  const errors = (e.errors ?? []).map((x) => `  ${x.location ? `${x.location.file}:${x.location.line}:${x.location.column}: ` : ''}${x.text}`);
  console.error(`plugins/sdk-ts build: cannot bundle ${entry}:\n${errors.join('\n') || e.message}`);
  process.exit(1);
}

let component;
try {
  ({ component } = await componentize({
    witPath: wit,
    world: 'behaviour',
    jsSource: bundled,
    jsPath: entry,
    stubWasi,
    sync: true,
  }));
} catch (e) {
  console.error(`plugins/sdk-ts build: cannot make a component of ${entry}: ${e.message ?? e}`);
  console.error('  (the module runs once at build time: it must not call host functions at its top level; do that in init)');
  process.exit(1);
}

await mkdir(dirname(out), { recursive: true });
const tmp = join(dirname(out), `.${basename(out)}.${process.pid}`);
await writeFile(tmp, component);
await rename(tmp, out);
console.log(out);
