/** One node of the OSCQuery namespace, attributes named as the proposal names them. [PROTOCOL §18] */
export interface OscQueryNode {
  FULL_PATH: string;
  CONTENTS?: Record<string, OscQueryNode>;
  /** OSC type tags without the comma. */
  TYPE?: string;
  /** 0 none, 1 read, 2 write, 3 both. */
  ACCESS?: 0 | 1 | 2 | 3;
  /** One entry per type tag. */
  VALUE?: Array<number | string>;
  RANGE?: Array<{ MIN: number; MAX: number }>;
  UNIT?: string[];
  DESCRIPTION?: string;
}

/** The attributes this server writes: `?ATTR` for any other is 400, for one a node lacks 204. */
export const ATTRIBUTES = ['FULL_PATH', 'CONTENTS', 'TYPE', 'ACCESS', 'VALUE', 'RANGE', 'UNIT', 'DESCRIPTION'] as const;
export type Attribute = (typeof ATTRIBUTES)[number];
