import { validateConfigFile } from '../../config';
import { isConfigError } from '../../errors';
import { fail, ok } from '../result';
import type { DoctorCheck } from '../types';

/**
 * The whole of `sluice check`: doctor itself reads the config with the core
 * schema only, so that a config `sluice run` would refuse (an unmarked
 * outbound in local mode, say) still gets every other check, and this line
 * says what `run` would say.
 */
export const configValidCheck: DoctorCheck = {
  id: 'config',
  title: 'the config passes sluice check (every outbound type and option, the local-mode marks)',
  async run(ctx) {
    try {
      await validateConfigFile(ctx.configPath);
      return ok('the config is valid');
    } catch (err) {
      const issues = isConfigError(err) ? err.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)) : [(err as Error).message];
      return fail(`sluice run would refuse this config: ${issues.join('; ')}`, `sluice check -c ${ctx.configPath}`, issues);
    }
  },
};
