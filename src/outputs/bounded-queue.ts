// A sink's backlog: at most `capacity` items; a push beyond that drops the oldest and counts it,
// so a sink that cannot keep up loses old lines, never the console's time or memory.

export class BoundedQueue<T> {
  private items: (T | undefined)[];
  private head = 0;
  private count = 0;
  /** Items dropped (oldest first) because the queue was full. */
  dropped = 0;

  constructor(readonly capacity: number) {
    this.items = new Array<T | undefined>(Math.max(1, capacity));
  }

  get size(): number {
    return this.count;
  }

  push(item: T): void {
    const cap = this.items.length;
    if (this.count === cap) {
      this.items[this.head] = undefined;
      this.head = (this.head + 1) % cap;
      this.count--;
      this.dropped++;
    }
    this.items[(this.head + this.count) % cap] = item;
    this.count++;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.count--;
    return item;
  }
}
