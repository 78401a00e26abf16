import type { ContractMessage } from '../../osc/contract.js';
import type { OscQueryNode } from './node.js';

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
