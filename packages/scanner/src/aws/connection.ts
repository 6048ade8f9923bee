/**
 * How a scan reaches AWS: credentials (default chain, static keys, or STS AssumeRole on top of
 * either), an optional endpoint (moto, LocalStack), and one client per (service, region), each
 * counting its API calls. Secrets stay in the credentials provider: nothing here logs or returns
 * them, and `describeAuth` is the only view of the auth that leaves (mode and role ARN).
 */
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';

export interface StaticKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export type AwsAuth =
  | { mode: 'default'; /** A named profile of the shared config files. */ profile?: string }
  | ({ mode: 'static' } & StaticKeys)
  | {
      mode: 'assume-role';
      roleArn: string;
      externalId?: string;
      sessionName?: string;
      /** The credentials that call AssumeRole: the default chain unless given. */
      source?: StaticKeys;
    };

export interface AwsConnectionOptions {
  auth: AwsAuth;
  /** One endpoint for every service (an emulator): path-style S3, no region hosts. */
  endpoint?: string;
  /** Region for global calls (STS, IAM, S3 listing). Default us-east-1. */
  homeRegion?: string;
  /** Attempts per call, including the first (the SDK's standard retry: backoff with jitter on throttling and 5xx). Default 5. */
  maxAttempts?: number;
}

/**
 * Why `url` cannot be a scan's endpoint, or undefined. An endpoint is for an emulator: an http(s)
 * origin with an optional path, no user info (it would be stored and shown with the scan), no query
 * or fragment. It does not make a named endpoint safe to reach: whoever may name one makes the
 * scanner connect there (the API allows it to admins, with their own keys only).
 */
export function endpointProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'not a URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `${u.protocol} is not http or https`;
  if (u.username !== '' || u.password !== '') return 'user info is not allowed in the URL';
  if (u.search !== '' || u.hash !== '') return 'a query or fragment is not allowed';
  return undefined;
}

/** What may be shown of the auth: never a key, secret, token or external id. */
export function describeAuth(auth: AwsAuth): { mode: AwsAuth['mode']; roleArn?: string; profile?: string } {
  if (auth.mode === 'assume-role') return { mode: auth.mode, roleArn: auth.roleArn };
  if (auth.mode === 'default' && auth.profile !== undefined) return { mode: auth.mode, profile: auth.profile };
  return { mode: auth.mode };
}

/** Counts API calls by service and operation (bench: calls per resource). */
export class CallCounter {
  private readonly counts = new Map<string, number>();
  add(service: string, operation: string): void {
    const key = `${service}:${operation}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  get total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }
  byOperation(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}

/** Config every SDK client constructor takes. */
export interface ClientConfig {
  region: string;
  credentials: AwsCredentialIdentityProvider;
  maxAttempts: number;
  /** Per-request timeouts: a hung connection fails the call (and the SDK retries) instead of holding the scan. */
  requestHandler: { connectionTimeout: number; requestTimeout: number };
  endpoint?: string;
  forcePathStyle?: boolean;
}

export const REQUEST_TIMEOUTS = { connectionTimeout: 5_000, requestTimeout: 30_000 } as const;

type Handler = (args: unknown) => Promise<unknown>;
interface MiddlewareClient {
  middlewareStack: { add(mw: (next: Handler, context: { commandName?: string }) => Handler, opts: { step: 'initialize'; name: string }): void };
}

export class AwsConnection {
  readonly calls = new CallCounter();
  readonly homeRegion: string;
  private readonly credentials: AwsCredentialIdentityProvider;
  private readonly clients = new Map<string, unknown>();

  /** `signal`: once aborted, every call not yet sent fails with `Aborted` (a call in flight ends within its timeouts). */
  constructor(
    private readonly opts: AwsConnectionOptions,
    private readonly signal?: AbortSignal,
  ) {
    this.homeRegion = opts.homeRegion ?? 'us-east-1';
    this.credentials = this.provider(opts.auth);
  }

  /** The SDK config for a client in `region`. */
  config(region: string): ClientConfig {
    return {
      region,
      credentials: this.credentials,
      maxAttempts: this.opts.maxAttempts ?? 5,
      requestHandler: REQUEST_TIMEOUTS,
      ...(this.opts.endpoint !== undefined && { endpoint: this.opts.endpoint, forcePathStyle: true }),
    };
  }

  /** One client per service and region, made on first use, counting its calls. */
  client<C extends { middlewareStack: object }>(service: string, region: string, make: (config: ClientConfig) => C): C {
    const key = `${service}@${region}`;
    let client = this.clients.get(key) as C | undefined;
    if (!client) {
      client = make(this.config(region));
      (client as unknown as MiddlewareClient).middlewareStack.add(
        (next, context) => async (args) => {
          if (this.signal?.aborted) throw Object.assign(new Error('the scan was stopped'), { name: 'Aborted' });
          this.calls.add(service, context.commandName ?? 'unknown');
          return next(args);
        },
        { step: 'initialize', name: 'strataCallCounter' },
      );
      this.clients.set(key, client);
    }
    return client;
  }

  /** The account and partition the credentials belong to (STS GetCallerIdentity). */
  async identity(): Promise<{ accountId: string; partition: string; arn: string }> {
    const sts = this.client('sts', this.homeRegion, (c) => new STSClient(c));
    const out = await sts.send(new GetCallerIdentityCommand({}));
    const arn = out.Arn ?? '';
    return { accountId: out.Account ?? 'unknown', partition: arn.split(':')[1] || 'aws', arn };
  }

  close(): void {
    for (const c of this.clients.values()) (c as { destroy?: () => void }).destroy?.();
    this.clients.clear();
  }

  private provider(auth: AwsAuth): AwsCredentialIdentityProvider {
    switch (auth.mode) {
      case 'default':
        return fromNodeProviderChain(auth.profile !== undefined ? { profile: auth.profile } : {});
      case 'static': {
        const creds: AwsCredentialIdentity = { accessKeyId: auth.accessKeyId, secretAccessKey: auth.secretAccessKey, ...(auth.sessionToken !== undefined && { sessionToken: auth.sessionToken }) };
        return async () => creds;
      }
      case 'assume-role':
        return this.assumeRole(auth);
    }
  }

  /** STS AssumeRole with the source credentials, renewed five minutes before they expire. */
  private assumeRole(auth: Extract<AwsAuth, { mode: 'assume-role' }>): AwsCredentialIdentityProvider {
    const source = auth.source ? this.provider({ mode: 'static', ...auth.source }) : fromNodeProviderChain();
    const sts = new STSClient({ region: this.homeRegion, credentials: source, maxAttempts: this.opts.maxAttempts ?? 5, requestHandler: REQUEST_TIMEOUTS, ...(this.opts.endpoint !== undefined && { endpoint: this.opts.endpoint }) });
    const fetch = async (): Promise<AwsCredentialIdentity> => {
      this.calls.add('sts', 'AssumeRoleCommand');
      const out = await sts.send(
        new AssumeRoleCommand({
          RoleArn: auth.roleArn,
          RoleSessionName: auth.sessionName ?? 'strata-scan',
          ...(auth.externalId !== undefined && { ExternalId: auth.externalId }),
          DurationSeconds: 3600,
        }),
      );
      const c = out.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error('AssumeRole returned no credentials');
      return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, ...(c.SessionToken !== undefined && { sessionToken: c.SessionToken }), ...(c.Expiration !== undefined && { expiration: c.Expiration }) };
    };
    let value: AwsCredentialIdentity | undefined;
    let pending: Promise<AwsCredentialIdentity> | undefined;
    const fresh = (c: AwsCredentialIdentity): boolean => !c.expiration || c.expiration.getTime() - Date.now() > 5 * 60_000;
    return () => {
      if (value && fresh(value)) return Promise.resolve(value);
      pending ??= fetch()
        .then((c) => (value = c))
        .finally(() => (pending = undefined));
      return pending;
    };
  }
}
