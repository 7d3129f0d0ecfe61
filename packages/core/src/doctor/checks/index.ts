import type { DoctorCheck } from '../types';
import { brNetfilterCheck } from './br-netfilter';
import { capNetAdminCheck } from './cap-net-admin';
import { configValidCheck } from './config-valid';
import { foreignRulesCheck } from './foreign-rules';
import { forwardPolicyCheck } from './forward-policy';
import { forwardingCheck } from './forwarding';
import { inboundsListeningCheck } from './inbounds-listening';
import { nftExpressionsCheck } from './nft-expressions';
import { nftTableCheck } from './nft-table';
import { openFilesCheck } from './open-files';
import { outboundMarksCheck } from './outbound-marks';
import { policyRoutingCheck } from './policy-routing';
import { rpFilterCheck } from './rp-filter';
import { transparentReturnCheck } from './transparent-return';

/** Every check `sluice doctor` runs without `--probe`, in the order printed: kernel, host, firewall, Sluice. */
export const DOCTOR_CHECKS: readonly DoctorCheck[] = [
  configValidCheck,
  nftExpressionsCheck,
  capNetAdminCheck,
  forwardingCheck,
  rpFilterCheck,
  policyRoutingCheck,
  nftTableCheck,
  foreignRulesCheck,
  forwardPolicyCheck,
  brNetfilterCheck,
  openFilesCheck,
  inboundsListeningCheck,
  outboundMarksCheck,
  transparentReturnCheck,
];

export {
  brNetfilterCheck,
  capNetAdminCheck,
  foreignRulesCheck,
  forwardPolicyCheck,
  forwardingCheck,
  inboundsListeningCheck,
  nftExpressionsCheck,
  nftTableCheck,
  openFilesCheck,
  outboundMarksCheck,
  policyRoutingCheck,
  rpFilterCheck,
  transparentReturnCheck,
};
