// Which raw console port a node gets when it asks for one without naming it (ironic's console enable).

export interface PortRange {
  first: number;
  last: number;
}

export function formatPortRange(range: PortRange): string {
  return `${range.first}-${range.last}`;
}

/**
 * The first port of the range that no node holds and that `claim` succeeds on, or undefined.
 * `claim` does the real work (store the port, bind it) and says whether it worked: another node
 * or another program can take a port between looking and binding, so only trying tells.
 */
export async function claimFirstFreePort(
  range: PortRange,
  held: ReadonlySet<number>,
  claim: (port: number) => Promise<boolean>,
): Promise<number | undefined> {
  for (let port = range.first; port <= range.last; port++) {
    if (held.has(port)) continue;
    if (await claim(port)) return port;
  }
  return undefined;
}
