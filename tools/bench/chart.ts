/**
 * The bench's chart as SVG text: two panels of horizontal bars, max
 * throughput per target (req/s, with events/s in the caption for the batch
 * route) and p99 latency at half max rate with the 10 ms target as a dashed
 * red line. A plain template: any browser or Markdown viewer shows it.
 *
 * @module
 */
import { formatCount, formatMs } from "./format.ts";
import { type TargetKind, type TargetResult, THRESHOLDS } from "./results.ts";

const INK = "#222222";
const MUTED = "#6e6e6e";
const RULE = "#c8c8c8";
const TARGET = "#d62728";
/** Bar colours by kind of target. */
export const COLORS: Record<TargetKind, string> = {
  ceiling: "#969696",
  herald: "#2f6fb5",
  seeds: "#e07b39",
};

const WIDTH = 1200;
const FONT_SIZE = 14;
/** The advance of one character of the monospace font, for laying out labels. */
const CHAR_WIDTH = FONT_SIZE * 0.6;
const BAR_HEIGHT = 24;
const ROW_GAP = 12;
const VALUE_ROOM = 360;

/** `text` with the characters XML gives a meaning escaped. */
export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const num = (n: number) => String(Math.round(n * 10) / 10);

function text(x: number, y: number, content: string, fill = INK, extra = ""): string {
  return `<text x="${num(x)}" y="${num(y)}" fill="${fill}"${extra}>${escapeXml(content)}</text>`;
}

/** The chart of `results` (skipped targets left out) under `title`, as an SVG document. */
export function renderChart(results: readonly TargetResult[], title: string): string {
  const rows = results.filter((r) => r.skipped === undefined);
  const labelWidth = Math.max(180, ...rows.map((r) => r.label.length * CHAR_WIDTH + 20));
  const left = 20 + labelWidth;
  const barMax = WIDTH - left - VALUE_ROOM - 20;
  const panelHeight = 40 + Math.max(rows.length, 1) * (BAR_HEIGHT + ROW_GAP);
  const height = 60 + 2 * panelHeight + 30;
  const out: string[] = [];

  const panel = (
    top: number,
    heading: string,
    value: (r: TargetResult) => number | undefined,
    caption: (r: TargetResult) => string,
    target?: number,
  ) => {
    out.push(text(20, top + FONT_SIZE, heading, INK, ` font-weight="bold"`));
    const values = rows.map(value).filter((v): v is number => v !== undefined);
    const max = Math.max(...values, target ?? 0, 1e-9) * 1.05;
    const first = top + 30;
    const last = first + rows.length * (BAR_HEIGHT + ROW_GAP) - ROW_GAP;
    out.push(
      `<line x1="${num(left)}" y1="${first - 4}" x2="${num(left)}" y2="${last + 4}" ` +
        `stroke="${RULE}" stroke-width="2"/>`,
    );
    rows.forEach((r, i) => {
      const y = first + i * (BAR_HEIGHT + ROW_GAP);
      const baseline = y + BAR_HEIGHT / 2 + FONT_SIZE * 0.35;
      out.push(text(20, baseline, r.label));
      const v = value(r);
      if (v === undefined) {
        out.push(text(left + 8, baseline, "not measured", MUTED));
        return;
      }
      const w = Math.max(1, (v / max) * barMax);
      out.push(
        `<rect x="${num(left)}" y="${y}" width="${num(w)}" height="${BAR_HEIGHT}" ` +
          `fill="${COLORS[r.kind]}"><title>${
            escapeXml(`${r.label}: ${caption(r)}`)
          }</title></rect>`,
      );
      out.push(text(left + w + 8, baseline, caption(r)));
    });
    if (target !== undefined) {
      const x = num(left + (target / max) * barMax);
      out.push(
        `<line x1="${x}" y1="${first - 8}" x2="${x}" y2="${last + 8}" stroke="${TARGET}" ` +
          `stroke-width="2" stroke-dasharray="5 3"/>`,
        text(Number(x) + 4, last + 20, `${target} ms target`, TARGET, ` font-size="11"`),
      );
    }
  };

  out.push(text(20, 20 + FONT_SIZE, title, INK, ` font-weight="bold"`));
  const top1 = 60;
  panel(
    top1,
    "Max throughput, closed loop (req/s)",
    (r) => r.max?.requestsPerS,
    (r) => {
      const req = `${formatCount(r.max!.requestsPerS)} req/s`;
      return r.eventsPerRequest > 1 && r.max!.eventsPerS !== null
        ? `${req} = ${formatCount(r.max!.eventsPerS)} events/s`
        : req;
    },
  );
  panel(
    top1 + panelHeight + 10,
    "p99 latency at half max rate, open loop (ms)",
    (r) => r.paced?.p99Ms,
    (r) => `p99 ${formatMs(r.paced!.p99Ms)} ms at ${formatCount(r.paced!.rate)}/s`,
    THRESHOLDS.kafkaP99Ms,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" ` +
    `viewBox="0 0 ${WIDTH} ${height}" font-family="ui-monospace, Menlo, Consolas, monospace" ` +
    `font-size="${FONT_SIZE}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    ...out,
    "</svg>",
    "",
  ].join("\n");
}
