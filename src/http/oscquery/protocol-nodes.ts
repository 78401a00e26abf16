import contract from '../../../protocol/messages.json' with { type: 'json' };
import type { OscQueryNode } from './node.js';

/** One message of the wire contract, as `src/osc/contract.ts` exports it. [PROTOCOL §18] */
export interface ContractMessage {
  key: string;
  address: string;
  /** Each accepted form's type tags without the comma, e.g. `['si', 'sii']`. */
  types: string[];
  /** OSCQuery's ACCESS: 1 the coordinator sends it, 2 it accepts it, 3 both. */
  access: 0 | 1 | 2 | 3;
  description: string;
  direction: 'in' | 'out' | 'both';
}

/** OSC type tags a TYPE attribute may carry; a form's tail past them (`...`, `(ssif)*`) repeats or varies. */
const FIXED_TAGS = /^[ifsbhdtcrmTFNI]*/;

/** The node of every address in the contract, under one `/` container: built once, at start. */
export function protocolNodes(messages: readonly ContractMessage[]): OscQueryNode {
  const root: OscQueryNode = { FULL_PATH: '/', CONTENTS: {} };
  const byAddress = new Map<string, ContractMessage[]>();
  for (const message of messages) byAddress.set(message.address, [...(byAddress.get(message.address) ?? []), message]);
  for (const [address, sharing] of byAddress) {
    const node = containerAt(root, address);
    Object.assign(node, methodAttributes(sharing));
  }
  return root;
}

/**
 * One address may carry several forms (several arities, or a request in and a notice out): TYPE can name one,
 * so it names the fullest, and DESCRIPTION says which forms there are.
 */
function methodAttributes(sharing: readonly ContractMessage[]): Pick<OscQueryNode, 'TYPE' | 'ACCESS' | 'DESCRIPTION'> {
  const forms = sharing.flatMap((message) => message.types.map((form) => ({ form, fixed: FIXED_TAGS.exec(form)![0] })));
  const fullest = forms.reduce((best, form) => (form.fixed.length > best.fixed.length ? form : best), forms[0] ?? { form: '', fixed: '' });
  const access = sharing.reduce<number>((bits, message) => bits | message.access, 0) as 0 | 1 | 2 | 3;
  const notes: string[] = sharing.map((message) => message.description).filter((text) => text !== '');
  const distinct = [...new Set(forms.map(({ form }) => form))];
  if (distinct.length > 1) notes.push(`Forms: ${distinct.map((form) => `,${form}`).join(' ')}; TYPE names the fullest, ,${fullest.form}.`);
  if (fullest.fixed !== fullest.form) notes.push(`TYPE names the fixed start ,${fullest.fixed} of ,${fullest.form}: more arguments follow.`);
  return { TYPE: fullest.fixed, ACCESS: access, DESCRIPTION: notes.join(' ') };
}

function containerAt(root: OscQueryNode, address: string): OscQueryNode {
  let node = root;
  for (const part of address.split('/').slice(1)) {
    node.CONTENTS ??= {};
    node = node.CONTENTS[part] ??= { FULL_PATH: `${node.FULL_PATH === '/' ? '' : node.FULL_PATH}/${part}` };
  }
  return node;
}

// ---------------------------------------------------------------------------------------------------------------
// THE ONE PLACE TO SWITCH TO src/osc/contract.ts: until `MESSAGES` is exported there, the contract is read here
// from protocol/messages.json directly. At the merge, replace `contractMessages()` with `MESSAGES` and delete
// everything below this line (and the JSON import above).
// ---------------------------------------------------------------------------------------------------------------

interface JsonMessage {
  address: string;
  from?: string;
  to?: string;
  forms: string[];
  args: string[];
  section?: number;
}

/** The contract's messages, read from protocol/messages.json: a stand-in for contract.ts's `MESSAGES`. */
export function contractMessages(): ContractMessage[] {
  const messages: ContractMessage[] = [];
  const add = (key: string, message: JsonMessage, direction: 'in' | 'out', section: number) => {
    const args = message.args.length > 0 ? ` Arguments: ${message.args.join(', ')}.` : '';
    const role = direction === 'in' ? 'The coordinator accepts it' : 'The coordinator sends it';
    messages.push({
      key,
      address: message.address,
      types: message.forms,
      access: direction === 'in' ? 2 : 1,
      description: `${role} (PROTOCOL §${message.section ?? section}).${args}`,
      direction,
    });
  };
  for (const [key, message] of Object.entries(contract.messages) as Array<[string, JsonMessage]>) {
    add(key, message, message.to === 'coordinator' ? 'in' : 'out', message.section ?? 0);
  }
  const { admin } = contract;
  add('admin.reply', admin.reply as JsonMessage, 'out', admin.section);
  for (const [key, message] of Object.entries(admin.requests) as Array<[string, JsonMessage]>) add(`admin.${key}`, message, 'in', admin.section);
  for (const address of contract.pluginTraffic.addresses) {
    const key = `pluginTraffic.${address.split('/').pop()}`;
    add(key, { address, forms: ['s...'], args: ['tempID or trackID', 'then the plugin\'s own arguments'] }, 'in', contract.pluginTraffic.section);
  }
  for (const [key, message] of Object.entries(contract.routing.messages) as Array<[string, JsonMessage]>) {
    add(`routing.${key}`, message, message.from === 'controller' ? 'in' : 'out', contract.routing.section);
  }
  for (const [key, message] of Object.entries(contract.atlas.messages) as Array<[string, JsonMessage]>) {
    add(`atlas.${key}`, message, message.from === 'controller' ? 'in' : 'out', contract.atlas.section);
  }
  return messages;
}
