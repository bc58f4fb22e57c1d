/** The printed table and the JSON results file. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunResult, TargetOutcome } from './scenario.ts';

export interface RunReport extends RunResult {
  /** Saturation runs: rps / ceiling rps. */
  ceilingFraction?: number;
  /** % of one core per process during the measured part; `machine` is % of all cores. */
  cpu?: Record<string, number>;
  /** The biggest CPU users outside the benchmark's processes during the run. */
  cpuOthers?: string[];
  /** Worker log lines at error level during the run (first few). */
  workerErrors?: string[];
}

export interface ScenarioReport {
  name: string;
  title: string;
  ceiling: boolean;
  runs: RunReport[];
  targets: TargetOutcome[];
  /** Set when setup or a run failed; the runs before it are kept. */
  failure?: string;
}

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  ok: boolean;
  options: Record<string, unknown>;
  machine: Record<string, unknown>;
  database: Record<string, unknown>;
  worker: Record<string, unknown>;
  processes: { role: string; pid: number; what: string }[];
  ceilingRps?: number;
  scenarios: ScenarioReport[];
}

const num = (v: number, digits = 0) =>
  Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-';
const latency = (v: number) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)) : '-');

export function runLabel(r: RunResult): string {
  const s = r.spec;
  const size = s.amount ? ` n=${s.amount}` : '';
  return s.kind === 'saturation' ? `saturation c${s.connections}${size}` : `${s.rate} rps${size}`;
}

function headerSummary(counts: Record<string, number> | undefined): string {
  if (!counts) return '';
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  if (!total) return '';
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 2)
    .map(([k, n]) => `${k} ${n === total ? '100' : ((n / total) * 100).toFixed(1)}%`)
    .join(', ');
}

function cpuSummary(cpu: Record<string, number> | undefined, roles: string[]): string {
  if (!cpu) return '';
  return roles.map((r) => (cpu[r] === undefined ? '-' : String(cpu[r]))).join('/');
}

export const CPU_ROLES = ['workerd', 'load', 'stack', 'main', 'other'];

export function formatTable(report: BenchReport): string {
  const header = ['Scenario', 'Run', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'of ceiling', 'x-cache / header', `CPU % ${CPU_ROLES.join('/')}`];
  const right = new Set([2, 3, 4, 5, 6]);
  const rows: string[][] = [];
  for (const s of report.scenarios) {
    let first = true;
    for (const r of s.runs) {
      const sustained = r.spec.kind === 'fixed-rate' && r.rps < r.spec.rate * 0.95 ? ' (!)' : '';
      rows.push([
        first ? s.title + (s.ceiling ? ' [ceiling]' : '') : '',
        runLabel(r),
        num(r.rps, r.rps < 1000 ? 1 : 0) + sustained,
        latency(r.latency.p50),
        latency(r.latency.p99),
        num(r.errors),
        r.ceilingFraction === undefined ? '' : `${(r.ceilingFraction * 100).toFixed(0)}%`,
        headerSummary(r.header),
        cpuSummary(r.cpu, CPU_ROLES),
      ]);
      first = false;
    }
    if (s.failure) rows.push([first ? s.title : '', 'FAILED: ' + s.failure.split('\n')[0]!.slice(0, 100), '', '', '', '', '', '', '']);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];

  const targets = report.scenarios.flatMap((s) => s.targets.map((t) => ({ s, t })));
  if (targets.length) {
    out.push('', 'Targets');
    const w = Math.max(...targets.map(({ s, t }) => `${s.title}: ${t.label}`.length));
    for (const { s, t } of targets) out.push(`  ${`${s.title}: ${t.label}`.padEnd(w)}  ${t.pass ? 'PASS' : 'FAIL'}  (${t.actual})`);
  }
  const notSustained = report.scenarios.flatMap((s) => s.runs.filter((r) => r.spec.kind === 'fixed-rate' && r.rps < r.spec.rate * 0.95));
  if (notSustained.length) out.push('', '(!) the server answered less than 95% of the offered rate: latency grew with the queue.');
  return out.join('\n');
}

export async function writeResults(dir: string, report: BenchReport): Promise<{ latest: string; stamped: string }> {
  await mkdir(dir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const latest = path.join(dir, 'latest.json');
  const stamped = path.join(dir, `${stamp}.json`);
  const body = JSON.stringify(report, null, 2) + '\n';
  await writeFile(latest, body);
  await writeFile(stamped, body);
  return { latest, stamped };
}
