import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  InvalidValue,
  list,
  oneOf,
  onOff,
  parseHostPort,
  parsePort,
  path,
  port,
  portOrOff,
  portRange,
  portSeries,
  portsOf,
  record,
  SettingsError,
  text,
  wholeNumber,
} from '../../src/settings/index.js';

/** The InvalidValue `parse` throws: where inside the value, and why. */
function problem(parse: () => unknown): { within: string; reason: string } {
  try {
    parse();
  } catch (err) {
    if (err instanceof InvalidValue) return { within: err.within, reason: err.reason };
    throw err;
  }
  throw new Error('no problem found');
}

describe('whole numbers', () => {
  const ms = wholeNumber({ min: 1, argument: 'MS' });

  it('read text and config values within their bounds', () => {
    expect(port.parseText(' 9001 ')).toBe(9001);
    expect(port.parseConfig(9001)).toBe(9001);
    expect(port.parseConfig('9001')).toBe(9001);
    expect(problem(() => port.parseText('abc')).reason).toBe('"abc" is not a whole number');
    expect(problem(() => port.parseConfig(70000)).reason).toBe('70000 is outside 1-65535');
    expect(problem(() => ms.parseText('0')).reason).toBe('0 is less than 1');
    expect(problem(() => port.parseConfig(1.5)).reason).toBe('1.5 is not a whole number');
  });

  it('refuse values of another shape, and take only numbers from code', () => {
    expect(problem(() => port.parseConfig(true)).reason).toBe('true is not a value this setting takes');
    expect(problem(() => port.parseConfig([1, 'x'])).reason).toBe('[1,"x"] is not a value this setting takes');
    expect(problem(() => port.check('9001')).reason).toBe('"9001" is not a whole number');
    expect(problem(() => ms.check(Number.NaN)).reason).toBe('NaN is not a whole number');
    expect(ms.check(5)).toBe(5);
  });
});

describe('config values of every type', () => {
  it('take what the config file documents: numbers, lists, a pool as low and high, text', () => {
    expect(port.parseConfig(9001)).toBe(9001);
    expect(list(port).parseConfig([9000, 9001])).toEqual([9000, 9001]);
    expect(portRange.parseConfig({ low: 1, high: 2 })).toEqual({ low: 1, high: 2 });
    expect(text('ADDR').parseConfig('127.0.0.1')).toBe('127.0.0.1');
    expect(() => port.parseConfig(true)).toThrow(InvalidValue);
  });
});

describe('port ranges', () => {
  it('read LOW-HIGH or {low, high}, in order', () => {
    expect(portRange.parseText('9000-9999')).toEqual({ low: 9000, high: 9999 });
    expect(portRange.parseConfig('9000 - 9999')).toEqual({ low: 9000, high: 9999 });
    expect(problem(() => portRange.parseText('9999-9000')).reason).toBe('9999 is above 9000');
    expect(problem(() => portRange.parseText('9000'))).toEqual({ within: '', reason: '"9000" is not a range LOW-HIGH' });
    expect(problem(() => portRange.parseConfig({ low: 9000, high: 70000 }))).toEqual({ within: '.high', reason: '70000 is outside 1-65535' });
    expect(portRange.toConfig({ low: 1, high: 2 })).toBe('1-2');
  });
});

describe('port series', () => {
  it('read PORT, LOW-HIGH or LOW-HIGH/STEP, or {low, high, step}, and give their ports in order', () => {
    expect(portSeries.parseText('50000-59900/100')).toEqual({ low: 50000, high: 59900, step: 100 });
    expect(portSeries.parseText('50000-50002')).toEqual({ low: 50000, high: 50002, step: 1 });
    expect(portSeries.parseText(' 50000 ')).toEqual({ low: 50000, high: 50000, step: 1 });
    expect(portSeries.parseConfig(50000)).toEqual({ low: 50000, high: 50000, step: 1 });
    expect(portSeries.parseConfig({ low: 50000, high: 50200, step: 100 })).toEqual({ low: 50000, high: 50200, step: 100 });
    expect(problem(() => portSeries.parseText('50000-59900/0'))).toEqual({ within: '.step', reason: '0 is outside 1-65534' });
    expect(problem(() => portSeries.parseText('59900-50000/100')).reason).toBe('59900 is above 50000');
    expect(problem(() => portSeries.parseText('50000/100')).reason).toBe('"50000/100" is not a port, LOW-HIGH or LOW-HIGH/STEP');
    expect(portsOf(portSeries.parseText('50000-50250/100'))).toEqual([50000, 50100, 50200]);
    expect(portsOf(portSeries.parseText('50000-59900/100'))).toHaveLength(100);
    expect(list(portSeries).show([{ low: 50000, high: 59900, step: 100 }, { low: 7, high: 7, step: 1 }])).toBe('50000-59900/100,7');
  });
});

describe('lists', () => {
  it('read "a,b" ("" for none) or a list, and name the item at fault', () => {
    const ports = list(port);
    expect(ports.parseText('')).toEqual([]);
    expect(ports.parseText('9000,9001')).toEqual([9000, 9001]);
    expect(ports.parseConfig('9000,9001')).toEqual([9000, 9001]);
    expect(problem(() => ports.parseConfig([9000, 70000]))).toEqual({ within: '[1]', reason: '70000 is outside 1-65535' });
    expect(problem(() => ports.parseConfig({ a: 1 })).reason).toBe('{"a":1} is not a list');
    expect(ports.show([])).toBe('none');
    expect(ports.show([9000, 9001])).toBe('9000,9001');
    expect(ports.argument).toBe('N,...');
  });
});

describe('records', () => {
  const processor = record({ id: text('ID'), host: text('ADDR'), tcpPort: port });

  it('take exactly their fields, each checked by its type', () => {
    expect(processor.parseConfig({ id: 'a', host: '10.0.0.5', tcpPort: '4000' })).toEqual({ id: 'a', host: '10.0.0.5', tcpPort: 4000 });
    expect(problem(() => processor.parseConfig({ id: 'a', hots: 'x', tcpPort: 1 })).reason).toBe('unknown field "hots" (did you mean "host"?)');
    expect(problem(() => processor.parseConfig({ id: 'a', tcpPort: 1 })).reason).toBe('missing "host"');
    expect(problem(() => processor.parseConfig({ id: 'a', host: 'h', tcpPort: 0 }))).toEqual({ within: '.tcpPort', reason: '0 is outside 1-65535' });
    expect(problem(() => processor.parseConfig('a')).reason).toBe('"a" is not a mapping of id, host, tcpPort');
  });

  it('in a list, are named by index and field', () => {
    const error = problem(() => list(processor).parseConfig([{ id: 'a', host: 'h', tcpPort: 1 }, { id: 'b', host: 'h', tcpPort: 70000 }]));
    expect(error).toEqual({ within: '[1].tcpPort', reason: '70000 is outside 1-65535' });
    expect(list(processor)).not.toHaveProperty('parseText');
  });
});

describe('text, paths and choices', () => {
  it('read what a flag gives', () => {
    expect(path('DIR').parseText('state')).toBe(resolve('state'));
    expect(oneOf(['info', 'debug'], 'LEVEL').parseText(' INFO ')).toBe('info');
    expect(problem(() => oneOf(['info', 'debug'], 'LEVEL').parseConfig('loud')).reason).toBe('"loud" is not one of info, debug');
    expect(problem(() => text('ADDR').parseConfig(5)).reason).toBe('5 is not a value this setting takes');
  });
});

describe('parsers named by their flag, for the admin commands', () => {
  it('name the key in their errors', () => {
    expect(parsePort('port', '9001')).toBe(9001);
    expect(parseHostPort('coordinator', '127.0.0.1:9001')).toEqual({ host: '127.0.0.1', port: 9001 });
    expect(() => parseHostPort('coordinator', 'nowhere')).toThrow(new SettingsError('coordinator', '"nowhere" is not HOST:PORT'));
    expect(() => parsePort('port', '0')).toThrow('port: 0 is outside 1-65535');
  });

  it('a port or off (the HTTP server\'s), and on or off', () => {
    expect(portOrOff.parseText('8900')).toBe(8900);
    expect(portOrOff.parseText(' OFF ')).toBe('off');
    expect(portOrOff.parseConfig(false)).toBe('off');
    expect(portOrOff.parseConfig('off')).toBe('off');
    expect(portOrOff.parseConfig(8901)).toBe(8901);
    expect(problem(() => portOrOff.parseText('sometimes')).reason).toBe('"sometimes" is not a whole number');
    expect(problem(() => portOrOff.parseConfig(true)).reason).toBe('true is not a value this setting takes');
    expect(problem(() => portOrOff.check(70000)).reason).toBe('70000 is outside 1-65535');
    expect([portOrOff.show('off'), portOrOff.show(8900), portOrOff.toConfig('off')]).toEqual(['off', '8900', 'off']);
    expect([onOff.parseText('On'), onOff.parseText('off'), onOff.parseConfig(true), onOff.parseConfig('off')]).toEqual([true, false, true, false]);
    expect(problem(() => onOff.parseText('maybe')).reason).toBe('"maybe" is not one of on, off');
    expect(problem(() => onOff.check('on')).reason).toBe('"on" is not true or false');
    expect([onOff.show(true), onOff.toConfig(false)]).toEqual(['on', 'off']);
  });
});

