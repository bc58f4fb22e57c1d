import type { Clock } from '../kernel/clock';
import type { GenerationStore } from '../ports/cache';

/** In-memory fakes of the ports, for fast tests of logic that is not about the adapter. */
export class InMemoryGenerationStore implements GenerationStore {
  readonly values = new Map<string, number>();
  async current(namespace: string) {
    return this.values.get(namespace) ?? 0;
  }
  async bump(namespace: string) {
    const next = (this.values.get(namespace) ?? 0) + 1;
    this.values.set(namespace, next);
    return next;
  }
}

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(private t = Date.parse('2026-11-01T00:00:00Z')) {}
  now() {
    return new Date(this.t);
  }
  advance(ms: number) {
    this.t += ms;
  }
}
