/** A scan report as JSON, as OCSF JSON lines, or as a Markdown summary people read. */
import { checkById } from '../catalogue.js';
import { toComplianceFinding, type ComplianceFinding } from '../ocsf/compliance-finding.js';
import { toInventoryEvents, type CloudResourcesInventoryInfo } from '../ocsf/inventory-info.js';
import type { ScanReport } from '../runner.js';
import type { FindingView } from '../store/findings-store.js';
import { DIMENSIONS, SEVERITIES, type CheckResult } from '../types.js';

export const REPORT_FORMATS = ['json', 'ocsf', 'markdown'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];
/** The OCSF classes a scan produces: Compliance Findings (2003) and Cloud Resources Inventory Info (5023). */
export const OCSF_CLASSES = ['findings', 'inventory'] as const;
export type OcsfClass = (typeof OCSF_CLASSES)[number];

export interface RenderOptions {
  /** `ocsf` format: the classes to print, findings first, then inventory (default both). */
  ocsfClasses?: readonly OcsfClass[];
}

export function render(report: ScanReport, format: ReportFormat, opts: RenderOptions = {}): string {
  switch (format) {
    case 'json':
      return renderJson(report);
    case 'ocsf':
      return renderOcsf(report, opts.ocsfClasses);
    case 'markdown':
      return renderMarkdown(report);
  }
}

/** The whole report, each result with its check's dimension, severity and remediation. */
export function renderJson(report: ScanReport): string {
  const { results, ...scan } = report;
  const findings = results.map((r) => {
    const c = checkById(r.checkId);
    return { check: r.checkId, title: c?.title, dimension: c?.dimension, severity: c?.severity, status: r.status, resource: r.resource, detail: r.detail, remediation: c?.remediation, compliance: c?.compliance };
  });
  return JSON.stringify({ ...scan, findings }, null, 2) + '\n';
}

/** One OCSF Compliance Finding (activity Create) per result, one per line. */
export function ocsfFindings(report: ScanReport): ComplianceFinding[] {
  if (!report.target) return [];
  const time = Date.parse(report.finishedAt);
  return report.results.map((r) => toComplianceFinding(r, report.target!, report.scanId, 1, { time, firstSeen: time }));
}

/** One OCSF Cloud Resources Inventory Info event per resource the scan saw (what the platform publishes on `inventory`). */
export function ocsfInventory(report: ScanReport): CloudResourcesInventoryInfo[] {
  if (!report.target) return [];
  return toInventoryEvents(report.resources, report.results, report.target, report.scanId, Date.parse(report.finishedAt));
}

/**
 * OCSF JSON lines: the Compliance Findings, then the inventory events (or only the classes asked
 * for). Each line is one whole event that names its class (`class_uid`) and schema version
 * (`metadata.version`: findings 1.1.0, inventory 1.4.0), so a reader dispatches line by line.
 */
export function renderOcsf(report: ScanReport, classes: readonly OcsfClass[] = OCSF_CLASSES): string {
  const events: object[] = [...(classes.includes('findings') ? ocsfFindings(report) : []), ...(classes.includes('inventory') ? ocsfInventory(report) : [])];
  return events.map((e) => JSON.stringify(e) + '\n').join('');
}

/**
 * Text from the account (resource names, tag values, error messages) in a Markdown line or table
 * cell: one line, pipes escaped, and no HTML (`<`, `>`, `&` as entities), so a tag value cannot
 * inject markup into a page that renders the report.
 */
const cell = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');

export function renderMarkdown(report: ScanReport): string {
  const c = report.counts;
  const lines: string[] = [
    `# Cloud posture scan ${report.scanId}`,
    '',
    `- account: ${report.target ? `${report.target.accountId} (${report.target.partition})` : 'unknown (credentials failed)'}; auth: ${report.auth.mode}${report.auth.roleArn ? ` ${report.auth.roleArn}` : ''}`,
    `- regions: ${report.regions.join(', ') || 'none'}; services: ${report.services.join(', ')}`,
    `- ${report.startedAt} → ${report.finishedAt} (${(report.durationMs / 1000).toFixed(1)} s, ${report.calls.total} API calls)`,
    `- ${c.resources} resources, ${c.results} results: **${c.fail} fail**, ${c.warning} warning, ${c.pass} pass`,
    '',
    '## Failures by dimension and severity',
    '',
    `| dimension | ${SEVERITIES.join(' | ')} |`,
    `|---|${SEVERITIES.map(() => '---:').join('|')}|`,
  ];
  const failed = report.results.filter((r) => r.status === 'FAIL');
  for (const d of DIMENSIONS) {
    const row = SEVERITIES.map((s) => failed.filter((r) => checkById(r.checkId)?.dimension === d && checkById(r.checkId)?.severity === s).length);
    lines.push(`| ${d} | ${row.join(' | ')} |`);
  }
  lines.push('', '## Failed checks', '');
  const byCheck = new Map<string, CheckResult[]>();
  for (const r of failed) byCheck.set(r.checkId, [...(byCheck.get(r.checkId) ?? []), r]);
  const ordered = [...byCheck.entries()].sort(([a], [b]) => SEVERITIES.indexOf(checkById(b)!.severity) - SEVERITIES.indexOf(checkById(a)!.severity) || a.localeCompare(b));
  if (ordered.length === 0) lines.push('None.');
  for (const [id, rs] of ordered) {
    const check = checkById(id)!;
    lines.push(`### ${check.severity.toUpperCase()} · ${check.title} (\`${id}\`, ${check.dimension})`, '');
    for (const r of rs.slice(0, 20)) lines.push(`- ${cell(r.resource.name)} (${r.resource.region}): ${cell(r.detail)}`);
    if (rs.length > 20) lines.push(`- … and ${rs.length - 20} more`);
    const refs = check.compliance.map((m) => `${m.framework} ${m.control}`).join('; ');
    lines.push('', `Remediation: ${check.remediation}${refs ? `  \nMaps to: ${refs}` : ''}`, '');
  }
  if (report.errors.length > 0) {
    lines.push('## Not scanned', '', '| service | region | kind | code | message |', '|---|---|---|---|---|');
    for (const e of report.errors) lines.push(`| ${e.service} | ${e.region} | ${e.kind} | ${cell(e.code)} | ${cell(e.message)} |`);
    lines.push('');
  }
  return lines.join('\n') + '\n';
}

/** The current findings (as the API lists them) as a Markdown summary: counts, then failures by severity. */
export function renderFindingsMarkdown(findings: readonly FindingView[]): string {
  const failed = findings.filter((f) => f.status === 'FAIL');
  const lines = [
    '# Cloud posture findings',
    '',
    `${findings.length} findings: **${failed.length} fail**, ${findings.filter((f) => f.status === 'WARNING').length} warning, ${findings.filter((f) => f.status === 'PASS').length} pass.`,
    '',
    `| dimension | ${SEVERITIES.join(' | ')} |`,
    `|---|${SEVERITIES.map(() => '---:').join('|')}|`,
    ...DIMENSIONS.map((d) => `| ${d} | ${SEVERITIES.map((s) => failed.filter((f) => f.dimension === d && f.severity === s).length).join(' | ')} |`),
    '',
    '## Failures',
    '',
  ];
  if (failed.length === 0) lines.push('None.');
  const ordered = [...failed].sort((a, b) => SEVERITIES.indexOf(b.severity) - SEVERITIES.indexOf(a.severity) || a.check.localeCompare(b.check) || a.resource.name.localeCompare(b.resource.name));
  for (const f of ordered) lines.push(`- **${f.severity}** ${cell(f.title)} (\`${f.check}\`): ${cell(f.resource.name)} in ${f.resource.region}, account ${f.accountId}: ${cell(f.detail)}. Fix: ${cell(f.remediation)}`);
  return lines.join('\n') + '\n';
}
