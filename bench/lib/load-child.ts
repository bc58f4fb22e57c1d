/**
 * The load-generator process: autocannon (saturation) and the open-loop pacer (fixed rate),
 * kept out of the orchestrator so their CPU is measured apart from it and from the stack.
 * Imports the same scenario files as the orchestrator to get each `request` generator.
 *
 * IPC (structured clone), parent → child:
 *   { type: 'run', id, scenario, spec, duration, warmup, baseUrl, data }  |  { type: 'abort' }
 * child → parent:
 *   { type: 'ready' } | { type: 'measuring', id } | { type: 'result', id, result } | { type: 'failed', id, error }
 */
import { loadScenarios } from './discover.ts';
import { pace, pacedAgent, saturate, type LoadTarget } from './generators.ts';
import { formatStages, runJourneys } from './journey.ts';
import { scenarioByName, type RequestSpec, type RunResult, type RunSpec } from './scenario.ts';

export interface RunMessage {
  type: 'run';
  id: number;
  scenario: string;
  spec: RunSpec;
  /** Seconds of the measured part (ignored when spec.amount is set). */
  duration: number;
  /** Seconds of unmeasured load first, same shape. */
  warmup: number;
  baseUrl: string;
  data: unknown;
}

export type ChildMessage =
  | { type: 'ready' }
  | { type: 'measuring'; id: number }
  | { type: 'result'; id: number; result: RunResult }
  | { type: 'failed'; id: number; error: string };

const send = (m: ChildMessage) => {
  if (process.connected) process.send?.(m, undefined, {}, () => {}); // the parent may be gone already
};

// The terminal's Ctrl-C reaches the whole process group; the orchestrator decides when we stop.
process.on('SIGINT', () => {});
process.on('disconnect', () => process.exit(0));

await loadScenarios();
/** Sequence numbers keep increasing across the warm-up and runs of a scenario, so no two requests repeat. */
const sequences = new Map<string, number>();
let current: AbortController | undefined;

process.on('message', (msg: RunMessage | { type: 'abort' }) => {
  if (msg.type === 'abort') {
    current?.abort();
    return;
  }
  if (msg.type === 'run') void run(msg);
});

async function run(msg: RunMessage) {
  const controller = new AbortController();
  current = controller;
  try {
    const scenario = scenarioByName(msg.scenario);
    const generator = scenario.request;
    const next: () => RequestSpec =
      typeof generator === 'function'
        ? () => {
            const seq = sequences.get(scenario.name) ?? 0;
            sequences.set(scenario.name, seq + 1);
            return generator(seq, msg.data);
          }
        : () => generator;
    const target: LoadTarget = {
      baseUrl: msg.baseUrl,
      next,
      constant: typeof generator !== 'function',
      expectStatus: scenario.expectStatus,
      tallyHeader: scenario.tallyHeader,
      signal: controller.signal,
    };
    // A fixed-rate run keeps the warm-up's connections (autocannon opens its own each time).
    const agent = msg.spec.kind === 'fixed-rate' ? pacedAgent(msg.spec) : undefined;
    const go = (spec: RunSpec, duration: number) =>
      spec.kind === 'saturation' && scenario.journey
        ? runJourney(scenario, msg, spec, duration, controller.signal)
        : spec.kind === 'saturation' ? saturate(target, spec, duration) : pace(target, spec, duration, agent);
    try {
      if (msg.warmup > 0 && !controller.signal.aborted) {
        const { amount: _ignored, ...shape } = msg.spec;
        await go(shape as RunSpec, msg.warmup);
      }
      send({ type: 'measuring', id: msg.id });
      const result = await go(msg.spec, msg.duration);
      send({ type: 'result', id: msg.id, result });
    } finally {
      agent?.destroy();
    }
  } catch (err) {
    send({ type: 'failed', id: msg.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  } finally {
    if (current === controller) current = undefined;
  }
}

/** A journey scenario's saturation run (lib/journey.ts); prints where the journey's time went. */
async function runJourney(scenario: ReturnType<typeof scenarioByName>, msg: RunMessage, spec: Extract<RunSpec, { kind: 'saturation' }>, duration: number, signal: AbortSignal): Promise<RunResult> {
  const nextSeq = () => {
    const seq = sequences.get(scenario.name) ?? 0;
    sequences.set(scenario.name, seq + 1);
    return seq;
  };
  const result = await runJourneys({ baseUrl: msg.baseUrl, journey: scenario.journey!, data: msg.data, nextSeq, signal }, spec, duration);
  process.stderr.write(formatStages(result.stages, result.completed, result.duration));
  return result;
}

send({ type: 'ready' });
