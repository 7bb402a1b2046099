// How figures and tables are written: Markdown for results.md, aligned plain text for the console.

export const fmt = {
  int: (v) => (v == null ? '–' : Math.round(v).toLocaleString('en-US')),
  ms: (v) => (v == null ? '–' : v < 10 ? v.toFixed(2) : v.toFixed(1)),
  per: (v) => (v == null ? '–' : v.toFixed(2)),
  ratio: (v) => (v == null || !Number.isFinite(v) ? '–' : `${v.toFixed(2)}×`),
  /** A count the way the prose writes it: 100,000. */
  count: (v) => v.toLocaleString('en-US'),
};

/** A Markdown table; the first `left` columns are left-aligned, the rest (numbers) right-aligned. */
export function mdTable(header, rows, left = 1) {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i < left ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

export function textTable(header, rows, left = 1) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (i < left ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** A row's cells without Markdown bold, for the console. */
export const plainCells = (row) => row.map((c) => String(c).replace(/\*\*/g, ''));
