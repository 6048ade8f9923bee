import type { Severity } from '../api/types';

/** Severity as text, an icon of its own shape and a colour: colour is never the only signal. */
const ICON: Record<Severity, string> = { critical: '✖', high: '▲', medium: '◆', low: '●', info: 'ℹ' };
export const SEVERITIES: Severity[] = ['critical', 'high', 'medium', 'low', 'info'];

export function SeverityBadge({ severity }: { severity: Severity }) {
  return (
    <span className={`sev sev-${severity}`}>
      <span aria-hidden="true">{ICON[severity]}</span> {severity}
    </span>
  );
}

export function StatusBadge({ status }: { status: string }) {
  const icon = status === 'open' ? '○' : status === 'acknowledged' ? '◐' : status === 'resolved' ? '●' : status === 'online' ? '●' : '○';
  return (
    <span className={`status status-${status}`}>
      <span aria-hidden="true">{icon}</span> {status}
    </span>
  );
}
