/**
 * The one place WorkerPool status is computed: observations in, status out (pure). Ready means
 * the pool runs the pods it should for this generation (0 counts, for a pool scaled to zero) and,
 * when autoscaled, its HPA can scale; progress is Unknown, False is for a person to look at.
 */

import { CONDITION_TYPES as C } from '../api/wellknown.ts';
import type { WorkerPoolStatus } from '../api/workerpool.ts';
import { type ConditionInput, mergeConditions } from '../controller/conditions.ts';
import type { KubeObject } from '../kube/client.ts';
import type { PartHealth } from '../memorycluster/status.ts';
import type { LagReading } from './lag.ts';

export interface PoolObservation {
  generation: number;
  /** Why the pool cannot be reconciled at all (no cluster, an invalid spec), if so. */
  blocked?: PartHealth;
  /** Why applying its children failed, if it did. */
  applyError?: string;
  deployment: KubeObject | undefined;
  autoscaled: boolean;
  hpa: KubeObject | undefined;
  hpaName?: string;
  maxReplicas?: number;
  selector: string;
  consumerGroup?: string;
  topics?: string[];
  lag: LagReading | undefined;
  lagError?: string;
}

interface DeploymentState {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
}

/** The Deployment's rollout as the pool's workload health. */
export function deploymentHealth(deployment: KubeObject | undefined): PartHealth {
  if (!deployment)
    return { status: 'Unknown', reason: 'Creating', message: 'the Deployment is being created' };
  const want = (deployment.spec as { replicas?: number }).replicas ?? 1;
  const st = (deployment.status ?? {}) as DeploymentState;
  const failed =
    st.conditions?.find((c) => c.type === 'ReplicaFailure' && c.status === 'True') ??
    st.conditions?.find(
      (c) => c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded',
    );
  if (failed)
    return {
      status: 'False',
      reason: failed.reason ?? failed.type,
      message: `the Deployment cannot create or roll out its pods: ${failed.message ?? failed.type}`,
    };
  if ((st.observedGeneration ?? 0) < (deployment.metadata.generation ?? 0))
    return {
      status: 'Unknown',
      reason: 'RollingOut',
      message: 'the Deployment controller has not seen the new spec yet',
    };
  const updated = st.updatedReplicas ?? 0;
  const ready = st.readyReplicas ?? 0;
  if (updated < want)
    return {
      status: 'Unknown',
      reason: 'RollingOut',
      message: `${updated}/${want} pods updated to the current spec`,
    };
  if (ready < want)
    return { status: 'Unknown', reason: 'PodsNotReady', message: `${ready}/${want} pods ready` };
  if ((st.replicas ?? 0) > want)
    return {
      status: 'Unknown',
      reason: 'RollingOut',
      message: `${(st.replicas ?? 0) - want} old pods terminating`,
    };
  if (want === 0)
    return { status: 'True', reason: 'ScaledToZero', message: 'no pods: the pool is scaled to zero' };
  return { status: 'True', reason: 'Ready', message: `${ready}/${want} pods ready` };
}

/** The HPA as the pool's autoscaling health (what the HPA controller itself reports). */
export function autoscalingHealth(o: PoolObservation): PartHealth {
  if (!o.autoscaled)
    return { status: 'True', reason: 'NotAutoscaled', message: 'spec.replicas pods: no autoscaling' };
  if (o.lagError) return { status: 'False', reason: 'LagUnavailable', message: o.lagError };
  if (!o.hpa)
    return { status: 'Unknown', reason: 'Creating', message: 'the HorizontalPodAutoscaler is being created' };
  const conditions = (
    (o.hpa.status as { conditions?: DeploymentState['conditions'] } | undefined)?.conditions ?? []
  ).filter((c) => c.type === 'AbleToScale' || c.type === 'ScalingActive');
  const atZero = ((o.deployment?.spec as { replicas?: number } | undefined)?.replicas ?? 1) === 0;
  if (atZero)
    return {
      status: 'True',
      reason: 'ScaledToZero',
      message:
        'the pool is at zero; the operator scales it to 1 when the lag reaches the activation lag, then the HPA takes over',
    };
  const failing = conditions.find((c) => c.status === 'False');
  if (failing) {
    const hint =
      failing.reason === 'FailedGetExternalMetric'
        ? ': the External Metrics API (external.metrics.k8s.io) must serve the pool lag, from the operator or a Prometheus adapter on its gauge'
        : '';
    return {
      status: 'False',
      reason: failing.reason ?? 'HPAFailing',
      message: `HorizontalPodAutoscaler ${failing.type}: ${failing.message ?? failing.reason}${hint}`,
    };
  }
  if (conditions.length < 2)
    return {
      status: 'Unknown',
      reason: 'Pending',
      message: 'the HPA controller has not evaluated the pool yet',
    };
  return {
    status: 'True',
    reason: 'Scaling',
    message: `the HPA scales the pool on its lag up to ${o.maxReplicas ?? '?'} pods`,
  };
}

export function computeWorkerPoolStatus(
  previous: WorkerPoolStatus | undefined,
  o: PoolObservation,
  now: Date,
): WorkerPoolStatus {
  const workload: PartHealth = o.blocked
    ? o.blocked
    : o.applyError
      ? { status: 'False', reason: 'ApplyFailed', message: o.applyError }
      : deploymentHealth(o.deployment);
  const autoscaling: PartHealth = o.blocked
    ? { status: 'Unknown', reason: o.blocked.reason, message: o.blocked.message }
    : autoscalingHealth(o);
  const parts: Array<[string, PartHealth]> = [
    ['Pods', workload],
    [C.autoscalingReady, autoscaling],
  ];
  const failing = parts.find(([, p]) => p.status === 'False');
  const pending = parts.find(([, p]) => p.status === 'Unknown');
  const ready: ConditionInput = failing
    ? { type: C.ready, status: 'False', reason: failing[1].reason, message: failing[1].message }
    : pending
      ? { type: C.ready, status: 'Unknown', reason: pending[1].reason, message: pending[1].message }
      : { type: C.ready, status: 'True', reason: workload.reason, message: workload.message };
  const stalled = o.blocked?.stalled === true;
  const inputs: ConditionInput[] = [
    ready,
    { type: C.autoscalingReady, ...autoscaling },
    {
      type: C.reconciling,
      status: ready.status !== 'True' && !stalled ? 'True' : 'False',
      reason: ready.status === 'True' ? 'Reconciled' : stalled ? 'Stalled' : ready.reason,
      message: ready.status === 'True' ? 'generation fully reconciled' : ready.message,
    },
    {
      type: C.stalled,
      status: stalled ? 'True' : 'False',
      reason: stalled ? (o.blocked?.reason ?? 'Stalled') : 'NotStalled',
      message: stalled ? (o.blocked?.message ?? '') : '',
    },
  ];
  const st = (o.deployment?.status ?? {}) as DeploymentState;
  return {
    observedGeneration: o.generation,
    conditions: mergeConditions(previous?.conditions, inputs, o.generation, now),
    replicas: st.replicas ?? 0,
    readyReplicas: st.readyReplicas ?? 0,
    selector: o.selector,
    ...(o.consumerGroup ? { consumerGroup: o.consumerGroup } : {}),
    ...(o.topics ? { topics: o.topics } : {}),
    // The last reading stays until a new one: a failed poll does not erase the lag.
    ...(o.lag
      ? {
          lag: o.lag.total,
          partitions: o.lag.partitions,
          stuckPartitions: o.lag.stuckPartitions,
          // When this reading was first seen: an unchanged lag keeps its time, so an idle pool costs no write.
          lagObservedAt:
            previous?.lagObservedAt &&
            previous.lag === o.lag.total &&
            previous.partitions === o.lag.partitions &&
            previous.stuckPartitions === o.lag.stuckPartitions
              ? previous.lagObservedAt
              : o.lag.observedAt.toISOString(),
        }
      : pickLag(previous)),
    ...(o.hpaName ? { horizontalPodAutoscalerName: o.hpaName } : {}),
    ...(o.maxReplicas !== undefined ? { maxReplicas: o.maxReplicas } : {}),
  };
}

function pickLag(previous: WorkerPoolStatus | undefined): Partial<WorkerPoolStatus> {
  if (previous?.lag === undefined) return {};
  return {
    lag: previous.lag,
    ...(previous.partitions !== undefined ? { partitions: previous.partitions } : {}),
    ...(previous.stuckPartitions !== undefined ? { stuckPartitions: previous.stuckPartitions } : {}),
    ...(previous.lagObservedAt ? { lagObservedAt: previous.lagObservedAt } : {}),
  };
}
