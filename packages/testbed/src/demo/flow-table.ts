import type { FlowLog } from '../sluice';

/** Renders access-log lines as aligned rows: `tcp  198.18.1.2:41234 → 198.19.2.2:80  rule=final  outbound=direct  up=78B down=250B`. */
export function formatFlowTable(flows: readonly FlowLog[]): string {
  const srcW = Math.max(0, ...flows.map((f) => f.src.length));
  const dstW = Math.max(0, ...flows.map((f) => f.dst.length));
  const ruleW = Math.max(0, ...flows.map((f) => f.rule.length));
  return flows
    .map((f) => {
      const err = f.error === undefined ? '' : `  error=${typeof f.error === 'string' ? f.error : JSON.stringify(f.error)}`;
      return `  ${f.network.padEnd(4)} ${f.src.padEnd(srcW)} → ${f.dst.padEnd(dstW)}  ${`rule=${f.rule}`.padEnd(ruleW + 5)}  outbound=${f.outbound}  up=${f.up}B down=${f.down}B${err}`;
    })
    .join('\n');
}
