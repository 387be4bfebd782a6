// Negative control for test/types.test.js: each line must be refused by `tsc --strict`.
import { start, pythonInfo } from '..';

async function wrong(): Promise<void> {
  await start({ resourcesPath: 42 }); // TS2322: resourcesPath is a string
  const server = await start({ resourcesPath: '/R', restart: { maxRestarts: 3 } }); // TS2353: no such key
  server.pid.toFixed(); // TS18047: pid is null between a crash and its restart
  const info = await pythonInfo({ resourcesPath: '/R' });
  info.runtime.plan_format; // TS2339: a runtime that cannot be read has no stamp
}
void wrong;
