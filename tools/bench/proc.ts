/**
 * Memory and CPU of a process from `/proc` (Linux; null elsewhere).
 *
 * @module
 */

const CLOCK_TICKS = 100;

/** `pid` and every process below it (a supervisor's workers), from `/proc`. */
function processTree(pid: number): number[] {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    try {
      for (const task of Deno.readDirSync(`/proc/${pids[i]}/task`)) {
        const children = Deno.readTextFileSync(`/proc/${pids[i]}/task/${task.name}/children`);
        for (const child of children.trim().split(/\s+/)) if (child) pids.push(Number(child));
      }
    } catch { /* gone, or not Linux */ }
  }
  return pids;
}

/**
 * Resident set (VmRSS) and its high-water mark (VmHWM) in bytes, or null off
 * Linux. A process with children counts theirs too: the sum of every RSS, for
 * both (high-water marks of different moments do not add up).
 */
function readMemory(pid: number): { rss: number; hwm: number } | null {
  const pids = processTree(pid);
  if (pids.length === 1) return readOneMemory(pid);
  let rss = 0;
  for (const p of pids) rss += readOneMemory(p)?.rss ?? 0;
  return rss > 0 ? { rss, hwm: rss } : null;
}

function readOneMemory(pid: number): { rss: number; hwm: number } | null {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1]);
    const rss = kb("VmRSS") * 1024;
    const hwm = kb("VmHWM") * 1024;
    return Number.isFinite(rss) && Number.isFinite(hwm) ? { rss, hwm } : null;
  } catch {
    return null;
  }
}

/** Resident set (VmRSS) of `pid` in bytes now, or null off Linux. */
export function readRss(pid: number): number | null {
  return readMemory(pid)?.rss ?? null;
}

/**
 * CPU seconds (user + system) the process and its live children used so far
 * (a supervisor's workers), or null off Linux.
 */
export function readCpuSeconds(pid: number): number | null {
  const own = readOwnCpuSeconds(pid);
  if (own === null) return null;
  return processTree(pid).slice(1).reduce((sum, p) => sum + (readOwnCpuSeconds(p) ?? 0), own);
}

/**
 * CPU seconds of the process alone, without its children: the bench's own
 * process, whose children are the servers it measures.
 */
export function readOwnCpuSeconds(pid: number): number | null {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    // After the command name: state is field 3, utime 14 and stime 15 of stat(5).
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks / CLOCK_TICKS : null;
  } catch {
    return null;
  }
}

/** Polls VmRSS and VmHWM of `pid` every 100 ms; `peak()` is the largest seen, in bytes. */
export function sampleMemory(pid: number): { peak(): number | null; stop(): void } {
  let peak: number | null = null;
  const take = () => {
    const m = readMemory(pid);
    if (m) peak = Math.max(peak ?? 0, m.rss, m.hwm);
  };
  take();
  const timer = setInterval(take, 100);
  return {
    peak() {
      take();
      return peak;
    },
    stop: () => clearInterval(timer),
  };
}
