/** Defaults filled in by the config loader; they live with the key descriptors (config-keys/), which document them. */
export * from '../config-keys/defaults';
