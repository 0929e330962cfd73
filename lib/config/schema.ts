/**
 * The guardian's configuration schema: `config/environments.yaml` and
 * `config/deployment-thresholds.yaml`. Pure (zod only), so the Lambda bundles reuse it to
 * validate the per-environment config handed to them at deploy time.
 */
import * as z from 'zod';
import { ALARM_SEVERITIES, METRIC_ALARM_IDS, type MetricAlarmId } from '../../lambdas/core/alarm-catalog.ts';
import { BUILT_PLATFORMS, isBuiltPlatform, PLATFORMS } from '../../lambdas/core/workload.ts';
import { backupSchema } from './backup-schema.ts';
import { canarySchema } from './canary-schema.ts';
import { dependenciesSchema, maxStartupSecondsSchema } from './health-check.ts';
import { metricsSchema } from './metrics-schema.ts';

/** Kubernetes object names (RFC 1123 labels). */
const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a lowercase RFC 1123 name (a-z, 0-9, -)')
  .max(63);

/** An ISO-8601 timestamp with an explicit offset. */
const isoInstant = z.iso.datetime({ offset: true, message: 'must be an ISO-8601 time with offset' });

/** One block of `deployment-thresholds.yaml`, exactly the runbook's format. */
export const thresholdsSchema = z.strictObject({
  error_rate_threshold: z.number().positive().max(100),
  latency_p99_threshold_ms: z.number().int().positive(),
  consecutive_failures_for_rollback: z.number().int().min(1),
  monitoring_duration_seconds: z.number().int().min(0),
});
/** Thresholds of one environment. */
export type Thresholds = z.infer<typeof thresholdsSchema>;

/** The whole `deployment-thresholds.yaml`: one block per environment. */
export const thresholdsFileSchema = z.record(z.string(), thresholdsSchema);

/** One endpoint the enhanced health check calls. */
export const healthEndpointSchema = z.strictObject({
  path: z.string().startsWith('/', 'must start with /'),
  expectStatus: z.number().int().min(100).max(599).default(200),
  /** Top-level (or dotted) JSON fields and the value each must have. */
  expectJson: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});

/** A configured change-freeze window. */
export const freezeWindowSchema = z
  .strictObject({
    name: z.string().min(1),
    start: isoInstant,
    end: isoInstant,
    reason: z.string().min(1),
  })
  .refine((w) => Date.parse(w.end) > Date.parse(w.start), {
    message: 'end must be after start',
    path: ['end'],
  });
/** A configured change-freeze window. */
export type FreezeWindow = z.infer<typeof freezeWindowSchema>;

/** An absolute https URL with a DNS host name (SNS checks the endpoint's certificate against it). */
function isHttpsUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return url.protocol === 'https:' && z.regexes.domain.test(url.hostname);
}

/** The protocols an alarm-topic subscription may use. */
export const SUBSCRIPTION_PROTOCOLS = ['email', 'https', 'sqs', 'lambda'] as const;

/**
 * One subscriber of an environment's alarm topic. The endpoint is checked against its protocol;
 * a standard SNS topic cannot deliver to a FIFO queue, so `.fifo` queues are refused.
 */
export const subscriptionSchema = z.discriminatedUnion(
  'protocol',
  [
    z.strictObject({
      protocol: z.literal('email'),
      endpoint: z.email({ message: 'must be an email address, e.g. devops@example.com' }),
    }),
    z.strictObject({
      protocol: z.literal('https'),
      endpoint: z
        .string()
        .refine(isHttpsUrl, 'must be an https:// URL, e.g. https://hooks.example.com/alarms'),
    }),
    z.strictObject({
      protocol: z.literal('sqs'),
      endpoint: z
        .string()
        .regex(
          /^arn:aws[a-z-]*:sqs:[a-z]{2}(-[a-z]+)+-\d:\d{12}:[A-Za-z0-9_-]{1,80}$/,
          'must be the ARN of a standard SQS queue, e.g. arn:aws:sqs:ap-southeast-1:123456789012:alarms (not a queue URL, not .fifo)',
        ),
    }),
    z.strictObject({
      protocol: z.literal('lambda'),
      endpoint: z
        .string()
        .regex(
          /^arn:aws[a-z-]*:lambda:[a-z]{2}(-[a-z]+)+-\d:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$/,
          'must be the ARN of a Lambda function, e.g. arn:aws:lambda:ap-southeast-1:123456789012:function:on-alarm',
        ),
    }),
  ],
  {
    error: (issue) =>
      issue.code === 'invalid_union' ? `must be one of ${SUBSCRIPTION_PROTOCOLS.join(', ')}` : undefined,
  },
);
/** One subscriber of an environment's alarm topic. */
export type Subscription = z.infer<typeof subscriptionSchema>;

/** Who hears when the guardian itself is unwell (failed executions, dead letters). */
export const alarmTopicSchema = z.strictObject({
  subscriptions: z
    .array(subscriptionSchema)
    .default([])
    .superRefine((subs, ctx) => {
      const seen = new Set<string>();
      subs.forEach((s, i) => {
        const key = `${s.protocol} ${s.endpoint}`;
        if (seen.has(key)) {
          ctx.addIssue({
            code: 'custom',
            path: [i],
            message: `duplicate subscription (${key}); list each endpoint once`,
          });
        }
        seen.add(key);
      });
    }),
});
/** An environment's alarm topic. */
export type AlarmTopicConfig = z.infer<typeof alarmTopicSchema>;

/** The retention periods CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/**
 * How long logs are kept and what happens to the tables, log groups and queues when the stack is
 * deleted. Fail safe: an environment is disposable only when it says so.
 */
export const retentionSchema = z.strictObject({
  logRetentionDays: z
    .number()
    .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), {
      message: `must be a retention period CloudWatch Logs accepts: one of ${LOG_RETENTION_DAYS.join(', ')} (days)`,
    })
    .default(365),
  removalPolicy: z
    .enum(['retain', 'destroy'], {
      error: "must be 'retain' (kept when the stack is deleted) or 'destroy' (deleted with the stack)",
    })
    .default('retain'),
});
/** An environment's retention and removal policy. */
export type RetentionConfig = z.infer<typeof retentionSchema>;

// --- Alarms (issue 8): the environment's account, service and CloudWatch alarms ---------------

/** A 12-digit AWS account id, as a string (YAML would drop the leading zeros of a number). */
const accountId = z
  .string({ error: 'must be a 12-digit AWS account id in quotes, e.g. "123456789012"' })
  .regex(/^\d{12}$/, 'must be a 12-digit AWS account id, e.g. "123456789012"');

/** A CloudWatch tag value (the `service` tag): letters, digits, spaces and `_ . : / = + - @`. */
const tagValue = z
  .string()
  .min(1)
  .max(256)
  .regex(
    /^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$/u,
    'must be a tag value: letters, digits, spaces and _ . : / = + - @',
  );

/** What the alarm handler does when one of the environment's alarms has too little data to decide. */
export const INSUFFICIENT_DATA_POLICIES = ['ignore', 'notify', 'escalate'] as const;
/** What the alarm handler does with INSUFFICIENT_DATA. */
export type InsufficientDataPolicy = (typeof INSUFFICIENT_DATA_POLICIES)[number];

/** One CloudWatch metric: namespace, name and the dimensions that select the environment's series. */
function metricSourceSchema(defaults: { readonly namespace: string; readonly name: string }) {
  return z.strictObject({
    namespace: z.string().min(1).max(255).default(defaults.namespace),
    name: z.string().min(1).max(255).default(defaults.name),
    dimensions: z
      .record(z.string().min(1).max(255), z.string().min(1).max(1024))
      .refine((d) => Object.keys(d).length >= 1 && Object.keys(d).length <= 30, {
        message: "must name 1 to 30 dimensions (name: value) that select this environment's series",
      }),
  });
}

/**
 * Where the alarms read their metrics. Defaults (namespace and metric name) are for an API behind
 * an Application Load Balancer (AWS/ApplicationELB), pods reported by Container Insights
 * (ContainerInsights) and logs shipped to CloudWatch Logs (AWS/Logs); the dimensions select the
 * environment's load balancer, service and log group and have no default.
 */
export const alarmMetricsSchema = z.strictObject({
  /** Requests the API answered (the error rate's denominator). */
  requests: metricSourceSchema({ namespace: 'AWS/ApplicationELB', name: 'RequestCount' }).optional(),
  /** 5xx responses of the API (the error rate's numerator). */
  errors: metricSourceSchema({
    namespace: 'AWS/ApplicationELB',
    name: 'HTTPCode_Target_5XX_Count',
  }).optional(),
  /** Response time whose p99 is compared with `latency_p99_threshold_ms`, and its unit. */
  latencyP99: metricSourceSchema({ namespace: 'AWS/ApplicationELB', name: 'TargetResponseTime' })
    .extend({ unit: z.enum(['seconds', 'milliseconds']).default('seconds') })
    .optional(),
  /** Health-check failures: above 0 while the health endpoint answers non-200 (ALB target health checks call /health). */
  healthFailures: metricSourceSchema({
    namespace: 'AWS/ApplicationELB',
    name: 'UnHealthyHostCount',
  }).optional(),
  /** Running pods of the workload. */
  runningPods: metricSourceSchema({
    namespace: 'ContainerInsights',
    name: 'service_number_of_running_pods',
  }).optional(),
  /** Log events arriving from the workload. */
  incomingLogs: metricSourceSchema({ namespace: 'AWS/Logs', name: 'IncomingLogEvents' }).optional(),
});
/** Where the alarms read their metrics. */
export type AlarmMetrics = z.infer<typeof alarmMetricsSchema>;

/** The metrics each of the guardian's metric alarms reads. */
export const METRICS_OF_ALARM: Readonly<Record<MetricAlarmId, readonly (keyof AlarmMetrics)[]>> = {
  HighErrorRate: ['requests', 'errors'],
  APIServiceDown: ['healthFailures'],
  HighLatencyP99: ['latencyP99'],
  PodsBelowReplicas: ['runningPods'],
  NoLogsReceived: ['incomingLogs'],
};

/** An alarm a team already has: the guardian recognises it by name and, with `replaces`, creates none for that criterion. */
export const existingAlarmSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(255)
    .refine((n) => !/[\p{Cc}]/u.test(n), 'must not contain control characters'),
  severity: z.enum(ALARM_SEVERITIES, { error: `must be one of ${ALARM_SEVERITIES.join(', ')}` }),
  /** The guardian alarm this one stands in for; absent, it is only recognised. */
  replaces: z.enum(METRIC_ALARM_IDS, { error: `must be one of ${METRIC_ALARM_IDS.join(', ')}` }).optional(),
});
/** An alarm a team already has. */
export type ExistingAlarm = z.infer<typeof existingAlarmSchema>;

/**
 * The environment's alarms. The guard window defaults to 30 minutes: the runbook keeps the on-call
 * engineer "available for 30 minutes post-deployment", which covers production's 600 s of
 * post-deployment monitoring plus the 5-minute evaluation of the rollback criteria after it.
 */
export const alarmsSchema = z
  .strictObject({
    guardWindowSeconds: z
      .number()
      .int()
      .min(60)
      .max(7 * 86_400)
      .default(1800),
    insufficientData: z
      .enum(INSUFFICIENT_DATA_POLICIES, { error: `must be one of ${INSUFFICIENT_DATA_POLICIES.join(', ')}` })
      .default('notify'),
    /** When the composite alarm's state cannot be read, preflight refuses (true) or goes on (false). */
    preflightFailClosed: z.boolean().default(true),
    /** The workload's desired replicas; PodsBelowReplicas fires below replicas - 1. */
    replicas: z
      .number()
      .int()
      .min(2, 'must be at least 2: PodsBelowReplicas fires when running pods < replicas - 1')
      .max(10_000)
      .optional(),
    metrics: alarmMetricsSchema.default({}),
    existing: z.array(existingAlarmSchema).default([]),
  })
  .superRefine((alarms, ctx) => {
    const replaced = new Set(alarms.existing.flatMap((e) => (e.replaces ? [e.replaces] : [])));
    for (const id of METRIC_ALARM_IDS) {
      if (replaced.has(id)) continue;
      for (const metric of METRICS_OF_ALARM[id]) {
        if (!alarms.metrics[metric]) {
          ctx.addIssue({
            code: 'custom',
            path: ['metrics', metric],
            message: `is missing: the ${id} alarm reads it (or list an existing alarm with replaces: ${id})`,
          });
        }
      }
      if (id === 'PodsBelowReplicas' && alarms.replicas === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['replicas'],
          message:
            'is missing: the PodsBelowReplicas alarm compares running pods with replicas - 1 (or list an existing alarm with replaces: PodsBelowReplicas)',
        });
      }
    }
    const seen = new Set<string>();
    alarms.existing.forEach((e, i) => {
      if (seen.has(e.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['existing', i, 'name'],
          message: `duplicate alarm ${e.name}; list each alarm once`,
        });
      }
      seen.add(e.name);
    });
  });
/** The environment's alarms. */
export type AlarmsConfig = z.infer<typeof alarmsSchema>;

// --- end of the alarms block ------------------------------------------------------------------
// --- Escalation (issue 8): policy, contacts, business hours and channels of an environment. ---

/** Longest one message may take on one channel, retries included: inside the step's 30 s timeout. */
export const ESCALATION_DELIVERY_BUDGET_MS = 25_000;

/** The incident priorities of the runbook's escalation path. */
export const PRIORITIES = ['P1', 'P2', 'P3'] as const;

/** Weekday names as config spells them (lowercase, three letters). */
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/** A Secrets Manager secret: its name (`guardian/production/slack-webhook`) or full ARN. */
const secretRef = z
  .string()
  .regex(
    /^(arn:aws[a-z-]*:secretsmanager:[a-z]{2}(-[a-z]+)+-\d:\d{12}:secret:[A-Za-z0-9/_+=.@-]+|[A-Za-z0-9/_+=.@-]{1,512})$/,
    'must be the name or ARN of a Secrets Manager secret (the secret holds the value; config never does)',
  );

/** An IANA time zone the runtime's Intl knows, e.g. Asia/Singapore. */
const timeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as Asia/Singapore');

/** One level of an escalation path: who is paged and when, counted from the incident's opening. */
export const escalationLevelSchema = z.union([
  z.strictObject({
    contact: z.string().min(1),
    /** Minutes after the incident opened (not after the previous level). */
    afterMinutes: z.number().int().min(0).max(10_080),
  }),
  z.strictObject({
    contact: z.string().min(1),
    /** The start of the next business day after the day the incident opened (business hours below). */
    at: z.literal('next-business-day'),
  }),
]);
/** One level of an escalation path. */
export type EscalationLevelConfig = z.infer<typeof escalationLevelSchema>;

/** Someone the guardian pages. */
export const contactSchema = z.strictObject({
  /** How messages name them, e.g. "DevOps Lead (Bolt)". */
  name: z.string().min(1),
  /** How Slack mentions them: `<@U0123ABCD>`, `<!subteam^S0123>` or plain text such as `@bolt`. */
  slack: z.string().min(1).optional(),
});

/** When a "business day" starts and ends (P3's lead is paged at the start of the next one). */
export const businessHoursSchema = z
  .strictObject({
    timeZone,
    startHour: z.number().int().min(0).max(23),
    endHour: z.number().int().min(1).max(24),
    days: z
      .array(z.enum(WEEKDAYS))
      .min(1)
      .refine((d) => new Set(d).size === d.length, 'lists a day twice'),
  })
  .refine((b) => b.endHour > b.startHour, { message: 'endHour must be after startHour', path: ['endHour'] });
/** Business hours of an environment's escalation. */
export type BusinessHours = z.infer<typeof businessHoursSchema>;

/** How hard a channel is tried: attempts per message, each bounded, with jittered exponential backoff. */
export const deliverySchema = z
  .strictObject({
    attempts: z.number().int().min(1).max(6).default(3),
    timeoutMs: z.number().int().min(100).max(10_000).default(5000),
    initialDelayMs: z.number().int().min(1).max(10_000).default(500),
    maxDelayMs: z.number().int().min(1).max(10_000).default(4000),
  })
  .refine(
    (d) => d.attempts * d.timeoutMs + (d.attempts - 1) * d.maxDelayMs <= ESCALATION_DELIVERY_BUDGET_MS,
    {
      message: `attempts × timeoutMs + (attempts − 1) × maxDelayMs must fit in ${ESCALATION_DELIVERY_BUDGET_MS} ms, inside the step's 30 s Lambda timeout`,
    },
  );

/** Where escalations are delivered. Each channel is optional; secrets hold keys and URLs. */
export const escalationChannelsSchema = z.strictObject({
  pagerduty: z
    .strictObject({
      /** Secret holding the Events API v2 integration (routing) key as its plain string. */
      routingKeySecret: secretRef,
      /** The Events API v2 enqueue URL (tests and the local runner point it at a loopback receiver). */
      eventsUrl: z.url({ protocol: /^https?$/ }).default('https://events.pagerduty.com/v2/enqueue'),
      /**
       * Secret holding the signing secret of the PagerDuty v3 webhook subscription that delivers
       * incident.acknowledged / incident.resolved to the guardian (acknowledging in PagerDuty stops
       * the chain). The stack creates the webhook's Function URL only when this is set.
       */
      webhookSecret: secretRef.optional(),
    })
    .optional(),
  slack: z
    .strictObject({
      /** Secret holding the incoming-webhook URL as its plain string. */
      webhookSecret: secretRef,
    })
    .optional(),
  sns: z
    .strictObject({
      /** `stack`: the environment's own `guardian-<env>-alarms` topic; or a topic ARN. */
      topic: z.union([
        z.literal('stack'),
        z
          .string()
          .regex(
            /^arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-\d:\d{12}:[A-Za-z0-9_-]{1,256}$/,
            "must be 'stack' or the ARN of a standard SNS topic",
          ),
      ]),
      /** The KMS key of a topic ARN encrypted with a customer managed key (the stack's own is known). */
      kmsKeyArn: z
        .string()
        .regex(
          /^arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-\d:\d{12}:key\/[A-Za-z0-9-]+$/,
          'must be a KMS key ARN',
        )
        .optional(),
    })
    .optional(),
});
/** An environment's escalation channels. */
export type EscalationChannels = z.infer<typeof escalationChannelsSchema>;

/** The runbook's contacts ("Emergency Contacts"). */
export const DEFAULT_CONTACTS = {
  'on-call': { name: 'Primary on-call' },
  'devops-lead': { name: 'DevOps Lead (Bolt)', slack: '@bolt' },
  cto: { name: 'CTO (Rex)', slack: '@cto' },
} as const;

/**
 * The runbook's escalation path. "10 min" and "20 min" both count from the moment the incident
 * opened: the CTO is paged 20 minutes after the incident, 10 after the lead.
 */
export const DEFAULT_POLICY = {
  P1: [
    { contact: 'on-call', afterMinutes: 0 },
    { contact: 'devops-lead', afterMinutes: 10 },
    { contact: 'cto', afterMinutes: 20 },
  ],
  P2: [
    { contact: 'on-call', afterMinutes: 0 },
    { contact: 'devops-lead', afterMinutes: 30 },
  ],
  P3: [
    { contact: 'on-call', afterMinutes: 0 },
    { contact: 'devops-lead', at: 'next-business-day' },
  ],
} as const;

/** BuyWhere works from Singapore (ap-southeast-1): 09:00–18:00, Monday to Friday, no DST there. */
export const DEFAULT_BUSINESS_HOURS = {
  timeZone: 'Asia/Singapore',
  startHour: 9,
  endHour: 18,
  days: ['mon', 'tue', 'wed', 'thu', 'fri'],
} as const;

/** An environment's escalation: who is paged when, through which channels. */
export const escalationSchema = z
  .strictObject({
    policy: z
      .strictObject({
        P1: z.array(escalationLevelSchema).min(1),
        P2: z.array(escalationLevelSchema).min(1),
        P3: z.array(escalationLevelSchema).min(1),
      })
      .default(structuredClone(DEFAULT_POLICY) as never),
    contacts: z.record(z.string().min(1), contactSchema).default(structuredClone(DEFAULT_CONTACTS) as never),
    businessHours: businessHoursSchema.default(structuredClone(DEFAULT_BUSINESS_HOURS) as never),
    /** After the last level, the chain waits this long for ack/resolve, then ends (the incident stays open). */
    maxOpenHours: z.number().int().min(1).max(720).default(168),
    channels: escalationChannelsSchema.default({}),
    delivery: deliverySchema.default({ attempts: 3, timeoutMs: 5000, initialDelayMs: 500, maxDelayMs: 4000 }),
  })
  .superRefine((e, ctx) => {
    for (const priority of PRIORITIES) {
      let previous = -1;
      const first = e.policy[priority][0];
      if (first && !('afterMinutes' in first && first.afterMinutes === 0)) {
        ctx.addIssue({
          code: 'custom',
          path: ['policy', priority, 0],
          message: 'the first level is paged when the incident opens: give it afterMinutes: 0',
        });
      }
      e.policy[priority].forEach((level, i) => {
        if (!e.contacts[level.contact]) {
          ctx.addIssue({
            code: 'custom',
            path: ['policy', priority, i, 'contact'],
            message: `unknown contact '${level.contact}'; contacts: ${Object.keys(e.contacts).join(', ')}`,
          });
        }
        if ('afterMinutes' in level) {
          if (level.afterMinutes < previous) {
            ctx.addIssue({
              code: 'custom',
              path: ['policy', priority, i, 'afterMinutes'],
              message: `levels must be in order: ${level.afterMinutes} comes after ${previous}`,
            });
          }
          previous = level.afterMinutes;
        } else if (i !== e.policy[priority].length - 1) {
          ctx.addIssue({
            code: 'custom',
            path: ['policy', priority, i, 'at'],
            message: 'next-business-day can only be the last level',
          });
        }
      });
      const last = e.policy[priority].at(-1);
      if (last && 'afterMinutes' in last && last.afterMinutes >= e.maxOpenHours * 60) {
        ctx.addIssue({
          code: 'custom',
          path: ['maxOpenHours'],
          message: `must be longer than the last ${priority} level (${last.afterMinutes} min)`,
        });
      }
    }
  });
/** An environment's escalation config. */
export type EscalationConfig = z.infer<typeof escalationSchema>;

// --- end escalation ---

/** One environment in `environments.yaml`. */
export const environmentSchema = z.strictObject({
  cluster: z.string().min(1),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as ap-southeast-1'),
  apiUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }),
  /** Which adapter drives the workload (run time) and which rollout states the workflow has (synth). */
  platform: z.enum(PLATFORMS).superRefine((platform, ctx) => {
    if (!isBuiltPlatform(platform)) {
      ctx.addIssue({
        code: 'custom',
        message: `platform '${platform}' is not available in this guardian yet; it drives: ${BUILT_PLATFORMS.join(', ')}`,
      });
    }
  }),
  /** Kubernetes and Argo Rollouts (the loader requires it there); ECS has no namespace. */
  namespace: dnsLabel.optional(),
  /**
   * Argo Rollouts only (the loader requires it there): where the blue-green preview is reached.
   * The Rollout names its Services (spec.strategy.blueGreen); the guardian health-checks and
   * analyses `previewUrl` (the preview Service) against `apiUrl` (the active one) before promoting.
   */
  argo: z
    .strictObject({
      previewUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }),
    })
    .optional(),
  /** The Deployment (kubernetes), the Rollout (argo-rollouts) or the ECS service (ecs) the guardian drives. */
  workload: dnsLabel,
  container: dnsLabel,
  image: z.string().regex(/^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)+$/, 'must be an image repository without tag'),
  /** Fail safe: an environment accepts any tag (`:latest` included) only when it says so. */
  requireVersionTag: z.boolean().default(true),
  rollout: z.strictObject({
    deadlineSeconds: z.number().int().min(30).max(3600),
    pollIntervalSeconds: z.number().int().min(1).max(300),
  }),
  healthCheck: z
    .strictObject({
      /** Each request's bound (connect, headers and body); a request over it fails its check as timed out. */
      timeoutMs: z.number().int().min(100).max(60_000).default(5000),
      attempts: z.number().int().min(1).max(20).default(3),
      intervalSeconds: z.number().int().min(0).max(600).default(10),
      endpoints: z.array(healthEndpointSchema).min(1),
      // Issue 9 (enhanced health check, complete): dependencies and pools as `/health` reports
      // them, and how long a pod may take to become Ready. Absent `dependencies`: not checked.
      dependencies: dependenciesSchema.optional(),
      maxStartupSeconds: maxStartupSecondsSchema,
    })
    .superRefine((h, ctx) => {
      const endpoint = h.dependencies?.endpoint;
      if (endpoint !== undefined && !h.endpoints.some((e) => e.path === endpoint)) {
        ctx.addIssue({
          code: 'custom',
          path: ['dependencies', 'endpoint'],
          message: `${endpoint} is not one of the endpoints (${h.endpoints.map((e) => e.path).join(', ')}); add it to endpoints or name one of them`,
        });
      }
    }),
  lock: z.strictObject({ ttlSeconds: z.number().int().min(300).max(86_400) }).default({ ttlSeconds: 3600 }),
  /**
   * Post-deployment monitoring (runbook: `deployment-monitor.sh monitor --check-interval 30`): one
   * round of the enhanced health check every `intervalSeconds`, for the thresholds file's
   * `monitoring_duration_seconds`.
   */
  monitoring: z
    .strictObject({
      intervalSeconds: z.number().int().min(5).max(600).default(30),
      /**
       * Live metrics (issue 9): each round also runs the thresholds file's error rate and p99 on
       * the release's last interval. Fewer requests than this in an interval are not judged.
       */
      minRequests: z.number().int().min(1).default(50),
      /** An error rate this many times the threshold (or more) rolls back at once, not after N rounds. */
      criticalErrorRateFactor: z.number().min(1).max(20).default(2),
      /** An interval the provider has no data for: a failed round (`fail`), or not judged (`ignore`). */
      noData: z.enum(['fail', 'ignore']).default('fail'),
    })
    .prefault({}),
  changeFreezes: z.array(freezeWindowSchema).default([]),
  alarmTopic: alarmTopicSchema.default({ subscriptions: [] }),
  retention: retentionSchema.default({ logRetentionDays: 365, removalPolicy: 'retain' }),
  /** The AWS account the environment runs in: alarms of other accounts are ignored. */
  account: accountId,
  /** The `service` tag of the environment's alarms. @default the workload name (set by the loader) */
  service: tagValue.optional(),
  alarms: alarmsSchema,
  /** Who is paged, when and how (issue 8); defaults are the runbook's path without channels. */
  escalation: escalationSchema.prefault({}),
  /**
   * The canary analysis between the enhanced health check and post-deployment monitoring (issue 9,
   * the runbook's `canary-analysis.sh --duration 300`): absent, the Deploy workflow has none.
   */
  canary: canarySchema.optional(),
  /**
   * Where the canary analysis and post-deployment monitoring read requests, 5xx and p99 (issue 9):
   * the Prometheus HTTP API, CloudWatch GetMetricData, or a scrape of the API's `/metrics`.
   * @default a scrape of apiUrl + /metrics (the runbook's `curl -sf …/metrics | grep error_rate`)
   */
  metrics: metricsSchema.prefault({ provider: 'scrape' }),
  /**
   * The pre-deployment backup (issue 10, the runbook's `pre-deploy-backup.sh backup`): an RDS
   * snapshot of the environment's database before the rollout, and its retention.
   * @default database none (no backup step)
   */
  backup: backupSchema,
});

/** Keys of an environment only the CDK stack reads; the functions never receive them. */
const STACK_KEYS = { alarmTopic: true, retention: true } as const;

/** What the stack alone reads about one environment: its alarm topic and retention. */
export const stackConfigSchema = environmentSchema.pick(STACK_KEYS);
/** What the stack alone reads about one environment. */
export type StackConfig = z.infer<typeof stackConfigSchema>;

/** The whole `environments.yaml`. */
export const environmentsFileSchema = z.strictObject({
  environments: z.record(dnsLabel, environmentSchema).refine((e) => Object.keys(e).length > 0, {
    message: 'at least one environment is required',
  }),
});

/**
 * What the guardian's functions know about one environment: placement plus thresholds (the
 * stack-only keys stay out of their environment variables).
 */
export const environmentConfigSchema = environmentSchema.omit(STACK_KEYS).extend({
  name: dnsLabel,
  thresholds: thresholdsSchema,
  /** Always set once loaded: the configured `service`, or the workload name. */
  service: tagValue,
});
/** Everything the guardian knows about one environment. */
export type EnvironmentConfig = z.infer<typeof environmentConfigSchema>;

/** The loaded, cross-checked configuration of all environments. */
export interface GuardianConfig {
  /** Environments by name. */
  readonly environments: Readonly<Record<string, EnvironmentConfig>>;
  /** Alarm topic and retention of each environment's stack, by environment name. */
  readonly stacks: Readonly<Record<string, StackConfig>>;
}
