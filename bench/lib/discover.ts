import { readdir } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { registeredScenarios, type AnyScenario } from './scenario.ts';

export const SCENARIOS_DIR = fileURLToPath(new URL('../scenarios/', import.meta.url));

/** Imports every bench/scenarios/*.ts (in name order) and returns what they registered. */
export async function loadScenarios(): Promise<AnyScenario[]> {
  const files = (await readdir(SCENARIOS_DIR)).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.startsWith('_')).sort();
  for (const f of files) await import(pathToFileURL(SCENARIOS_DIR + f).href);
  return registeredScenarios();
}
