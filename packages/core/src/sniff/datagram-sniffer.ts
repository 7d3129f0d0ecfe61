import { sniffDnsDatagram } from './dns';
import type { SniffOutcome } from './outcome';
import { QuicSniffer } from './quic-sniffer';

/**
 * Sniffs a UDP session's datagrams: a QUIC Initial's server name (across
 * datagrams), else, when the session's first datagram is a DNS query,
 * `protocol: dns`. Never throws; once it has answered `found`, `protocol` or
 * `none` it keeps that answer.
 */
export class DatagramSniffer {
  private readonly quic = new QuicSniffer();
  private first = true;
  private answer: SniffOutcome | undefined;

  /** Looks at the session's next datagram (not modified) and says what is known so far. */
  push(datagram: Buffer): SniffOutcome {
    if (this.answer) return this.answer;
    const first = this.first;
    this.first = false;
    let outcome = this.quic.push(datagram);
    // Only the session's first datagram decides DNS: a session that started as something else stays that.
    if (outcome.kind === 'none' && first) outcome = sniffDnsDatagram(datagram);
    if (outcome.kind !== 'more') this.answer = outcome;
    return outcome;
  }
}
