/**
 * A WorkerPool's autoscaling/v2 HPA (pure): it scales the pool's Deployment on the External
 * metric WORKER_POOL_LAG_METRIC of this pool (served by the operator itself, or by a Prometheus
 * adapter on the operator's gauge), AverageValue = target lag per replica, with the pool's
 * behaviour. The HPA cannot go below 1: a pool with minReplicas 0 gets an HPA at min 1 that
 * stays in place while the operator holds the Deployment at 0 (the HPA controller leaves a
 * target at 0 replicas alone), so handing over on the way back up is only "scale to 1".
 */
import { DEFAULT_WORKER_POOL } from '../../api/defaults.ts';
import { WORKER_POOL_LABEL, WORKER_POOL_LAG_METRIC } from '../../api/external-metrics.ts';
import type { WorkerPool } from '../../api/workerpool.ts';
import type { KubeObject } from '../../kube/client.ts';
import { poolChildMeta, poolChildName } from './meta.ts';

type Autoscaling = NonNullable<WorkerPool['spec']['autoscaling']>;
type Rules = NonNullable<NonNullable<Autoscaling['behavior']>['scaleUp']>;

/**
 * maxReplicas the HPA gets: at most the partitions of the consumed topic (a pod beyond them gets
 * no partition) unless the pool opts out; never below the HPA's minimum of 1 or minReplicas.
 */
export function effectiveMaxReplicas(autoscaling: Autoscaling, partitions: number | undefined): number {
  const floor = Math.max(1, autoscaling.minReplicas);
  if (autoscaling.allowReplicasAbovePartitions || !partitions) return autoscaling.maxReplicas;
  return Math.max(floor, Math.min(autoscaling.maxReplicas, partitions));
}

function scalingRules(rules: Rules | undefined, defaultWindow: number) {
  const periodSeconds = rules?.periodSeconds ?? 60;
  const policies = [
    ...(rules?.maxReplicasPerPeriod
      ? [{ type: 'Pods', value: rules.maxReplicasPerPeriod, periodSeconds }]
      : []),
    ...(rules?.maxPercentPerPeriod
      ? [{ type: 'Percent', value: rules.maxPercentPerPeriod, periodSeconds }]
      : []),
  ];
  return {
    stabilizationWindowSeconds: rules?.stabilizationWindowSeconds ?? defaultWindow,
    // Without limits of its own the HPA's defaults apply (server-side).
    ...(policies.length ? { policies, selectPolicy: 'Max' } : {}),
  };
}

export function buildWorkerHpa(pool: WorkerPool, partitions: number | undefined): KubeObject | undefined {
  const autoscaling = pool.spec.autoscaling;
  if (!autoscaling) return undefined;
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: poolChildMeta(pool),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: poolChildName(pool) },
      minReplicas: Math.max(1, autoscaling.minReplicas),
      maxReplicas: effectiveMaxReplicas(autoscaling, partitions),
      metrics: [
        {
          type: 'External',
          external: {
            metric: {
              name: WORKER_POOL_LAG_METRIC,
              selector: { matchLabels: { [WORKER_POOL_LABEL]: pool.metadata.name } },
            },
            target: { type: 'AverageValue', averageValue: String(autoscaling.targetLagPerReplica) },
          },
        },
      ],
      behavior: {
        scaleUp: scalingRules(autoscaling.behavior?.scaleUp, DEFAULT_WORKER_POOL.scaleUpStabilizationSeconds),
        scaleDown: scalingRules(
          autoscaling.behavior?.scaleDown,
          DEFAULT_WORKER_POOL.scaleDownStabilizationSeconds,
        ),
      },
    },
  };
}
