/** A key-value cache of JSON-serialisable values. */
export interface Cache {
  /** Short name for logs and the `x-cache` header, e.g. `memory`, `edge`, `upstash`. */
  readonly name: string;
  get<T>(key: string): Promise<T | undefined>;
  set<T>(key: string, value: T, ttlSeconds: number): Promise<void>;
}

/**
 * A per-namespace generation counter. Cache keys embed the current generation, so bumping
 * it invalidates every entry of the namespace at once, in every layer and location.
 */
export interface GenerationStore {
  current(namespace: string): Promise<number>;
  bump(namespace: string): Promise<number>;
}

export interface CachedRead<T> {
  value: T;
  /** Which layer answered, or `miss` when the loader ran. */
  source: string;
}

/** Read-through over ordered layers: the first hit wins and fills the layers above it. */
export async function readThrough<T>(
  layers: readonly Cache[],
  key: string,
  ttlSeconds: number,
  load: () => Promise<T>,
  background: (p: Promise<unknown>) => void,
): Promise<CachedRead<T>> {
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]!;
    const hit = await layer.get<T>(key).catch(() => undefined);
    if (hit !== undefined) {
      for (const upper of layers.slice(0, i)) background(upper.set(key, hit, ttlSeconds).catch(() => undefined));
      return { value: hit, source: layer.name };
    }
  }
  const value = await load();
  for (const layer of layers) background(layer.set(key, value, ttlSeconds).catch(() => undefined));
  return { value, source: 'miss' };
}
