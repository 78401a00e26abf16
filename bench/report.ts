import { median } from './harness.js';

/** The benchmarks' tables: a label column, then right-aligned value columns. */
const LABEL_WIDTH = 50;
const COLUMN_WIDTH = 18;

export const pad = (text: string) => text.padEnd(LABEL_WIDTH);
export const col = (values: string[]) => values.map((v) => v.padStart(COLUMN_WIDTH)).join('');
export const ms = (value: number) => `${value.toFixed(3)} ms`;
export const int = (value: number) => Math.round(value).toLocaleString('en-US');
export const sumOf = <R>(list: readonly R[], pick: (r: R) => number) => list.reduce((total, r) => total + pick(r), 0);
export const medianOf = <R>(list: readonly R[], pick: (r: R) => number) => median(list.map(pick));
