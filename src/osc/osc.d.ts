// osc.js ships no types; only the codec entry points we use are declared.
declare module 'osc/src/osc.js' {
  interface OscJsArg { type: string; value: unknown }
  interface OscJsMessage { address: string; args: OscJsArg[] }
  interface OscJsOptions { metadata?: boolean; unpackSingleArgs?: boolean }
  const osc: {
    readMessage(data: Uint8Array, options: OscJsOptions, offsetState: { idx: number }): OscJsMessage;
    writeMessage(msg: OscJsMessage, options: OscJsOptions): Uint8Array;
  };
  export default osc;
}
