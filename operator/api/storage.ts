/**
 * Persistent storage of a managed store. Volumes can grow but never shrink and keep their class.
 * Both rules compare effective values (the store's default size when unset, the cluster default
 * class when unset) and sit on the managed store object, so removing `storage` or `storage.size`
 * counts as a return to the default and is caught like any other change.
 */
import { z } from 'zod';
import { type CelRule, celFormat, objectName } from './common.ts';
import { celIsSize, sizeQuantity } from './quantities.ts';

export const storageSchema = z
  .object({
    size: sizeQuantity('storage.size')
      .optional()
      .describe(
        "Size of each replica volume, e.g. 10Gi. Growing it expands the volumes when the StorageClass allows expansion; shrinking is refused, and so is removing it when the store's default is smaller.",
      ),
    storageClassName: objectName('storageClassName')
      .optional()
      .describe(
        'StorageClass of the volumes. Default: the cluster default StorageClass. Immutable, set or unset.',
      ),
  })
  .describe('Persistent volume for each replica (one PersistentVolumeClaim per pod).');

/** The transition rules for `storage` on a managed store object whose default size is `defaultSize`. */
export function storageRules(defaultSize: string): CelRule[] {
  const size = (o: string) =>
    `(has(${o}.storage) && has(${o}.storage.size) ? ${o}.storage.size : '${defaultSize}')`;
  const shown = (o: string) =>
    `(has(${o}.storage) && has(${o}.storage.size) ? ${o}.storage.size : '${defaultSize} (the default)')`;
  const cls = (o: string) =>
    `(has(${o}.storage) && has(${o}.storage.storageClassName) ? ${o}.storage.storageClassName : '')`;
  const clsShown = (o: string) =>
    `(has(${o}.storage) && has(${o}.storage.storageClassName) ? ${o}.storage.storageClassName : 'unset (the cluster default)')`;
  return [
    {
      rule: `!${celIsSize(size('self'))} || !${celIsSize(size('oldSelf'))} || quantity(${size('self')}).compareTo(quantity(${size('oldSelf')})) >= 0`,
      message: `storage size cannot shrink: keep the old size or larger`,
      messageExpression: celFormat(
        `storage size cannot shrink (was %s, now %s): volumes cannot be made smaller; keep %s or more`,
        shown('oldSelf'),
        shown('self'),
        size('oldSelf'),
      ),
      fieldPath: '.storage',
    },
    {
      rule: `${cls('self')} == ${cls('oldSelf')}`,
      message: `storageClassName is immutable: existing volumes keep their class`,
      messageExpression: celFormat(
        `storageClassName is immutable (was %s, now %s): existing volumes keep their class; restore it`,
        clsShown('oldSelf'),
        clsShown('self'),
      ),
      fieldPath: '.storage',
    },
  ];
}
