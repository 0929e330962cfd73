import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config/load.ts';
import { escalationSchema } from '../../lib/config/schema.ts';
import { problemsOf, configWith as sharedConfigWith } from '../helpers/config.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const configWith = (edit: (yaml: string) => string): string => sharedConfigWith(dirs, edit);
const file = (dir: string) => path.join(dir, 'environments.yaml');

/** The problems of an `escalation` block, as zod paths and messages. */
function issues(input: unknown): string[] {
  const r = escalationSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('escalation config', () => {
  it('ships the runbook path, Singapore business hours and secrets by name in both environments', () => {
    for (const name of ['staging', 'production']) {
      const e = loadConfig().environments[name]?.escalation;
      expect(e?.policy.P1).toEqual([
        { contact: 'on-call', afterMinutes: 0 },
        { contact: 'devops-lead', afterMinutes: 10 },
        { contact: 'cto', afterMinutes: 20 },
      ]);
      expect(e?.policy.P3.at(-1)).toEqual({ contact: 'devops-lead', at: 'next-business-day' });
      expect(e?.businessHours).toEqual({
        timeZone: 'Asia/Singapore',
        startHour: 9,
        endHour: 18,
        days: ['mon', 'tue', 'wed', 'thu', 'fri'],
      });
      expect(e?.channels).toEqual({
        pagerduty: {
          routingKeySecret: `guardian/${name}/pagerduty-routing-key`,
          eventsUrl: 'https://events.pagerduty.com/v2/enqueue',
          webhookSecret: `guardian/${name}/pagerduty-webhook-signing-secret`,
        },
        slack: { webhookSecret: `guardian/${name}/slack-webhook` },
        sns: { topic: 'stack' },
      });
    }
  });

  it('defaults to the runbook path without channels when an environment has no escalation block', () => {
    const e = escalationSchema.parse({});
    expect(e.policy.P2.map((l) => l.contact)).toEqual(['on-call', 'devops-lead']);
    expect(e.contacts['devops-lead']).toEqual({ name: 'DevOps Lead (Bolt)', slack: '@bolt' });
    expect(e.channels).toEqual({});
    expect(e.maxOpenHours).toBe(168);
  });

  it('refuses a webhook URL pasted where the secret name belongs, naming the file and line', () => {
    const url = 'https://hooks.slack.com/services/T000/B000/XXXX';
    const dir = configWith((yaml) =>
      yaml.replace('webhookSecret: guardian/staging/slack-webhook', `webhookSecret: ${url}`),
    );
    const [problem, ...rest] = problemsOf(dir);
    expect(rest).toEqual([]);
    expect(problem).toMatch(
      new RegExp(
        `^${file(dir)}:\\d+: environments\\.staging\\.escalation\\.channels\\.slack\\.webhookSecret: must be the name or ARN of a Secrets Manager secret`,
      ),
    );
  });

  it("refuses the PagerDuty webhook's URL pasted where its signing secret's name belongs", () => {
    const dir = configWith((yaml) =>
      yaml.replace(
        'webhookSecret: guardian/staging/pagerduty-webhook-signing-secret',
        'webhookSecret: https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.ap-southeast-1.on.aws/',
      ),
    );
    const [problem, ...rest] = problemsOf(dir);
    expect(rest).toEqual([]);
    expect(problem).toMatch(
      new RegExp(
        `^${file(dir)}:\\d+: environments\\.staging\\.escalation\\.channels\\.pagerduty\\.webhookSecret: must be the name or ARN of a Secrets Manager secret`,
      ),
    );
  });

  it('refuses a level naming a contact that does not exist', () => {
    const dir = configWith((yaml) =>
      yaml.replace('- { contact: cto, afterMinutes: 20 }', '- { contact: ceo, afterMinutes: 20 }'),
    );
    expect(problemsOf(dir)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /environments\.staging\.escalation\.policy\.P1\[2\]\.contact: unknown contact 'ceo'; contacts: on-call, devops-lead, cto$/,
        ),
      ]),
    );
  });

  it('refuses levels out of order, a late first level and next-business-day before the last level', () => {
    expect(
      issues({
        policy: {
          P1: [
            { contact: 'on-call', afterMinutes: 5 },
            { contact: 'cto', afterMinutes: 20 },
            { contact: 'devops-lead', afterMinutes: 10 },
          ],
          P2: [{ contact: 'on-call', afterMinutes: 0 }],
          P3: [
            { contact: 'on-call', afterMinutes: 0 },
            { contact: 'devops-lead', at: 'next-business-day' },
            { contact: 'cto', afterMinutes: 60 },
          ],
        },
      }),
    ).toEqual([
      'policy.P1.0: the first level is paged when the incident opens: give it afterMinutes: 0',
      'policy.P1.2.afterMinutes: levels must be in order: 10 comes after 20',
      'policy.P3.1.at: next-business-day can only be the last level',
    ]);
  });

  it('refuses business hours with an unknown time zone, an end before the start, or a day twice', () => {
    expect(
      issues({ businessHours: { timeZone: 'Asia/Singapur', startHour: 9, endHour: 18, days: ['mon'] } }),
    ).toEqual(['businessHours.timeZone: must be an IANA time zone such as Asia/Singapore']);
    expect(
      issues({ businessHours: { timeZone: 'UTC', startHour: 18, endHour: 9, days: ['mon', 'mon'] } }),
    ).toEqual([
      'businessHours.days: lists a day twice',
      'businessHours.endHour: endHour must be after startHour',
    ]);
  });

  it('refuses delivery retries that cannot finish inside the step timeout', () => {
    expect(
      issues({ delivery: { attempts: 6, timeoutMs: 10_000, initialDelayMs: 500, maxDelayMs: 4000 } }),
    ).toEqual([
      "delivery: attempts × timeoutMs + (attempts − 1) × maxDelayMs must fit in 25000 ms, inside the step's 30 s Lambda timeout",
    ]);
  });

  it('refuses a maxOpenHours that ends the chain before its last timed level', () => {
    expect(
      issues({
        maxOpenHours: 1,
        policy: {
          P1: [
            { contact: 'on-call', afterMinutes: 0 },
            { contact: 'cto', afterMinutes: 90 },
          ],
          P2: [{ contact: 'on-call', afterMinutes: 0 }],
          P3: [{ contact: 'on-call', afterMinutes: 0 }],
        },
      }),
    ).toEqual(['maxOpenHours: must be longer than the last P1 level (90 min)']);
  });

  it('accepts a secret ARN and an SNS topic ARN with its KMS key', () => {
    expect(
      issues({
        channels: {
          pagerduty: {
            routingKeySecret: 'arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:pd-key-AbCdEf',
            eventsUrl: 'http://127.0.0.1:4000/v2/enqueue',
          },
          sns: {
            topic: 'arn:aws:sns:ap-southeast-1:123456789012:oncall',
            kmsKeyArn: 'arn:aws:kms:ap-southeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
          },
        },
      }),
    ).toEqual([]);
    expect(issues({ channels: { sns: { topic: 'oncall' } } })).toEqual([
      "channels.sns.topic: must be 'stack' or the ARN of a standard SNS topic",
    ]);
  });
});
