/** metav1.Condition bookkeeping: transitions keep their time, unchanged conditions stay byte-equal. */
import type { Condition } from '../api/common.ts';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/**
 * Builds the new condition list: each input becomes a condition for `generation`, keeping the
 * previous lastTransitionTime when the status did not change. Conditions not in `inputs` are kept.
 */
export function mergeConditions(
  previous: readonly Condition[] | undefined,
  inputs: readonly ConditionInput[],
  generation: number,
  now: Date,
): Condition[] {
  const byType = new Map((previous ?? []).map((c) => [c.type, c]));
  const next: Condition[] = [];
  for (const input of inputs) {
    const old = byType.get(input.type);
    byType.delete(input.type);
    next.push({
      type: input.type,
      status: input.status,
      observedGeneration: generation,
      lastTransitionTime:
        old && old.status === input.status
          ? old.lastTransitionTime
          : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      reason: input.reason,
      message: truncate(input.message, 32_000),
    });
  }
  return [...next, ...byType.values()];
}

export const findCondition = (
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined => conditions?.find((c) => c.type === type);

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 3)}...`;
}
