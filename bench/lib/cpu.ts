/**
 * Where the CPU went during a run (Linux /proc): each benchmark process, and the rest of
 * the machine (an external Postgres, Redis, anything else running). On a 2-core machine
 * this tells whether workerd was the bottleneck or starved by its neighbours.
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

const TICKS_PER_SECOND = 100; // USER_HZ; 100 on every Linux we run on

export interface ProcessRole {
  role: string;
  pid: number;
  what: string;
}

interface Snapshot {
  at: number;
  perPid: Map<number, number>;
  /** Every process on the machine: ticks and command name, to name the "other" CPU users. */
  all: Map<number, { comm: string; ticks: number }>;
  busy: number;
  total: number;
}

function allProcesses(): Map<number, { comm: string; ticks: number }> {
  const out = new Map<number, { comm: string; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(entry), { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** utime + stime of a process, all threads, in ticks; undefined once it is gone. */
function processTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

export const cpuSupported = (() => {
  try {
    readFileSync('/proc/stat');
    return true;
  } catch {
    return false;
  }
})();

export class CpuMeter {
  constructor(private readonly roles: () => ProcessRole[]) {}

  snapshot(): Snapshot | undefined {
    if (!cpuSupported) return undefined;
    const perPid = new Map<number, number>();
    for (const r of this.roles()) {
      const t = processTicks(r.pid);
      if (t !== undefined) perPid.set(r.pid, t);
    }
    return { at: performance.now(), perPid, all: allProcesses(), ...machineTicks() };
  }

  /** CPU use between two snapshots, in % of one core per role, plus `other` and the machine total (% of all cores). */
  between(a: Snapshot | undefined, b: Snapshot | undefined): Record<string, number> | undefined {
    if (!a || !b) return undefined;
    const seconds = (b.at - a.at) / 1000;
    if (seconds <= 0) return undefined;
    const out: Record<string, number> = {};
    let ours = 0;
    for (const r of this.roles()) {
      const t0 = a.perPid.get(r.pid);
      const t1 = b.perPid.get(r.pid);
      if (t0 === undefined || t1 === undefined) continue;
      const ticks = t1 - t0;
      ours += ticks;
      // Roles may have several processes (two workerd while a reference Worker is served).
      out[r.role] = (out[r.role] ?? 0) + (ticks / TICKS_PER_SECOND / seconds) * 100;
    }
    for (const k of Object.keys(out)) out[k] = Math.round(out[k]!);
    const cores = os.cpus().length;
    const busy = b.busy - a.busy;
    const total = b.total - a.total;
    // /proc/stat counts all cores; convert "other" to % of one core like the rest.
    out.other = Math.max(0, Math.round(((busy - ours) / TICKS_PER_SECOND / seconds) * 100));
    out.machine = total > 0 ? Math.round((busy / total) * 100) : 0;
    out.cores = cores;
    return out;
  }

  /** The biggest CPU users outside the benchmark's processes, e.g. `postgres 431: 35%`. */
  others(a: Snapshot | undefined, b: Snapshot | undefined, limit = 3): string[] {
    if (!a || !b) return [];
    const seconds = (b.at - a.at) / 1000;
    const ours = new Set(this.roles().map((r) => r.pid));
    const byName = new Map<string, number>();
    for (const [pid, p] of b.all) {
      if (ours.has(pid)) continue;
      const before = a.all.get(pid)?.ticks ?? p.ticks;
      const pct = ((p.ticks - before) / TICKS_PER_SECOND / seconds) * 100;
      if (pct >= 1) byName.set(`${p.comm}`, (byName.get(p.comm) ?? 0) + pct);
    }
    return [...byName]
      .sort((x, y) => y[1] - x[1])
      .slice(0, limit)
      .map(([name, pct]) => `${name} ${Math.round(pct)}%`);
  }
}

/** Child processes of `parent` whose command name is `comm` (e.g. the workerd Miniflare spawned). */
export function findChildren(parent: number, comm: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent && name === comm) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}
