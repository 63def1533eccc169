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
  {
    version: 4,
    name: 'raw console ports and scoped tokens',
    sql: `
      ALTER TABLE nodes ADD COLUMN console_port INTEGER;
      CREATE UNIQUE INDEX nodes_console_port ON nodes (console_port) WHERE console_port IS NOT NULL;
      CREATE TABLE tokens (
        id             TEXT PRIMARY KEY,
        hash           TEXT NOT NULL UNIQUE,
        node           TEXT NOT NULL,
        rights         TEXT NOT NULL,
        kind           TEXT NOT NULL,
        note           TEXT NOT NULL DEFAULT '',
        created_at     TEXT NOT NULL,
        expires_at     TEXT,
        ttl_ms         INTEGER,
        max_expires_at TEXT
      ) STRICT;
      CREATE INDEX tokens_node ON tokens (node);
    `,
  },
  {
    version: 5,
    name: 'graphical console (VNC)',
    sql: `ALTER TABLE nodes ADD COLUMN vnc TEXT;`,
  },
  {
    version: 6,
    name: 'fleet message states',
    sql: `
      CREATE TABLE fleet_messages (
        id           TEXT PRIMARY KEY,
        node         TEXT NOT NULL,
        method       TEXT NOT NULL,
        idx          INTEGER NOT NULL,
        state        TEXT NOT NULL,
        submitted_at TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        reply        TEXT,
        error        TEXT
      ) STRICT;
      CREATE INDEX fleet_messages_node_state ON fleet_messages (node, state);
      CREATE INDEX fleet_messages_state ON fleet_messages (state);
    `,
  },
  {
    version: 7,
    name: 'fleet reply files',
    sql: `
      ALTER TABLE fleet_messages ADD COLUMN reply_method TEXT NOT NULL DEFAULT 'console';
      ALTER TABLE fleet_messages ADD COLUMN reply_directory TEXT NOT NULL DEFAULT '';
      ALTER TABLE fleet_messages ADD COLUMN reply_file_name TEXT;
      ALTER TABLE fleet_messages ADD COLUMN reply_file TEXT;
      ALTER TABLE fleet_messages ADD COLUMN reply_file_error TEXT;
    `,
  },
  {
    version: 8,
    name: 'fleet streamed output and stream sequence',
    sql: `
      ALTER TABLE fleet_messages ADD COLUMN seq INTEGER;
      CREATE INDEX fleet_messages_seq ON fleet_messages (seq);
      CREATE TABLE fleet_output (
        id     TEXT NOT NULL,
        part   INTEGER NOT NULL,
        stream TEXT NOT NULL,
        text   TEXT NOT NULL,
        at     TEXT NOT NULL,
        PRIMARY KEY (id, part)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 9,
    name: "nodes' own watch patterns",
    sql: `ALTER TABLE nodes ADD COLUMN watch_patterns TEXT NOT NULL DEFAULT '[]';`,
  },
  {
    version: 10,
    name: 'fleet messages held by the daemon',
    // held = 1: queued in the store, not published yet, because its ordered lane had an envelope out
    // (controller.ts, pump); body is then the message as it will be signed. Few at a time, so the
    // index holds only those.
    sql: `
      ALTER TABLE fleet_messages ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE fleet_messages ADD COLUMN body TEXT;
      CREATE INDEX fleet_messages_held ON fleet_messages (node, method) WHERE held = 1;
    `,
  },
  {
    version: 11,
    name: "fleet messages: a node's lane counted from the index",
    // What waits in a node's lane (fleetMaxQueued) and whether it has an envelope out (held messages)
    // are asked for every submission and every envelope done. With (node, state) alone each looked up
    // every waiting row in the table: 85 µs a lane with 300 waiting, against 15 from this index.
    sql: `
      DROP INDEX fleet_messages_node_state;
      CREATE INDEX fleet_messages_node_state ON fleet_messages (node, state, method, held, seq);
    `,
  },
  {
    version: 12,
    name: 'fleet messages: no index of held ones of their own',
    // The lane index (11) finds a lane's held messages; this one served only the list of held lanes
    // at start, and cost every held message an entry made and dropped.
    sql: `DROP INDEX fleet_messages_held;`,
  },
  {
    version: 13,
    name: 'fleet messages: held until published',
    // A held message now stays held until its seq is recorded (one write, not a claim and then the
    // seq). Before, the claim cleared held first, and a daemon that stopped between the two left
    // messages neither held nor published; such ones are held again here, and published at start.
    sql: `UPDATE fleet_messages SET held = 1 WHERE held = 0 AND seq IS NULL AND body IS NOT NULL AND state = 'queued';`,
  },
];
