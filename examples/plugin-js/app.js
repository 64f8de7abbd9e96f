// An example Aviso trigger plugin in JavaScript: prints a one-line summary of each notification.
//
// Build it into a WebAssembly component with ComponentizeJS, through jco (see README.md).
// The module exports the WIT interface `aviso:plugin/trigger` as the object `trigger`; an
// error is thrown as the WIT variant `error`, e.g. { tag: 'failed', val: 'why' }.

import { emit } from 'aviso:plugin/log@0.1.0';

/** An invalid-config error, which Aviso reports when the listener loads. */
function invalidConfig(message) {
  return { tag: 'invalid-config', val: message };
}

/** The trigger's settings (its `config:`, as JSON text). */
function settings(config) {
  let parsed;
  try {
    parsed = JSON.parse(config);
  } catch (error) {
    throw invalidConfig(`configuration is not valid JSON: ${error.message}`);
  }
  if (parsed.prefix !== undefined && typeof parsed.prefix !== 'string') {
    throw invalidConfig('prefix must be a string');
  }
  return parsed;
}

export const trigger = {
  validate(config) {
    settings(config);
  },

  run(config, notification) {
    const prefix = settings(config).prefix ?? 'Notification';
    // request: [name, value] pairs in the schema's key order; payload: undefined when none.
    const request = Object.fromEntries(notification.request);
    if (request.number === undefined) {
      throw { tag: 'failed', val: "this plugin expects flight notifications (no 'number')" };
    }
    const payload = notification.payload ?? '(no payload)';
    console.log(`${prefix}: ${notification.event} ${request.number} at ${request.airport ?? '?'}: ${payload}`);
    emit('info', `summarised ${notification.key}`);
  },
};
