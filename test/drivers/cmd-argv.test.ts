import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandArgv, splitCommandLine } from '../../src/drivers/cmd.js';

test('splits like a POSIX shell: quotes and escapes respected, variables left alone', () => {
  assert.deepEqual(splitCommandLine(`ipmitool -I lanplus -H 'bmc 1' -P "pa ss" sol activate`), ['ipmitool', '-I', 'lanplus', '-H', 'bmc 1', '-P', 'pa ss', 'sol', 'activate']);
  assert.deepEqual(splitCommandLine(String.raw`echo a\ b $HOME`), ['echo', 'a b', '$HOME']);
  assert.deepEqual(splitCommandLine(`/bin/sh -c 'yes | head -3'`), ['/bin/sh', '-c', 'yes | head -3']);
});

test('shell operators are refused with a hint instead of silently running something else', () => {
  assert.throws(() => splitCommandLine('yes | head'), /use \/bin\/sh -c/);
  assert.throws(() => splitCommandLine('cat > /tmp/x'), /use \/bin\/sh -c/);
});

test('an argv array is taken as is', () => {
  assert.deepEqual(commandArgv(['a b', 'c']), ['a b', 'c']);
});
