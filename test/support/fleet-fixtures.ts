// steward's and ctrl's example message files (test/fleet/fixtures) and what must become of each:
// accepted, or refused naming a field that is not supported yet. Shared by the parser's unit tests
// and the end-to-end submission through the API, so both hold the files to the same verdicts.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Copied unchanged from ../shared/fixtures/fleet-messages so a clone alone can run the tests
// (SWITCHBOARD_FLEET_FIXTURES points elsewhere, e.g. at the originals).
export const FIXTURES = process.env.SWITCHBOARD_FLEET_FIXTURES
  ?? path.resolve(fileURLToPath(import.meta.url), '../../fleet/fixtures');

export const FIXTURE_OUTCOMES: Record<string, 'accepted' | RegExp> = {
  'ctrl/cli-command-cont-tail-log-file.json': /^message 0: field 'relayViaNode': is not supported yet$/,
  'ctrl/cli-command.json': 'accepted',
  'ctrl/clicommand-to-console.json': 'accepted',
  'ctrl/copy-files.json': /^message 0: field 'method': 'copySrc' is not supported yet$/,
  'ctrl/http-get-scheduled.json': /^message 0: field 'schedule': is not supported yet$/,
  'ctrl/http-get.json': 'accepted',
  'ctrl/operation-start-proc.json': 'accepted',
  'ctrl/operation-stop-proc.json': 'accepted',
  'ctrl/say-hello.json': 'accepted',
  'ctrl/tail-file.json': 'accepted',
  'steward/cli-command-to-file-append.json': 'accepted',
  'steward/http-get-to-nodes.json': 'accepted',
  'steward/op-ps.json': 'accepted',
  'steward/op-start-proc.json': 'accepted',
  'steward/op-stop-proc.json': 'accepted',
  'steward/tail-file.json': 'accepted',
  'steward/two-messages.json': 'accepted',
};

/** The fixture files found on disk, as `steward/x.json` / `ctrl/y.json`, sorted. */
export async function fixtureNames(): Promise<string[]> {
  const found: string[] = [];
  for (const dir of ['steward', 'ctrl']) {
    for (const file of await readdir(path.join(FIXTURES, dir))) found.push(`${dir}/${file}`);
  }
  return found.sort();
}

export async function readFixture(name: string): Promise<unknown> {
  return JSON.parse(await readFile(path.join(FIXTURES, name), 'utf8'));
}
