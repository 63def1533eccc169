import type { Migration } from '../types.js';

// Append only: a released migration is never edited, a change is a new version.
export const sqliteMigrations: Migration[] = [
  {
    version: 1,
    name: 'nodes',
    sql: `
      CREATE TABLE nodes (
        name            TEXT PRIMARY KEY,
        driver          TEXT NOT NULL,
        params          TEXT NOT NULL,
        ondemand        INTEGER NOT NULL DEFAULT 0,
        console_enabled INTEGER NOT NULL DEFAULT 1,
        labels          TEXT NOT NULL DEFAULT '{}',
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: 'host keys seen on first use',
    sql: `
      CREATE TABLE host_keys (
        endpoint    TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        first_seen  TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 3,
    name: 'power control beside the console',
    sql: `ALTER TABLE nodes ADD COLUMN power TEXT;`,
  },
];
