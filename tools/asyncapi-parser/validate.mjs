// Parse each AsyncAPI file given with the official @asyncapi/parser and print one JSON line per
// file: {"file", "errors": [...], "warnings": [...]}. Exit status 1 when any file has an error.
//   node validate.mjs api/server/asyncapi.yaml [...]
import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';

const parser = new Parser();
let failed = 0;
for (const file of process.argv.slice(2)) {
  let diagnostics;
  try {
    ({ diagnostics } = await parser.parse(readFileSync(file, 'utf8')));
  } catch (error) {
    diagnostics = [{ severity: 0, code: 'exception', path: [], message: String(error) }];
  }
  const render = (d) => `${d.code} ${(d.path || []).join('.')}: ${d.message}`;
  const errors = diagnostics.filter((d) => d.severity === 0).map(render);
  const warnings = diagnostics.filter((d) => d.severity === 1).map(render);
  if (errors.length) failed += 1;
  console.log(JSON.stringify({ file, errors, warnings }));
}
process.exit(failed ? 1 : 0);
