/**
 * The objects of a seeded blue-green Rollout: its Services and the Rollout itself, as wire JSON.
 * The simulator creates exactly these (SimCluster.seedRollout), and so can a real cluster's test
 * target, so both start the Rollout contract scenarios from the same spec.
 */
import type { KObject } from './cluster.ts';

/** A Rollout to create with its Services (the shape of test/shared/rollout-target.ts RolloutSeedSpec). */
export interface SeedRollout {
  readonly namespace: string;
  /** The Rollout's name; its pods are labelled `app: <name>`. */
  readonly name: string;
  readonly container: string;
  readonly image: string;
  readonly replicas: number;
  /** The active Service (created with selector `app: <name>`). */
  readonly activeService: string;
  /** The preview Service; `null` leaves it out of both the strategy and the cluster. */
  readonly previewService: string | null;
  /** @default false */
  readonly autoPromotionEnabled?: boolean;
  /** @default the API's (30) */
  readonly scaleDownDelaySeconds?: number;
  /** @default the API's (600) */
  readonly progressDeadlineSeconds?: number;
  /** @default 'blueGreen' */
  readonly strategy?: 'blueGreen' | 'canary';
}

/** Port the seeded containers listen on, and the Services' target port. */
export const SEED_CONTAINER_PORT = 8000;

/** The Services (active, then preview) and the Rollout that seeding `spec` creates. */
export function rolloutSeedObjects(spec: SeedRollout): { services: KObject[]; rollout: KObject } {
  const labels = { app: spec.name };
  const service = (name: string): KObject => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, labels: { ...labels } },
    spec: {
      selector: { ...labels },
      ports: [{ name: 'http', port: 80, targetPort: SEED_CONTAINER_PORT }],
    },
  });
  const services = [
    service(spec.activeService),
    ...(spec.previewService ? [service(spec.previewService)] : []),
  ];
  const strategy =
    spec.strategy === 'canary'
      ? { canary: {} }
      : {
          blueGreen: {
            activeService: spec.activeService,
            ...(spec.previewService ? { previewService: spec.previewService } : {}),
            autoPromotionEnabled: spec.autoPromotionEnabled ?? false,
            ...(spec.scaleDownDelaySeconds === undefined
              ? {}
              : { scaleDownDelaySeconds: spec.scaleDownDelaySeconds }),
          },
        };
  const rollout: KObject = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: spec.name, labels: { ...labels } },
    spec: {
      replicas: spec.replicas,
      selector: { matchLabels: { ...labels } },
      ...(spec.progressDeadlineSeconds === undefined
        ? {}
        : { progressDeadlineSeconds: spec.progressDeadlineSeconds }),
      template: {
        metadata: { labels: { ...labels } },
        spec: {
          containers: [
            { name: spec.container, image: spec.image, ports: [{ containerPort: SEED_CONTAINER_PORT }] },
          ],
        },
      },
      strategy,
    },
  };
  return { services, rollout };
}
