// {{name}}: an Aviso trigger plugin in JavaScript. It logs every notification it gets; put your
// own action in `run`.
//
// Build it into a WebAssembly component with ./build.sh (see README.md). The module exports the
// WIT interface `aviso:plugin/trigger` as the object `trigger`; an error is thrown as the WIT
// variant `error`, e.g. { tag: 'failed', val: 'why' }.

import { emit } from 'aviso:plugin/log@0.1.0';

/** The trigger's settings, or an invalid-config error Aviso reports when the listener loads. */
function settings(config) {
  let parsed;
  try {
    parsed = JSON.parse(config);
  } catch (error) {
    throw { tag: 'invalid-config', val: `configuration is not valid JSON: ${error.message}` };
  }
  if (parsed.prefix !== undefined && typeof parsed.prefix !== 'string') {
    throw { tag: 'invalid-config', val: 'prefix must be a string' };
  }
  return parsed;
}

export const trigger = {
  /** Checked once, when the listener loads: an error here stops the listener from starting. */
  validate(config) {
    settings(config);
  },

  /** Called for every notification the listener receives. */
  run(config, notification) {
    const prefix = settings(config).prefix ?? 'Notification received';
    // pyaviso's notification dict: event, request, and the payload when there is one.
    const asDict = { event: notification.event, request: Object.fromEntries(notification.request) };
    if (notification.payload !== undefined) {
      asDict[notification.payloadField] = notification.payload;
    }
    emit('info', `${prefix}: ${JSON.stringify(asDict)}`);
  },
};
