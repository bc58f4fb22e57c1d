import { readThrough, type CachedRead } from '../../../shared/ports/cache';
import { categoryTreeQuery, readMany } from '../catalog.repo';
import type { CategoryNode } from '../catalog.schemas';
import { cacheKey, type CatalogDeps } from './deps';

interface CategoryRow {
  id: string;
  slug: string;
  name: string;
  parent_id: string | null;
  direct_count: string | number;
}

/** The category tree, each node counting the active products in it and below it. */
export async function listCategories(deps: CatalogDeps): Promise<CachedRead<{ items: CategoryNode[] }>> {
  const key = await cacheKey(deps, 'categories', null);
  return readThrough(
    deps.cache,
    key,
    deps.cacheTtlSeconds,
    async () => {
      const [rows] = await readMany<[CategoryRow[]]>(deps.readDb(), [categoryTreeQuery]);
      return { items: buildTree(rows) };
    },
    deps.background,
  );
}

export function buildTree(rows: CategoryRow[]): CategoryNode[] {
  const nodes = new Map<string, CategoryNode>();
  for (const r of rows) nodes.set(r.id, { id: r.id, slug: r.slug, name: r.name, productCount: Number(r.direct_count), children: [] });
  const roots: CategoryNode[] = [];
  for (const r of rows) {
    const node = nodes.get(r.id)!;
    const parent = r.parent_id ? nodes.get(r.parent_id) : undefined;
    (parent ? parent.children : roots).push(node);
  }
  const total = (n: CategoryNode): number => (n.productCount += n.children.reduce((s, c) => s + total(c), 0));
  roots.forEach(total);
  return roots;
}
