import { DurableObject } from 'cloudflare:workers';

/** Placeholder until the inventory object lands. */
export class InventoryDurableObject extends DurableObject<Env> {}
