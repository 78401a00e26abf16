import type { AnyStateMachine } from 'xstate';

/** The parts of xstate's state nodes a chart needs. */
interface Node {
  key: string;
  id: string;
  type: string;
  states: Record<string, Node>;
  initial?: { target?: readonly Node[] };
  transitions: Map<string, ReadonlyArray<Transition>>;
  always?: ReadonlyArray<Transition>;
}

interface Transition {
  target?: readonly Node[];
  guard?: unknown;
}

/**
 * A Mermaid state chart of a machine, read from its definition: every state, and every
 * transition that changes state, labelled with its event and guard. Transitions defined on the
 * machine itself apply in every state: they are listed in a note rather than drawn from each.
 */
export function stateChart(machine: AnyStateMachine): string {
  const root = machine.root as unknown as Node;
  const lines = ['stateDiagram-v2'];
  const edges: string[] = [];
  const name = (node: Node) => node.key;

  const walk = (node: Node, indent: string) => {
    const initial = node.initial?.target?.[0];
    if (initial) lines.push(`${indent}[*] --> ${name(initial)}`);
    for (const child of Object.values(node.states)) {
      if (Object.keys(child.states).length > 0) {
        lines.push(`${indent}state ${name(child)} {`);
        walk(child, `${indent}  `);
        lines.push(`${indent}}`);
      }
      if (child.type === 'final') edges.push(`  ${name(child)} --> [*]`);
      for (const [event, transitions] of child.transitions) addEdges(child, event, transitions);
      if (child.always) addEdges(child, 'always', child.always);
    }
  };
  const addEdges = (from: Node, event: string, transitions: ReadonlyArray<Transition>) => {
    for (const transition of transitions) {
      for (const to of transition.target ?? []) {
        const guard = transition.guard === undefined ? '' : ` [${guardText(transition.guard)}]`;
        const label = event === 'always' ? guard.trim() : `${event}${guard}`;
        edges.push(`  ${name(from)} --> ${name(to)}${label ? `: ${label}` : ''}`);
      }
    }
  };

  walk(root, '  ');
  lines.push(...edges);
  const anyState = [...root.transitions].flatMap(([event, transitions]) =>
    transitions.flatMap((transition) => (transition.target ?? []).map((to) => `${event} to ${name(to)}`)),
  );
  if (anyState.length > 0) lines.push(`  note right of ${name(root.initial!.target![0]!)}: from any live state, ${anyState.join('; ')}`);
  return lines.join('\n');
}

/** `canResend && !sharedOffer` from xstate's `and(['canResend', not('sharedOffer')])`. */
function guardText(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function' && 'guards' in guard) {
    const parts = (guard.guards as unknown[]).map(guardText);
    if (guard.name === 'not') return `!${parts[0]}`;
    return parts.join(guard.name === 'and' ? ' && ' : ' || ');
  }
  return typeof guard === 'object' && guard !== null && 'type' in guard ? String(guard.type) : 'guard';
}
