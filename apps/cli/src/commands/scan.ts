import { writeFile } from 'node:fs/promises';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { endpointProblem, OCSF_CLASSES, REPORT_FORMATS, render, runScan, SCAN_DEFAULTS, SERVICES, SEVERITIES, checkById, type AwsAuth, type OcsfClass, type RenderOptions, type ReportFormat, type ScanOptions, type ScanReport, type ServiceName, type Severity } from '@strata/scanner';
import { list } from '../options.js';
import { UsageError } from '../run.js';

/** Exit code when `--fail-on` finds failures at or above its severity (0 ok, 1 system, 2 usage). */
export const EXIT_FINDINGS = 3;

export interface ScanFlags {
  regions: string[];
  services?: string[];
  concurrency: number;
  endpoint?: string;
  homeRegion?: string;
  profile?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  roleArn?: string;
  externalId?: string;
  sessionName?: string;
  format: ReportFormat;
  /** `--format ocsf`: the classes to print (default findings and inventory). */
  ocsfClasses?: string[];
  output?: string;
  failOn?: Severity;
}

const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

/** The scan the flags ask for; a UsageError (exit 2) naming the flag for anything wrong. */
export function scanOptionsFrom(flags: ScanFlags): ScanOptions {
  const regions = flags.regions.length === 1 && flags.regions[0] === 'all' ? 'all' : flags.regions;
  if (regions !== 'all') {
    if (regions.length === 0) throw new UsageError('--regions: name at least one region, or all');
    for (const r of regions) if (!REGION.test(r)) throw new UsageError(`--regions: ${r} is not a region name (like eu-west-3), or use all`);
  }
  const services = flags.services ?? [...SERVICES];
  for (const s of services) if (!(SERVICES as readonly string[]).includes(s)) throw new UsageError(`--services: unknown service ${s} (known: ${SERVICES.join(', ')})`);
  if ((flags.accessKeyId === undefined) !== (flags.secretAccessKey === undefined)) throw new UsageError('--access-key-id and --secret-access-key go together');
  if (flags.sessionToken !== undefined && flags.accessKeyId === undefined) throw new UsageError('--session-token needs --access-key-id and --secret-access-key');
  if ((flags.externalId !== undefined || flags.sessionName !== undefined) && flags.roleArn === undefined) throw new UsageError('--external-id and --session-name need --role-arn');
  if (flags.profile !== undefined && flags.accessKeyId !== undefined) throw new UsageError('--profile and --access-key-id are two ways to give credentials: choose one');
  if (flags.roleArn !== undefined && !/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/.test(flags.roleArn)) throw new UsageError(`--role-arn: ${flags.roleArn} is not an IAM role ARN`);
  const badEndpoint = flags.endpoint !== undefined ? endpointProblem(flags.endpoint) : undefined;
  if (badEndpoint) throw new UsageError(`--endpoint: ${badEndpoint} (an http(s) URL such as http://127.0.0.1:5000)`);
  const keys = flags.accessKeyId !== undefined ? { accessKeyId: flags.accessKeyId, secretAccessKey: flags.secretAccessKey!, ...(flags.sessionToken !== undefined && { sessionToken: flags.sessionToken }) } : undefined;
  let auth: AwsAuth;
  if (flags.roleArn !== undefined) {
    auth = { mode: 'assume-role', roleArn: flags.roleArn, ...(flags.externalId !== undefined && { externalId: flags.externalId }), ...(flags.sessionName !== undefined && { sessionName: flags.sessionName }), ...(keys && { source: keys }) };
  } else if (keys) auth = { mode: 'static', ...keys };
  else auth = { mode: 'default', ...(flags.profile !== undefined && { profile: flags.profile }) };
  return {
    regions,
    services: services as ServiceName[],
    concurrency: flags.concurrency,
    connection: { auth, ...(flags.endpoint !== undefined && { endpoint: flags.endpoint }), ...(flags.homeRegion !== undefined && { homeRegion: flags.homeRegion }) },
  };
}

/** How the report is printed; a UsageError for `--ocsf-classes` that cannot apply. */
export function renderOptionsFrom(flags: ScanFlags): RenderOptions {
  if (flags.ocsfClasses === undefined) return {};
  if (flags.format !== 'ocsf') throw new UsageError('--ocsf-classes goes with --format ocsf');
  if (flags.ocsfClasses.length === 0) throw new UsageError(`--ocsf-classes: name at least one of ${OCSF_CLASSES.join(', ')}`);
  for (const c of flags.ocsfClasses) if (!(OCSF_CLASSES as readonly string[]).includes(c)) throw new UsageError(`--ocsf-classes: unknown class ${c} (known: ${OCSF_CLASSES.join(', ')})`);
  return { ocsfClasses: flags.ocsfClasses as OcsfClass[] };
}

/** The text `strata scan aws` prints (or writes to `--output`) for a report. */
export function reportText(report: ScanReport, flags: ScanFlags): string {
  return render(report, flags.format, renderOptionsFrom(flags));
}

/** Failures at or above `severity`. */
export function failuresAtLeast(report: ScanReport, severity: Severity): number {
  const min = SEVERITIES.indexOf(severity);
  return report.results.filter((r) => r.status === 'FAIL' && SEVERITIES.indexOf(checkById(r.checkId)!.severity) >= min).length;
}

function positive(max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`must be an integer from 1 to ${max}`);
    return n;
  };
}

export function registerScan(program: Command): void {
  const scan = program.command('scan').description('scan a cloud account for security, cost, architecture and performance findings');
  scan
    .command('aws')
    .description('scan an AWS account (read-only calls); prints the report, summary on stderr')
    .option('--regions <list>', 'comma-separated regions, or all (enabled regions)', list, ['us-east-1'])
    .option('--services <list>', `comma-separated services (default all: ${SERVICES.join(',')})`, list)
    .option('--concurrency <n>', `(service, region) tasks in flight, 1 to 32 (default ${SCAN_DEFAULTS.concurrency})`, positive(32), SCAN_DEFAULTS.concurrency)
    .option('--endpoint <url>', 'one endpoint for every AWS API (an emulator such as moto)')
    .option('--home-region <region>', 'region for global calls (STS, IAM, S3 listing, CloudTrail); default us-east-1')
    .option('--profile <name>', 'a profile of the shared AWS config files (default credential chain otherwise)')
    .option('--access-key-id <id>', 'static keys (prefer the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)')
    .option('--secret-access-key <secret>', 'with --access-key-id')
    .option('--session-token <token>', 'with static keys from a session')
    .option('--role-arn <arn>', 'STS AssumeRole into this role (from the keys above or the default chain)')
    .option('--external-id <id>', 'the external id the role’s trust policy asks for')
    .option('--session-name <name>', 'AssumeRole session name (default strata-scan)')
    .addOption(new Option('--format <format>', 'json: the whole report; ocsf: JSON lines, the OCSF Compliance Findings (class 2003) then the Cloud Resources Inventory Info events (class 5023); markdown: a summary').choices([...REPORT_FORMATS]).default('markdown'))
    .option('--ocsf-classes <list>', `with --format ocsf: the classes to print, comma-separated (${OCSF_CLASSES.join(', ')}; default both)`, list)
    .option('--output <file>', 'write the report there instead of stdout')
    .addOption(new Option('--fail-on <severity>', `exit ${EXIT_FINDINGS} when a check at or above this severity fails`).choices([...SEVERITIES]))
    .action(async (flags: ScanFlags) => {
      const options = scanOptionsFrom(flags);
      renderOptionsFrom(flags); // a usage error before the scan, not after it
      const report = await runScan({ ...options, onProgress: (done, total) => process.stderr.isTTY && process.stderr.write(`\rstrata: scanned ${done}/${total} service-regions`) });
      if (process.stderr.isTTY) process.stderr.write('\n');
      const text = reportText(report, flags);
      if (flags.output !== undefined) await writeFile(flags.output, text, { mode: 0o600 });
      else process.stdout.write(text);
      const c = report.counts;
      process.stderr.write(`strata: ${report.target ? `account ${report.target.accountId}` : 'no account'}: ${c.resources} resources, ${c.fail} fail, ${c.warning} warning, ${c.pass} pass; ${report.errors.length} error(s); ${report.calls.total} API calls in ${(report.durationMs / 1000).toFixed(1)} s\n`);
      for (const e of report.errors) process.stderr.write(`strata: not scanned: ${e.service} in ${e.region}: ${e.kind} (${e.code})\n`);
      if (!report.target) process.exitCode = 1;
      else if (flags.failOn !== undefined && failuresAtLeast(report, flags.failOn) > 0) process.exitCode = EXIT_FINDINGS;
    });
}
