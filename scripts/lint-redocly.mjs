#!/usr/bin/env node
// Runs `redocly lint` (Redocly CLI v2, config redocly.yaml) on the given API descriptions and fails
// on warnings as well as errors: Redocly CLI v2 exits 0 when it finds only warnings, and it has no
// flag to change that. The problems are printed one a line, as path:line:col severity rule message.
//
//   node scripts/lint-redocly.mjs openapi/openapi.yaml
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const apis = process.argv.slice(2);
if (apis.length === 0) {
  console.error('usage: lint-redocly.mjs SPEC...');
  process.exit(2);
}

const redocly = path.join(root, 'node_modules', '.bin', 'redocly');
// One run per description: with several, redocly prints one JSON report after another.
let failed = false;
for (const api of apis) {
  const res = spawnSync(
    redocly,
    ['lint', api, '--config', path.join(root, 'redocly.yaml'), '--lint-config', 'error', '--format', 'json', '--max-problems', '1000'],
    {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    },
  );
  if (res.error) {
    console.error(`redocly: ${res.error.message}`);
    process.exit(2);
  }

  let report;
  try {
    report = JSON.parse(res.stdout);
  } catch {
    // Not a report: a broken config or an unreadable file. Show what redocly said.
    process.stdout.write(res.stdout);
    process.stderr.write(res.stderr);
    console.error(`redocly lint ${api}: no JSON report (exit ${res.status})`);
    process.exit(res.status || 2);
  }

  for (const p of report.problems) {
    const loc = p.location?.[0];
    const where = loc ? `${loc.source?.ref ?? '?'}:${loc.start?.line ?? 0}:${loc.start?.col ?? 0}` : '?';
    console.log(`${where} ${p.severity} ${p.ruleId} ${p.message}${loc?.pointer ? ` (${loc.pointer})` : ''}`);
  }
  const { errors = 0, warnings = 0, ignored = 0 } = report.totals ?? {};
  console.log(`redocly ${report.version} ${api}: ${errors} errors, ${warnings} warnings, ${ignored} ignored`);
  if (errors > 0 || warnings > 0 || res.status !== 0) {
    if (res.status !== 0 && errors === 0 && warnings === 0) process.stderr.write(res.stderr);
    failed = true;
  }
}
if (failed) process.exit(1);
