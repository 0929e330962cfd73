/**
 * The shared Argo Rollouts scenarios (test/shared/rollout-scenarios.ts) against the real Argo
 * Rollouts controller, built by tools/kube/cluster.sh from github.com/argoproj/argo-rollouts at
 * the pinned version and run against the kwok control plane. The same scenarios run against the
 * cluster simulator's Rollout kind in `npm test`, which pins the simulator to what the real
 * controller does.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { defineRolloutScenarios } from '../shared/rollout-scenarios.ts';
import { startRealRolloutTarget } from './real-rollouts.ts';

const versions = Object.fromEntries(
  readFileSync(path.join(import.meta.dirname, '../../tools/kube/versions.env'), 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => line.split('=', 2) as [string, string]),
);

defineRolloutScenarios(
  `the real Argo Rollouts controller (${versions.ARGO_ROLLOUTS_VERSION} on kube-apiserver ${versions.KUBE_VERSION} + kwok)`,
  startRealRolloutTarget,
);
