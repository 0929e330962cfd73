/**
 * The guardian's configuration schema: `config/environments.yaml` and
 * `config/deployment-thresholds.yaml`. Pure (zod only), so the Lambda bundles reuse it to
 * validate the per-environment config handed to them at deploy time.
 */
import * as z from 'zod';
import { BUILT_PLATFORMS, isBuiltPlatform, PLATFORMS } from '../../lambdas/core/workload.ts';

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
  namespace: dnsLabel,
  workload: dnsLabel,
  container: dnsLabel,
  image: z.string().regex(/^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)+$/, 'must be an image repository without tag'),
  /** Fail safe: an environment accepts any tag (`:latest` included) only when it says so. */
  requireVersionTag: z.boolean().default(true),
  rollout: z.strictObject({
    deadlineSeconds: z.number().int().min(30).max(3600),
    pollIntervalSeconds: z.number().int().min(1).max(300),
  }),
  healthCheck: z.strictObject({
    timeoutMs: z.number().int().min(100).max(60_000).default(5000),
    attempts: z.number().int().min(1).max(20).default(3),
    intervalSeconds: z.number().int().min(0).max(600).default(10),
    endpoints: z.array(healthEndpointSchema).min(1),
  }),
  lock: z.strictObject({ ttlSeconds: z.number().int().min(300).max(86_400) }).default({ ttlSeconds: 3600 }),
  changeFreezes: z.array(freezeWindowSchema).default([]),
});

/** The whole `environments.yaml`. */
export const environmentsFileSchema = z.strictObject({
  environments: z.record(dnsLabel, environmentSchema).refine((e) => Object.keys(e).length > 0, {
    message: 'at least one environment is required',
  }),
});

/** Everything the guardian knows about one environment: placement plus thresholds. */
export const environmentConfigSchema = environmentSchema.extend({
  name: dnsLabel,
  thresholds: thresholdsSchema,
});
/** Everything the guardian knows about one environment. */
export type EnvironmentConfig = z.infer<typeof environmentConfigSchema>;

/** The loaded, cross-checked configuration of all environments. */
export interface GuardianConfig {
  /** Environments by name. */
  readonly environments: Readonly<Record<string, EnvironmentConfig>>;
}
