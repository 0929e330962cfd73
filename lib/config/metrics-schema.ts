/**
 * The `metrics` block of an environment (issue 9): where the canary analysis and post-deployment
 * monitoring read requests, 5xx and p99 latency. One provider per environment, discriminated on
 * `provider`: the Prometheus HTTP API (BuyWhere's Grafana dashboards read it), CloudWatch
 * GetMetricData, or a direct scrape of the API's `/metrics`. Pure zod, mounted by schema.ts.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: PromQL templates name their ${variables} in plain strings on purpose.
import * as z from 'zod';

/** The metric providers. */
export const METRICS_PROVIDERS = ['prometheus', 'cloudwatch', 'scrape'] as const;

/** Variables a PromQL template may name as `${name}`. */
export const QUERY_VARIABLES = ['version', 'image', 'window'] as const;
/** A variable of a PromQL template. */
export type QueryVariable = (typeof QUERY_VARIABLES)[number];

/**
 * BuyWhere's conventions (the demo API serves the same): `http_requests_total{status,version}`
 * and the `http_request_duration_seconds` histogram with a `version` label. `${window}` is the
 * analysis interval as a PromQL duration (`30s`), so each query answers for one interval.
 */
export const DEFAULT_PROMETHEUS_QUERIES = {
  requests: 'sum(increase(http_requests_total{version="${version}"}[${window}]))',
  errors: 'sum(increase(http_requests_total{version="${version}",status=~"5.."}[${window}]))',
  p99Ms:
    'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{version="${version}"}[${window}]))) * 1000',
} as const;

/** The same measures for the whole service, whatever release serves it (a read without a release). */
export const DEFAULT_PROMETHEUS_SERVICE_QUERIES = {
  requests: 'sum(increase(http_requests_total[${window}]))',
  errors: 'sum(increase(http_requests_total{status=~"5.."}[${window}]))',
  p99Ms:
    'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[${window}]))) * 1000',
} as const;

/** The `${name}` variables a template names, in order of appearance. */
export function templateVariables(template: string): string[] {
  return [...template.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1] ?? '');
}

/** A PromQL template: non-empty, naming only the variables in `allowed`. */
function promqlTemplate(allowed: readonly QueryVariable[]) {
  return z
    .string()
    .trim()
    .min(1, 'must be a PromQL expression')
    .superRefine((template, ctx) => {
      for (const name of templateVariables(template)) {
        if (!(allowed as readonly string[]).includes(name)) {
          ctx.addIssue({
            code: 'custom',
            message: `names \${${name}}, which is not a variable here; variables: ${allowed.map((v) => `\${${v}}`).join(', ')}`,
          });
        }
      }
    });
}

/** A Secrets Manager secret: its name or full ARN (the same rule as the escalation channels'). */
const secretRef = z
  .string()
  .regex(
    /^(arn:aws[a-z-]*:secretsmanager:[a-z]{2}(-[a-z]+)+-\d:\d{12}:secret:[A-Za-z0-9/_+=.@-]+|[A-Za-z0-9/_+=.@-]{1,512})$/,
    'must be the name or ARN of a Secrets Manager secret (the secret holds the token; config never does)',
  );

/** How long one provider request may take: inside a step's Lambda timeout with room to judge. */
const timeoutMs = z.number().int().min(100).max(30_000).default(10_000);

/** The Prometheus HTTP API (`/api/v1/query_range`, `/api/v1/query`). */
export const prometheusMetricsSchema = z.strictObject({
  provider: z.literal('prometheus'),
  /** Base URL of Prometheus (or of a compatible API: Thanos, Mimir, Amazon Managed Prometheus behind a proxy). */
  url: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL, e.g. http://prometheus:9090' }),
  /** Per-release queries: `${version}` and `${image}` select the release, `${window}` is the interval. */
  queries: z
    .strictObject({
      requests: promqlTemplate(QUERY_VARIABLES).default(DEFAULT_PROMETHEUS_QUERIES.requests),
      errors: promqlTemplate(QUERY_VARIABLES).default(DEFAULT_PROMETHEUS_QUERIES.errors),
      p99Ms: promqlTemplate(QUERY_VARIABLES).default(DEFAULT_PROMETHEUS_QUERIES.p99Ms),
    })
    .prefault({}),
  /** Whole-service queries (no release to select): only `${window}`. */
  serviceQueries: z
    .strictObject({
      requests: promqlTemplate(['window']).default(DEFAULT_PROMETHEUS_SERVICE_QUERIES.requests),
      errors: promqlTemplate(['window']).default(DEFAULT_PROMETHEUS_SERVICE_QUERIES.errors),
      p99Ms: promqlTemplate(['window']).default(DEFAULT_PROMETHEUS_SERVICE_QUERIES.p99Ms),
    })
    .prefault({}),
  timeoutMs,
  /** Secret holding a bearer token for Prometheus (its name or ARN; the token never sits in config). */
  bearerTokenSecret: secretRef.optional(),
});
/** The Prometheus provider's config. */
export type PrometheusMetricsConfig = z.infer<typeof prometheusMetricsSchema>;

/** One CloudWatch metric: namespace, name and the dimensions that select the environment's series. */
function cloudWatchMetric(defaults: { readonly namespace: string; readonly name: string }) {
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
 * CloudWatch GetMetricData: Sum of the request and 5xx counts and the p99 extended statistic of
 * the latency, one datapoint per interval (Period = the interval). Defaults are an Application
 * Load Balancer's metrics; dimensions have no default.
 */
export const cloudWatchMetricsSchema = z.strictObject({
  provider: z.literal('cloudwatch'),
  requests: cloudWatchMetric({ namespace: 'AWS/ApplicationELB', name: 'RequestCount' }),
  errors: cloudWatchMetric({ namespace: 'AWS/ApplicationELB', name: 'HTTPCode_Target_5XX_Count' }),
  latencyP99: cloudWatchMetric({ namespace: 'AWS/ApplicationELB', name: 'TargetResponseTime' }).extend({
    unit: z.enum(['seconds', 'milliseconds']).default('seconds'),
  }),
  /**
   * The dimension whose value is the release's version, added to every metric's dimensions when
   * a release is read. Absent: the metrics are the whole service's (an ALB knows no releases), and
   * a release is told apart from its baseline by time only.
   */
  releaseDimension: z.string().min(1).max(255).optional(),
  timeoutMs,
});
/** The CloudWatch provider's config. */
export type CloudWatchMetricsConfig = z.infer<typeof cloudWatchMetricsSchema>;

/** A Prometheus metric or label name. */
const metricName = z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'must be a Prometheus metric name');
const labelName = z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'must be a Prometheus label name');

/** A direct scrape of the environment's `apiUrl` + `path` in the Prometheus text format. */
export const scrapeMetricsSchema = z.strictObject({
  provider: z.literal('scrape'),
  path: z.string().startsWith('/', 'must start with /').default('/metrics'),
  /** The request counter, labelled with the HTTP status. */
  requestsMetric: metricName.default('http_requests_total'),
  /** The label of `requestsMetric` holding the status code (5xx counts as an error). */
  statusLabel: labelName.default('status'),
  /** The latency histogram, in seconds (Prometheus's base unit). */
  latencyHistogram: metricName.default('http_request_duration_seconds'),
  /** The label carrying the release's version on both metrics. */
  versionLabel: labelName.default('version'),
  timeoutMs,
});
/** The scrape provider's config. */
export type ScrapeMetricsConfig = z.infer<typeof scrapeMetricsSchema>;

/** An environment's `metrics` block. */
export const metricsSchema = z.discriminatedUnion(
  'provider',
  [prometheusMetricsSchema, cloudWatchMetricsSchema, scrapeMetricsSchema],
  {
    error: (issue) =>
      issue.code === 'invalid_union' ? `provider must be one of ${METRICS_PROVIDERS.join(', ')}` : undefined,
  },
);
/** An environment's `metrics` block. */
export type MetricsConfig = z.infer<typeof metricsSchema>;
