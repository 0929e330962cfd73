/**
 * Synthetic request traffic for the demo API (issue 9): cumulative Prometheus counters per release
 * that a judge can be tested on. Each stretch of time serves `n` requests; their 5xx and 404 are
 * binomial draws around the profile's rates and their latencies fall into the histogram's buckets
 * as a multinomial draw from a lognormal whose 99th percentile is the profile's p99. A seeded PRNG
 * (mulberry32) makes a run repeatable; large stretches (a simulated clock that jumps hours) use
 * the Poisson or normal approximation instead of one draw per request.
 */
import type { TrafficProfile } from './image-behaviour.ts';

/**
 * Upper bounds (s) of `http_request_duration_seconds`: fine from 0.1 to 2.5 s, where the p99 of a
 * healthy (300 ms) and a slowed release (500 ms) lie, so histogram_quantile interpolates over
 * narrow buckets.
 */
export const LATENCY_BUCKETS = [
  0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.75, 1, 1.5, 2, 2.5, 5, 10,
] as const;

/** z of the 99th percentile of the standard normal distribution. */
const Z99 = 2.326347874;

/** A PRNG in [0, 1): mulberry32, small and good enough for simulated traffic. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box–Muller). */
function normal(rng: () => number): number {
  const u = 1 - rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/** A Binomial(n, p) draw: exact for small n, Poisson or normal approximation for large n. */
export function binomial(n: number, p: number, rng: () => number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  if (n <= 200) {
    let k = 0;
    for (let i = 0; i < n; i++) if (rng() < p) k++;
    return k;
  }
  const mean = n * p;
  if (mean < 30) {
    // Knuth's Poisson: rare events in many trials (5xx of a healthy release).
    const limit = Math.exp(-mean);
    let k = 0;
    let prod = rng();
    while (prod > limit) {
      k++;
      prod *= rng();
    }
    return Math.min(k, n);
  }
  const draw = Math.round(mean + Math.sqrt(mean * (1 - p)) * normal(rng));
  return Math.max(0, Math.min(n, draw));
}

/** The standard normal CDF (Abramowitz–Stegun 7.1.26, |error| < 1.5e-7). */
function phi(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** P(latency ≤ x seconds) under the profile's lognormal. */
export function latencyCdf(profile: TrafficProfile, seconds: number): number {
  if (seconds <= 0) return 0;
  const mu = Math.log(profile.p99Seconds) - Z99 * profile.sigma;
  return phi((Math.log(seconds) - mu) / profile.sigma);
}

/** The mean latency (s) under the profile's lognormal: exp(μ + σ²/2). */
export function meanLatencySeconds(profile: TrafficProfile): number {
  const mu = Math.log(profile.p99Seconds) - Z99 * profile.sigma;
  return Math.exp(mu + (profile.sigma * profile.sigma) / 2);
}

/** The counters of one release (version label). */
interface ReleaseCounters {
  readonly byStatus: Map<string, number>;
  /** Requests per bucket of LATENCY_BUCKETS plus the last (+Inf), not cumulative. */
  readonly perBucket: number[];
  sum: number;
  count: number;
}

/** Cumulative request counters per release, grown by {@link TrafficCounters.serve}. */
export class TrafficCounters {
  readonly #rng: () => number;
  readonly #releases = new Map<string, ReleaseCounters>();
  #carry = 0;

  constructor(seed: number) {
    this.#rng = mulberry32(seed);
  }

  /** Serves `requests` (fractional: the remainder carries over) of `version` with `profile`. */
  serve(version: string, profile: TrafficProfile, requests: number): void {
    const exact = requests + this.#carry;
    const n = Math.floor(exact);
    this.#carry = exact - n;
    const r = this.#release(version);
    if (n === 0) return;
    const rng = this.#rng;
    const errors = binomial(n, profile.errorRate, rng);
    const notFound = binomial(n - errors, profile.notFoundRate / (1 - profile.errorRate), rng);
    // Most 5xx are the app's own 500s; some are 503s of an overloaded dependency.
    const e500 = binomial(errors, 0.8, rng);
    const add = (status: string, k: number) => r.byStatus.set(status, (r.byStatus.get(status) ?? 0) + k);
    add('200', n - errors - notFound);
    add('404', notFound);
    add('500', e500);
    add('503', errors - e500);
    // Multinomial over the buckets as successive binomials of what is left.
    let left = n;
    let below = 0;
    LATENCY_BUCKETS.forEach((le, i) => {
      const upTo = latencyCdf(profile, le);
      const k = below >= 1 ? 0 : binomial(left, (upTo - below) / (1 - below), rng);
      r.perBucket[i] = (r.perBucket[i] ?? 0) + k;
      r.sum += (k * (le + (LATENCY_BUCKETS[i - 1] ?? 0))) / 2;
      left -= k;
      below = upTo;
    });
    const last = LATENCY_BUCKETS.length;
    r.perBucket[last] = (r.perBucket[last] ?? 0) + left;
    r.sum += left * (LATENCY_BUCKETS.at(-1) ?? 10) * 1.5;
    r.count += n;
  }

  #release(version: string): ReleaseCounters {
    let r = this.#releases.get(version);
    if (!r) {
      r = {
        // Every status series exists from the start (at 0), as client libraries initialise them.
        byStatus: new Map(['200', '404', '500', '503'].map((s) => [s, 0])),
        perBucket: new Array(LATENCY_BUCKETS.length + 1).fill(0),
        sum: 0,
        count: 0,
      };
      this.#releases.set(version, r);
    }
    return r;
  }

  /** The counters in the Prometheus text format (0.0.4), one series per status and version. */
  exposition(): string[] {
    const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
    const releases = [...this.#releases];
    const lines = [
      '# HELP http_requests_total Requests served, by HTTP status and release.',
      '# TYPE http_requests_total counter',
    ];
    for (const [version, r] of releases) {
      for (const [status, n] of r.byStatus) {
        lines.push(`http_requests_total{method="GET",status="${status}",version="${esc(version)}"} ${n}`);
      }
    }
    lines.push(
      '# HELP http_request_duration_seconds Request latency, by release.',
      '# TYPE http_request_duration_seconds histogram',
    );
    for (const [version, r] of releases) {
      const v = esc(version);
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((le, i) => {
        cumulative += r.perBucket[i] ?? 0;
        lines.push(`http_request_duration_seconds_bucket{le="${le}",version="${v}"} ${cumulative}`);
      });
      lines.push(
        `http_request_duration_seconds_bucket{le="+Inf",version="${v}"} ${r.count}`,
        `http_request_duration_seconds_sum{version="${v}"} ${r.sum.toFixed(3)}`,
        `http_request_duration_seconds_count{version="${v}"} ${r.count}`,
      );
    }
    return lines;
  }
}
