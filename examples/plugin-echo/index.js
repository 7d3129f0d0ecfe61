'use strict';
// An example third-party plugin in plain JavaScript: outbound type `echo`, whose
// TCP "upstream" sends back whatever it receives, after an optional prefix.
const { PassThrough } = require('node:stream');
const { defineOutbound, definePlugin } = require('@sluice/core');
const { z } = require('zod');

const echoOutbound = defineOutbound({
  type: 'echo',
  options: z.object({ prefix: z.string({ invalid_type_error: 'must be a string' }).default('') }).strict(),
  create: (options, deps) => ({
    type: 'echo',
    tag: deps.tag,
    networks: ['tcp'],
    async dialTcp() {
      const echo = new PassThrough();
      if (options.prefix) echo.write(options.prefix);
      return echo;
    },
    async close() {},
  }),
});

exports.plugin = definePlugin({ name: 'sluice-plugin-example-echo', sluice: '^0.1.0', outbounds: [echoOutbound] });
