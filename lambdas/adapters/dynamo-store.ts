/**
 * The Store port on DynamoDB (dynalite locally). Every state change is a conditional write, so
 * two executions racing for the lock, or a retried step, cannot corrupt state.
 */
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { closedBreaker } from '../core/breaker.ts';
import { ConflictError, InvalidInputError, NotFoundError, TransientError } from '../core/errors.ts';
import { type Incident, type IncidentActor, planIncidentTransition } from '../core/incidents.ts';
import { blocks } from '../core/lock.ts';
import type {
  AlarmState,
  AlarmStateValue,
  EscalationLevelReached,
  IncidentTransitionResult,
  LockResult,
  RecordCondition,
  Store,
} from '../core/ports.ts';
import type { AdHocFreeze, BreakerState, DeploymentRecord, LockInfo } from '../core/types.ts';
import { CONTROL_TABLE, DEPLOYMENTS_TABLE } from './tables.ts';
import { isTransientAwsError } from './transient.ts';

/** Table names the store works on. */
export interface DynamoStoreTables {
  readonly deploymentsTable: string;
  readonly controlTable: string;
}

/** Conditional breaker writes tried before giving up (each re-reads the breaker). */
const BREAKER_WRITE_ATTEMPTS = 5;

/** A conditional record update that found the record in another status. */
function conflict(
  current: DeploymentRecord,
  patch: Partial<DeploymentRecord>,
  condition: RecordCondition,
): ConflictError {
  const by = current.rolledBackBy ? ` by ${current.rolledBackBy}` : '';
  const what = current.kind === 'deploy' ? 'deployment' : 'rollback';
  const claimed = (condition.unset ?? []).filter((f) => current[f] !== undefined);
  if (claimed.length > 0 && condition.status.includes(current.status)) {
    return new ConflictError(
      `cannot update ${what} ${current.environment}/${current.id}: its ${claimed.join(', ')} is already set; another writer claimed it first`,
    );
  }
  return new ConflictError(
    `cannot mark ${what} ${current.environment}/${current.id} as ${patch.status ?? 'updated'}: it is ${current.status}${by} (allowed only from ${condition.status.join(' or ')}); another execution changed it`,
  );
}

function isConditionFailed(err: unknown): boolean {
  return (err as { name?: string }).name === 'ConditionalCheckFailedException';
}

/** Throttles, 5xx and network errors become TransientError (the state machine retries them). */
function translate(err: unknown, what: string): never {
  const e = err as { name?: string; message?: string; code?: string };
  if (isTransientAwsError(err)) {
    throw new TransientError(
      `DynamoDB ${what} failed (${e.name ?? e.code}): ${e.message ?? ''}; retrying is safe`,
      {
        cause: err,
      },
    );
  }
  throw err;
}

const LOCK_PK = 'lock';
const BREAKER_PK = 'breaker';
const freezePk = (environment: string) => `freeze#${environment}`;
const incidentPk = (environment: string) => `incident#${environment}`;
const alarmPk = (environment: string) => `alarm#${environment}`;
/** Conditional incident writes tried before giving up (each re-reads the incident). */
const INCIDENT_WRITE_ATTEMPTS = 3;

function stripKeys<T>(item: Record<string, unknown> | undefined, keys: readonly string[]): T | undefined {
  if (!item) return undefined;
  const copy: Record<string, unknown> = { ...item };
  for (const k of keys) delete copy[k];
  return copy as T;
}

/** Drops undefined fields so the store works whatever the document client's marshall options. */
function item(fields: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

const CONTROL_KEYS = [
  CONTROL_TABLE.partitionKey,
  CONTROL_TABLE.sortKey,
  CONTROL_TABLE.ttlAttribute,
  'expiresAtMs',
];

/** DynamoDB implementation of the Store port. */
export class DynamoStore implements Store {
  readonly #doc: DynamoDBDocumentClient;
  readonly #tables: DynamoStoreTables;

  constructor(doc: DynamoDBDocumentClient, tables: DynamoStoreTables) {
    this.#doc = doc;
    this.#tables = tables;
  }

  async #send<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      return translate(err, what);
    }
  }

  /** Creates a record. A retry by the same execution is a no-op; another execution's id clash is a ConflictError. */
  async putRecord(record: DeploymentRecord): Promise<void> {
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.#tables.deploymentsTable,
          Item: item(record),
          ConditionExpression: 'attribute_not_exists(#sk)',
          ExpressionAttributeNames: { '#sk': DEPLOYMENTS_TABLE.sortKey },
        }),
      );
    } catch (err) {
      if (!isConditionFailed(err)) translate(err, 'PutItem (record)');
      const existing = await this.getRecord(record.environment, record.id);
      if (existing?.executionArn === record.executionArn) return;
      throw new ConflictError(
        `a record ${record.environment}/${record.id} already exists for execution ${existing?.executionArn ?? 'unknown'}; execution names must be unique`,
      );
    }
  }

  /**
   * Merges `patch` into an existing record (keys cannot change); NotFoundError when it is missing,
   * ConflictError when `condition` does not hold (e.g. finishing a record that already finished).
   */
  async updateRecord(
    environment: string,
    id: string,
    patch: Partial<DeploymentRecord>,
    condition?: RecordCondition,
  ): Promise<DeploymentRecord> {
    const entries = Object.entries(patch).filter(
      ([k, v]) => v !== undefined && k !== DEPLOYMENTS_TABLE.partitionKey && k !== DEPLOYMENTS_TABLE.sortKey,
    );
    if (condition && condition.status.length === 0) {
      throw new InvalidInputError(`updateRecord ${environment}/${id}: condition.status lists no status`);
    }
    if (entries.length === 0) {
      const current = await this.getRecord(environment, id);
      if (!current) throw new NotFoundError(`no record ${id} in the ${environment} history`);
      if (condition && !condition.status.includes(current.status)) throw conflict(current, patch, condition);
      if (condition?.unset?.some((f) => current[f] !== undefined)) throw conflict(current, patch, condition);
      return current;
    }
    const names: Record<string, string> = { '#sk': DEPLOYMENTS_TABLE.sortKey };
    const values: Record<string, unknown> = {};
    const sets = entries.map(([k, v], i) => {
      names[`#f${i}`] = k;
      values[`:v${i}`] = v;
      return `#f${i} = :v${i}`;
    });
    let conditionExpression = 'attribute_exists(#sk)';
    if (condition) {
      names['#status'] = 'status';
      const allowed = condition.status.map((status, i) => {
        values[`:c${i}`] = status;
        return `:c${i}`;
      });
      conditionExpression += ` AND #status IN (${allowed.join(', ')})`;
      for (const [i, field] of (condition.unset ?? []).entries()) {
        names[`#u${i}`] = field;
        conditionExpression += ` AND attribute_not_exists(#u${i})`;
      }
    }
    try {
      const out = await this.#doc.send(
        new UpdateCommand({
          TableName: this.#tables.deploymentsTable,
          Key: { [DEPLOYMENTS_TABLE.partitionKey]: environment, [DEPLOYMENTS_TABLE.sortKey]: id },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: conditionExpression,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes as DeploymentRecord;
    } catch (err) {
      if (!isConditionFailed(err)) return translate(err, 'UpdateItem (record)');
      const current = condition ? await this.getRecord(environment, id) : undefined;
      if (!current || !condition) throw new NotFoundError(`no record ${id} in the ${environment} history`);
      throw conflict(current, patch, condition);
    }
  }

  /** Reads one record (strongly consistent). */
  async getRecord(environment: string, id: string): Promise<DeploymentRecord | undefined> {
    const out = await this.#send('GetItem (record)', () =>
      this.#doc.send(
        new GetCommand({
          TableName: this.#tables.deploymentsTable,
          Key: { [DEPLOYMENTS_TABLE.partitionKey]: environment, [DEPLOYMENTS_TABLE.sortKey]: id },
          ConsistentRead: true,
        }),
      ),
    );
    return out.Item as DeploymentRecord | undefined;
  }

  /** Newest first by `startedAt`, via the byStartedAt index. */
  async listRecords(environment: string, limit: number): Promise<DeploymentRecord[]> {
    if (limit <= 0) return [];
    const index = DEPLOYMENTS_TABLE.byStartedAtIndex;
    const out = await this.#send('Query (history)', () =>
      this.#doc.send(
        new QueryCommand({
          TableName: this.#tables.deploymentsTable,
          IndexName: index.name,
          KeyConditionExpression: '#pk = :env',
          ExpressionAttributeNames: { '#pk': index.partitionKey },
          ExpressionAttributeValues: { ':env': environment },
          ScanIndexForward: false,
          Limit: limit,
        }),
      ),
    );
    return (out.Items ?? []) as DeploymentRecord[];
  }

  /**
   * Takes the lock if it is free, expired at `now`, or already held by the same holder (a retried
   * step). Otherwise reports who holds it.
   */
  async acquireLock(lock: LockInfo, now: Date): Promise<LockResult> {
    // A lock released between our failed write and our read: try again (bounded).
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.#doc.send(
          new PutCommand({
            TableName: this.#tables.controlTable,
            Item: item({
              [CONTROL_TABLE.partitionKey]: LOCK_PK,
              [CONTROL_TABLE.sortKey]: lock.environment,
              ...lock,
              expiresAtMs: Date.parse(lock.expiresAt),
            }),
            ConditionExpression: 'attribute_not_exists(#pk) OR expiresAtMs <= :now OR holder = :holder',
            ExpressionAttributeNames: { '#pk': CONTROL_TABLE.partitionKey },
            ExpressionAttributeValues: { ':now': now.getTime(), ':holder': lock.holder },
          }),
        );
        return { acquired: true, lock };
      } catch (err) {
        if (!isConditionFailed(err)) translate(err, 'PutItem (lock)');
      }
      const holder = await this.getLock(lock.environment);
      if (blocks(holder, lock.holder, now)) return { acquired: false, holder };
    }
    throw new TransientError(
      `the ${lock.environment} lock kept changing hands while acquiring it; retrying is safe`,
    );
  }

  /** Deletes the lock only if `holder` holds it; false when it is free or someone else's. */
  async releaseLock(environment: string, holder: string): Promise<boolean> {
    try {
      await this.#doc.send(
        new DeleteCommand({
          TableName: this.#tables.controlTable,
          Key: { [CONTROL_TABLE.partitionKey]: LOCK_PK, [CONTROL_TABLE.sortKey]: environment },
          ConditionExpression: 'holder = :holder',
          ExpressionAttributeValues: { ':holder': holder },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailed(err)) return false;
      return translate(err, 'DeleteItem (lock)');
    }
  }

  /** The lock item as stored (it may be expired: callers judge with `now`). */
  async getLock(environment: string): Promise<LockInfo | undefined> {
    return stripKeys<LockInfo>(await this.#getControl(LOCK_PK, environment), CONTROL_KEYS);
  }

  /** The breaker; closed with no failures when never written (then it has no `version`). */
  async getBreaker(environment: string): Promise<BreakerState> {
    return (
      stripKeys<BreakerState>(await this.#getControl(BREAKER_PK, environment), CONTROL_KEYS) ??
      closedBreaker(environment)
    );
  }

  /**
   * Conditional read-modify-write: the write succeeds only if nobody wrote the breaker since it
   * was read (its `version`); otherwise re-read and re-apply, a few times, then TransientError.
   */
  async updateBreaker(
    environment: string,
    change: (current: BreakerState) => BreakerState,
  ): Promise<BreakerState> {
    for (let attempt = 0; attempt < BREAKER_WRITE_ATTEMPTS; attempt++) {
      const current = await this.getBreaker(environment);
      const next = change(current);
      if (next === current) return current;
      const version = (current.version ?? 0) + 1;
      try {
        await this.#doc.send(
          new PutCommand({
            TableName: this.#tables.controlTable,
            Item: item({
              ...next,
              [CONTROL_TABLE.partitionKey]: BREAKER_PK,
              [CONTROL_TABLE.sortKey]: environment,
              environment,
              version,
            }),
            ConditionExpression:
              current.version === undefined ? 'attribute_not_exists(#v)' : '#v = :expected',
            ExpressionAttributeNames: { '#v': 'version' },
            ...(current.version === undefined
              ? {}
              : { ExpressionAttributeValues: { ':expected': current.version } }),
          }),
        );
        return { ...next, environment, version };
      } catch (err) {
        if (!isConditionFailed(err)) return translate(err, 'PutItem (breaker)');
      }
    }
    throw new TransientError(
      `the ${environment} circuit breaker kept changing while this step updated it (${BREAKER_WRITE_ATTEMPTS} attempts); retry`,
    );
  }

  /** Ad-hoc freezes of an environment (including ended ones DynamoDB's TTL has not removed yet). */
  async listFreezes(environment: string): Promise<AdHocFreeze[]> {
    const items: AdHocFreeze[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.#send('Query (freezes)', () =>
        this.#doc.send(
          new QueryCommand({
            TableName: this.#tables.controlTable,
            KeyConditionExpression: '#pk = :pk',
            ExpressionAttributeNames: { '#pk': CONTROL_TABLE.partitionKey },
            ExpressionAttributeValues: { ':pk': freezePk(environment) },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      for (const item of out.Items ?? []) {
        const f = stripKeys<AdHocFreeze>(item, CONTROL_KEYS);
        if (f) items.push(f);
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return items;
  }

  /** Creates or replaces an ad-hoc freeze; DynamoDB may delete it a day after it ends. */
  async putFreeze(freeze: AdHocFreeze): Promise<void> {
    const end = Date.parse(freeze.end);
    await this.#send('PutItem (freeze)', () =>
      this.#doc.send(
        new PutCommand({
          TableName: this.#tables.controlTable,
          Item: item({
            [CONTROL_TABLE.partitionKey]: freezePk(freeze.environment),
            [CONTROL_TABLE.sortKey]: freeze.id,
            ...freeze,
            ...(Number.isFinite(end) && { [CONTROL_TABLE.ttlAttribute]: Math.floor(end / 1000) + 86_400 }),
          }),
        }),
      ),
    );
  }

  /** Remembers a handled event (`pk = "event#<env>"`, `sk = <event id>`); false when it was handled already. */
  async markEventHandled(environment: string, eventId: string, expiresAt: Date): Promise<boolean> {
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.#tables.controlTable,
          Item: {
            [CONTROL_TABLE.partitionKey]: `event#${environment}`,
            [CONTROL_TABLE.sortKey]: eventId,
            [CONTROL_TABLE.ttlAttribute]: Math.floor(expiresAt.getTime() / 1000),
          },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': CONTROL_TABLE.partitionKey },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailed(err)) return false;
      return translate(err, 'PutItem (event)');
    }
  }

  async forgetEvent(environment: string, eventId: string): Promise<void> {
    await this.#send('DeleteItem (event)', () =>
      this.#doc.send(
        new DeleteCommand({
          TableName: this.#tables.controlTable,
          Key: { [CONTROL_TABLE.partitionKey]: `event#${environment}`, [CONTROL_TABLE.sortKey]: eventId },
        }),
      ),
    );
  }

  /** Deletes an ad-hoc freeze; false when there was none with that id. */
  async deleteFreeze(environment: string, id: string): Promise<boolean> {
    const out = await this.#send('DeleteItem (freeze)', () =>
      this.#doc.send(
        new DeleteCommand({
          TableName: this.#tables.controlTable,
          Key: { [CONTROL_TABLE.partitionKey]: freezePk(environment), [CONTROL_TABLE.sortKey]: id },
          ReturnValues: 'ALL_OLD',
        }),
      ),
    );
    return out.Attributes !== undefined;
  }

  // --- Incidents (issue 8): Control items `pk = "incident#<env>"`, `sk = <incident id>`. ---

  /** Creates an incident once; a second put of the same id (a redelivered alarm) returns the stored one. */
  async putIncident(incident: Incident): Promise<{ created: boolean; incident: Incident }> {
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.#tables.controlTable,
          Item: item({
            ...incident,
            [CONTROL_TABLE.partitionKey]: incidentPk(incident.environment),
            [CONTROL_TABLE.sortKey]: incident.id,
          }),
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': CONTROL_TABLE.partitionKey },
        }),
      );
      return { created: true, incident };
    } catch (err) {
      if (!isConditionFailed(err)) return translate(err, 'PutItem (incident)');
    }
    const existing = await this.getIncident(incident.environment, incident.id);
    if (!existing) {
      throw new TransientError(`incident ${incident.id} exists but could not be read back; retrying is safe`);
    }
    return { created: false, incident: existing };
  }

  /** Reads one incident (strongly consistent). */
  async getIncident(environment: string, id: string): Promise<Incident | undefined> {
    return stripKeys<Incident>(await this.#getControl(incidentPk(environment), id), CONTROL_KEYS);
  }

  /** Newest first: ids start with the environment and the opening time, so the sort key orders them. */
  async listIncidents(environment: string, limit: number): Promise<Incident[]> {
    if (limit <= 0) return [];
    const out = await this.#send('Query (incidents)', () =>
      this.#doc.send(
        new QueryCommand({
          TableName: this.#tables.controlTable,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': CONTROL_TABLE.partitionKey },
          ExpressionAttributeValues: { ':pk': incidentPk(environment) },
          ScanIndexForward: false,
          ConsistentRead: true,
          Limit: limit,
        }),
      ),
    );
    return (out.Items ?? []).flatMap((i) => stripKeys<Incident>(i, CONTROL_KEYS) ?? []);
  }

  /**
   * Open → acknowledged → resolved, never backwards: the write holds only while the stored status
   * is one the transition starts from; a concurrent change makes it re-read and decide again.
   */
  async transitionIncident(
    environment: string,
    id: string,
    to: 'acknowledged' | 'resolved',
    actor: IncidentActor,
    now: Date,
  ): Promise<IncidentTransitionResult> {
    for (let attempt = 0; attempt < INCIDENT_WRITE_ATTEMPTS; attempt++) {
      const current = await this.getIncident(environment, id);
      if (!current) throw new NotFoundError(`no incident ${id} in ${environment}`);
      const plan = planIncidentTransition(current, to, actor, now);
      if (plan.kind === 'no-op') return { changed: false, incident: current, message: plan.message };
      const written = await this.#updateIncident(environment, id, plan.patch, {
        expression: `#status IN (${plan.from.map((_, i) => `:from${i}`).join(', ')})`,
        values: Object.fromEntries(plan.from.map((status, i) => [`:from${i}`, status])),
      });
      if (written) return { changed: true, incident: written, message: plan.message };
    }
    throw new TransientError(`incident ${id} kept changing while it was ${to}; retrying is safe`);
  }

  /** Records the paged level while the incident is open; undefined when it is not (nothing written). */
  async recordEscalationLevel(
    environment: string,
    id: string,
    level: EscalationLevelReached,
  ): Promise<Incident | undefined> {
    return this.#updateIncident(
      environment,
      id,
      {
        levelReached: level.level,
        levelReachedAt: level.at,
        levelContact: level.contact,
        escalationExecutionArn: level.executionArn,
        updatedAt: level.at,
      },
      { expression: '#status = :open', values: { ':open': 'open' } },
      // The previous level's token is dead once its wait timed out: drop it with the new level.
      ['taskToken'],
    );
  }

  /** Stores the waiting task's token while the incident is open at `level`; false otherwise. */
  async setEscalationToken(
    environment: string,
    id: string,
    level: number,
    taskToken: string,
  ): Promise<boolean> {
    const written = await this.#updateIncident(
      environment,
      id,
      { taskToken },
      {
        expression: '#status = :open AND levelReached = :level',
        values: { ':open': 'open', ':level': level },
      },
    );
    return written !== undefined;
  }

  /** A conditional SET (and REMOVE) on an incident; undefined when the condition does not hold. */
  async #updateIncident(
    environment: string,
    id: string,
    patch: Partial<Incident>,
    condition: { readonly expression: string; readonly values: Record<string, unknown> },
    remove: readonly string[] = [],
  ): Promise<Incident | undefined> {
    const names: Record<string, string> = { '#pk': CONTROL_TABLE.partitionKey, '#status': 'status' };
    const values: Record<string, unknown> = { ...condition.values };
    const sets = Object.entries(patch)
      .filter(([, v]) => v !== undefined)
      .map(([k, v], i) => {
        names[`#f${i}`] = k;
        values[`:v${i}`] = v;
        return `#f${i} = :v${i}`;
      });
    const removes = remove.map((k, i) => {
      names[`#r${i}`] = k;
      return `#r${i}`;
    });
    const update = `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`;
    try {
      const out = await this.#doc.send(
        new UpdateCommand({
          TableName: this.#tables.controlTable,
          Key: { [CONTROL_TABLE.partitionKey]: incidentPk(environment), [CONTROL_TABLE.sortKey]: id },
          UpdateExpression: update,
          ConditionExpression: `attribute_exists(#pk) AND ${condition.expression}`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return stripKeys<Incident>(out.Attributes, CONTROL_KEYS);
    } catch (err) {
      if (isConditionFailed(err)) return undefined;
      return translate(err, 'UpdateItem (incident)');
    }
  }

  // --- end incidents ---

  // --- Alarm states (issue 8): Control items `pk = "alarm#<env>"`, `sk = <alarm name>`. ---

  /** The stored state of an alarm (strongly consistent); undefined when none was stored. */
  async getAlarmState(environment: string, name: string): Promise<AlarmState | undefined> {
    const stored = await this.#getControl(alarmPk(environment), name);
    if (!stored) return undefined;
    const { value, reason, updatedAt } = stored as {
      value: AlarmStateValue;
      reason?: string;
      updatedAt?: string;
    };
    return { value, ...(reason !== undefined && { reason }), ...(updatedAt !== undefined && { updatedAt }) };
  }

  /**
   * Stores an alarm's state unless a later one is stored: replayed or redelivered events arrive in
   * any order, and the alarm is in the state of its latest transition. A state without a readable
   * `updatedAt` cannot be ordered and is written as the latest.
   */
  async putAlarmState(environment: string, name: string, state: AlarmState): Promise<boolean> {
    const at = state.updatedAt === undefined ? Number.NaN : Date.parse(state.updatedAt);
    const dated = Number.isFinite(at);
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.#tables.controlTable,
          Item: item({
            [CONTROL_TABLE.partitionKey]: alarmPk(environment),
            [CONTROL_TABLE.sortKey]: name,
            value: state.value,
            reason: state.reason,
            updatedAt: state.updatedAt,
            updatedAtMs: dated ? at : undefined,
          }),
          ...(dated && {
            ConditionExpression: 'attribute_not_exists(#ms) OR #ms <= :ms',
            ExpressionAttributeNames: { '#ms': 'updatedAtMs' },
            ExpressionAttributeValues: { ':ms': at },
          }),
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailed(err)) return false;
      return translate(err, 'PutItem (alarm state)');
    }
  }

  // --- end alarm states ---

  async #getControl(pk: string, sk: string): Promise<Record<string, unknown> | undefined> {
    const out = await this.#send('GetItem (control)', () =>
      this.#doc.send(
        new GetCommand({
          TableName: this.#tables.controlTable,
          Key: { [CONTROL_TABLE.partitionKey]: pk, [CONTROL_TABLE.sortKey]: sk },
          ConsistentRead: true,
        }),
      ),
    );
    return out.Item;
  }
}
