import type { AnyStateMachine } from 'xstate';

/** A machine's top-level states and the moves between them, read from its definition: what a picture of it needs. */
export interface MachineGraph {
  states: string[];
  /** `from: '*'` is a move the machine accepts in every state. */
  transitions: Array<{ from: string; to: string; event: string }>;
}

interface Node {
  key: string;
  path: readonly string[];
  states: Record<string, Node>;
  transitions: Map<string, ReadonlyArray<{ target?: readonly Node[] }>>;
  always?: ReadonlyArray<{ target?: readonly Node[] }>;
}

/**
 * Nested states fold into their top-level state, and a move that stays inside one top-level
 * state is left out: the graph shows how a lease's state, as the coordinator reports it, can change.
 */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const root = machine.root as unknown as Node;
  const topLevel = (node: Node) => node.path[0] ?? '*';
  const seen = new Set<string>();
  const transitions: MachineGraph['transitions'] = [];
  const add = (from: string, event: string, moves: ReadonlyArray<{ target?: readonly Node[] }>) => {
    for (const move of moves) {
      for (const target of move.target ?? []) {
        const to = topLevel(target);
        const key = `${from}>${to}>${event}`;
        if (to === from || seen.has(key)) continue;
        seen.add(key);
        transitions.push({ from, to, event });
      }
    }
  };
  const walk = (node: Node, top: string) => {
    for (const [event, moves] of node.transitions) add(top, event, moves);
    if (node.always) add(top, 'always', node.always);
    for (const child of Object.values(node.states)) walk(child, top);
  };
  for (const [event, moves] of root.transitions) add('*', event, moves);
  for (const child of Object.values(root.states)) walk(child, child.key);
  return { states: Object.keys(root.states), transitions };
}
