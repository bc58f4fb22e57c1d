/**
 * What workerd's garbage collector did during a bench run, per V8 isolate, from the Worker's log:
 *
 *   MINIFLARE_WORKERD_V8_FLAGS=--trace-gc-nvp npm run bench -- --only=cart.add-item --worker-log=/tmp/w.log
 *   npx tsx bench/lib/gc-summary.ts /tmp/w.log [--min-gcs=20]
 *
 * `--trace-gc-nvp` makes V8 print one JSON record per collection (Miniflare hands workerd's output
 * over as log lines, which `--worker-log` keeps). For every isolate with at least `--min-gcs`
 * collections this prints: the scavenges and mark-compacts with their pauses, the bytes allocated in
 * the young generation, what the scavenges promoted, how much the old generation grew between
 * collections (outside any scavenge), and, divided by the request log lines seen between
 * the isolate's first and last collection, the same per request. For the mark-compacts it also
 * prints the embedder heap (workerd's C++ API objects: requests, responses, headers, RPC stubs,
 * SQL cursors...) before and after, and how much of each pause lies outside V8's own phases
 * (mark, clear, evacuate, sweep, finish): workerd destroying the API objects that died, in its
 * collection epilogue (docs/performance.md). Each bench scenario runs its own
 * workerd, so its isolates are separate entries. Not part of `npm run bench`.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface GcRecord {
  gc: string;
  pause: number;
  promoted: number;
  new_space_survived: number;
  nodes_promoted?: number;
  allocated: number;
  start_old_gen_consumed_size: number;
  end_old_gen_consumed_size: number;
  /** V8's heap plus the embedder's (workerd's C++ objects of its API, on cppgc). */
  start_global_consumed_size?: number;
  end_global_consumed_size?: number;
  /** Milliseconds of the atomic pause in each of V8's own phases. */
  mark?: number;
  clear?: number;
  evacuate?: number;
  sweep?: number;
  finish?: number;
  new_space_capacity: number;
  'incremental.steps_count'?: number;
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'min-gcs': { type: 'string', default: '20' } } });
const file = positionals[0];
if (!file) {
  process.stderr.write('usage: npx tsx bench/lib/gc-summary.ts <worker-log> [--min-gcs=20]\n');
  process.exit(2);
}

const lines = readFileSync(file, 'utf8').split('\n');
const byIsolate = new Map<string, { records: GcRecord[]; first: number; last: number }>();
const requestAt: number[] = [];
lines.forEach((line, at) => {
  if (line.includes('"msg":"request"')) requestAt.push(at);
  const split = line.indexOf('GC: {');
  if (split < 0) return;
  const isolate = /^\[([^\]]+?)(?::\d+)?\]/.exec(line)?.[1] ?? '?';
  let record: GcRecord;
  try {
    record = JSON.parse(line.slice(split + 4)) as GcRecord;
  } catch {
    return;
  }
  const entry = byIsolate.get(isolate) ?? { records: [], first: at, last: at };
  entry.records.push(record);
  entry.last = at;
  byIsolate.set(isolate, entry);
});

const MB = (b: number) => (b / 1048576).toFixed(1);
const KB = (b: number) => (b / 1024).toFixed(1);
const ms = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? `p50 ${s[Math.floor(s.length / 2)]!.toFixed(1)} ms, max ${s[s.length - 1]!.toFixed(1)} ms` : '-';
};

let shown = 0;
for (const [isolate, { records, first, last }] of byIsolate) {
  if (records.length < Number(values['min-gcs'])) continue;
  shown++;
  const scavenges = records.filter((r) => r.gc === 's');
  const fulls = records.filter((r) => r.gc === 'mc' || r.gc === 'mmc');
  const sum = (rs: GcRecord[], f: (r: GcRecord) => number) => rs.reduce((a, r) => a + f(r), 0);
  let oldGrowth = 0;
  for (let i = 1; i < records.length; i++) oldGrowth += Math.max(0, records[i]!.start_old_gen_consumed_size - records[i - 1]!.end_old_gen_consumed_size);
  const requests = requestAt.filter((at) => at > first && at <= last).length;
  const perRequest = (b: number) => (requests > 0 ? ` = ${KB(b / requests)} KB/request` : '');
  const promoted = sum(scavenges, (r) => r.promoted);
  console.log(`isolate ${isolate}: ${records.length} collections, ${requests} request log lines between the first and the last`);
  console.log(`  scavenges      ${scavenges.length}, pauses ${ms(scavenges.map((r) => r.pause))}; new space ${MB(scavenges.at(-1)?.new_space_capacity ?? 0)} MB`);
  console.log(`  mark-compacts  ${fulls.length}, pauses ${ms(fulls.map((r) => r.pause))}; incremental steps ${sum(fulls, (r) => r['incremental.steps_count'] ?? 0)}`);
  console.log(`  young allocated ${MB(sum(scavenges, (r) => r.allocated))} MB${perRequest(sum(scavenges, (r) => r.allocated))}`);
  console.log(`  promoted        ${MB(promoted)} MB in ${sum(scavenges, (r) => r.nodes_promoted ?? 0)} objects${perRequest(promoted)}`);
  console.log(`  old generation grew between collections by ${MB(oldGrowth)} MB${perRequest(oldGrowth)}`);
  const embedder = (r: GcRecord, at: 'start' | 'end') =>
    (at === 'start' ? (r.start_global_consumed_size ?? 0) - r.start_old_gen_consumed_size : (r.end_global_consumed_size ?? 0) - r.end_old_gen_consumed_size);
  const phases = (r: GcRecord) => (r.mark ?? 0) + (r.clear ?? 0) + (r.evacuate ?? 0) + (r.sweep ?? 0) + (r.finish ?? 0);
  for (const r of fulls) {
    if (r.start_global_consumed_size === undefined) continue;
    console.log(
      `  mark-compact   pause ${r.pause.toFixed(1)} ms, of it outside V8's phases ${Math.max(0, r.pause - phases(r)).toFixed(1)} ms; ` +
        `old generation ${MB(r.start_old_gen_consumed_size)} -> ${MB(r.end_old_gen_consumed_size)} MB, embedder ${MB(embedder(r, 'start'))} -> ${MB(embedder(r, 'end'))} MB`,
    );
  }
}
if (shown === 0) console.log(`no isolate with ${values['min-gcs']} or more collections in ${file} (was the run made with MINIFLARE_WORKERD_V8_FLAGS=--trace-gc-nvp?)`);
