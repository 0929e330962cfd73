/**
 * The Secrets port: Secrets Manager's GetSecretValue in AWS, with values cached per container so a
 * burst of escalations does not call it per message; a dictionary the local runner provides locally.
 * Secret values are never logged and never put in an error message.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { NotFoundError, TransientError } from '../core/errors.ts';
import type { Clock, Secrets } from '../core/ports.ts';
import { isTransientAwsError } from './transient.ts';

/** How long a container reuses a secret's value: a rotated key is picked up within this. */
export const SECRET_CACHE_MS = 5 * 60_000;

/** Secrets Manager, cached per container (one instance per container: the handler builds it once). */
export class SecretsManagerSecrets implements Secrets {
  readonly #client: SecretsManagerClient;
  readonly #clock: Clock;
  readonly #cache = new Map<string, { readonly value: Promise<string>; readonly at: number }>();

  constructor(client: SecretsManagerClient, clock: Clock) {
    this.#client = client;
    this.#clock = clock;
  }

  /** The secret's string value, from the cache while it is fresh. */
  get(nameOrArn: string): Promise<string> {
    const now = this.#clock.now().getTime();
    const cached = this.#cache.get(nameOrArn);
    if (cached && now - cached.at < SECRET_CACHE_MS) return cached.value;
    const value = this.#fetch(nameOrArn);
    this.#cache.set(nameOrArn, { value, at: now });
    // A failed read is not cached: the next message tries again.
    value.catch(() => this.#cache.delete(nameOrArn));
    return value;
  }

  async #fetch(nameOrArn: string): Promise<string> {
    try {
      const out = await this.#client.send(new GetSecretValueCommand({ SecretId: nameOrArn }));
      if (typeof out.SecretString !== 'string' || out.SecretString === '') {
        throw new NotFoundError(
          `secret ${nameOrArn} has no string value; store the key or URL as the secret's plain text`,
        );
      }
      return out.SecretString.trim();
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === 'ResourceNotFoundException') {
        throw new NotFoundError(
          `secret ${nameOrArn} does not exist in this account and region; create it (aws secretsmanager create-secret --name ${nameOrArn} --secret-string ...) or fix escalation.channels in config/environments.yaml`,
          { cause: err },
        );
      }
      if (isTransientAwsError(err)) {
        throw new TransientError(`reading secret ${nameOrArn} failed (${name}); retrying is safe`, {
          cause: err,
        });
      }
      throw err;
    }
  }
}

/** Secrets from a dictionary (the local runner's, or a test's). */
export function localSecrets(values: Readonly<Record<string, string>>): Secrets {
  return {
    async get(nameOrArn) {
      const value = values[nameOrArn];
      if (value === undefined) {
        throw new NotFoundError(
          `secret ${nameOrArn} is not among the local runner's secrets (it has: ${Object.keys(values).join(', ') || 'none'})`,
        );
      }
      return value;
    },
  };
}
