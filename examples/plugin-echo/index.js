'use strict';
// An example third-party plugin, written in plain JavaScript against the
// public contract of @sluice/core: it registers one outbound type, `echo`,
// whose TCP "upstream" is a stream that sends back whatever it receives.
const { PassThrough } = require('node:stream');
const { OUTBOUND_FACTORY, ConfigError } = require('@sluice/core');

const echoFactory = {
  type: 'echo',
  parse(raw, path) {
    const prefix = raw.prefix === undefined ? '' : raw.prefix;
    if (typeof prefix !== 'string') throw new ConfigError([{ path: `${path}.prefix`, message: 'must be a string' }]);
    return { tag: raw.tag, prefix };
  },
  create(options) {
    return {
      type: 'echo',
      tag: options.tag,
      networks: ['tcp'],
      async dialTcp() {
        const echo = new PassThrough();
        if (options.prefix) echo.write(options.prefix);
        return echo;
      },
      async close() {},
    };
  },
};

exports.plugin = {
  name: 'sluice-plugin-example-echo',
  register(container) {
    container.register(OUTBOUND_FACTORY, { useValue: echoFactory });
  },
};
